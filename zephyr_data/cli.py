"""The command line shared by every pipeline: parse, build, report, push."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from .build import BuildResult, build, summary_table
from .config import parse_config
from .engine import Pipeline
from .errors import ZephyrDataError

log = logging.getLogger("zephyr_data")


def run(pipeline_class: type[Pipeline], argv: Sequence[str] | None, prog: str,
        description: str) -> int:
    """Run a pipeline from the command line; return the exit status (2 on a known error)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = parse_config(pipeline_class.config_class, argv, prog, description)
        result = build(pipeline_class(config), command=[prog, *(argv if argv is not None
                                                              else sys.argv[1:])])
        print(summary_table(result))
        if config.push_to_hub:
            push(result)
    except ZephyrDataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def push(result: BuildResult) -> None:
    from .hub import push_folder

    push_folder(result.output_dir, result.manifest["config"])
