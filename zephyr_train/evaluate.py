"""The Open LLM Leaderboard tasks with lm-evaluation-harness, and one results table:
``python -m zephyr_train.evaluate --model DIR_OR_ID --suite openllm-v1 [--data-dir DIR]``.

Other modes: ``--dry-run`` (the tasks, shots and metrics; checks the inputs, loads no model),
``--prepare-data DIR`` (download the task datasets into the ``--data-dir`` layout), and
``--compare results/*.json`` without ``--model`` (only the table). See the README, "Evaluation".
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from zephyr_train.configs import RecipeError, parse_dataclasses
from zephyr_train.evaluation.runner import EvaluateArguments, run


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        level=logging.INFO)
    try:
        (args,) = parse_dataclasses((EvaluateArguments,), argv)
        return run(args)
    except RecipeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
