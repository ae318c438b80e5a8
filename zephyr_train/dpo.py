"""Direct preference optimisation: ``python -m zephyr_train.dpo --config RECIPE [--key value ...]``.

Starts from an SFT checkpoint (``model_name_or_path``); the reference model is a frozen copy.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from zephyr_train.configs import ZephyrDPOConfig, parse_args
from zephyr_train.runner import run


def main(argv: Sequence[str] | None = None):
    model_args, data_args, training_args = parse_args(ZephyrDPOConfig, argv)
    return run("dpo", model_args, data_args, training_args)


if __name__ == "__main__":
    main(sys.argv[1:])
