"""The GPU check: ``python -m zephyr_train.gpu_check [--config gpu_check/dry_run] [--key value]``.

On one GPU: SFT (zephyr-7b recipe, packed at 2,048, bf16, 30 steps) and DPO (10 steps) of a
4-layer model of Mistral-7B's width with the real Mistral tokenizer, on the sample builds; then
MT-Bench answers in FastChat's format. Writes tokens/s/GPU, MFU, peak GPU memory and the
attention implementation to OUTPUT_DIR/gpu_check.json. Exit status 0 when every part passed.
``--estimate`` prints the expected time instead. The bundle comes from
``python -m zephyr_train.gpu_check.pack``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):  # everything is local: no Hub calls
        os.environ.setdefault(name, "1")
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        level=logging.INFO)
    try:
        import datasets  # noqa: F401
        import trl  # noqa: F401
    except ImportError as err:
        print(f"error: {err}. The check trains with TRL: install the wheels made by `python -m "
              "zephyr_train.gpu_check.pack`: python3 -m pip install --no-index --no-deps "
              ".whl/gpu_check/wheels/*.whl", file=sys.stderr)
        return 2
    from zephyr_train.configs import parse_dataclasses
    from zephyr_train.gpu_check.check import format_summary, run_check
    from zephyr_train.gpu_check.config import GPUCheckArguments
    from zephyr_train.gpu_check.sizing import format_estimate

    (args,) = parse_dataclasses((GPUCheckArguments,), argv)
    if args.estimate:
        print(format_estimate(args, gpu=args.estimate_gpu, mfu=args.estimate_mfu))
        return 0
    report = run_check(args)
    print(format_summary(report))
    return 0 if report["summary"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
