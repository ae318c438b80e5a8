"""Supervised fine-tuning: ``python -m zephyr_train.sft --config RECIPE [--key value ...]``.

Launch on GPUs with ``accelerate launch --config_file <zero3.yaml> -m zephyr_train.sft ...``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from zephyr_train.configs import ZephyrSFTConfig, parse_args
from zephyr_train.runner import run


def main(argv: Sequence[str] | None = None):
    model_args, data_args, training_args = parse_args(ZephyrSFTConfig, argv)
    return run("sft", model_args, data_args, training_args)


if __name__ == "__main__":
    main(sys.argv[1:])
