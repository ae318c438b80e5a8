"""The command line shared by every pipeline: parse, build, report, push."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from .build import BuildResult, build, summary_table
from .config import PipelineConfig, parse_config
from .engine import Pipeline
from .errors import ZephyrDataError

log = logging.getLogger("zephyr_data")


def run(pipeline_class: type[Pipeline], argv: Sequence[str] | None, prog: str,
        description: str) -> int:
    """Run a pipeline from the command line; return the exit status (2 on a known error)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # one line per HTTP request
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        config = parse_config(pipeline_class.config_class, argv, prog, description)
        if config.push_to_hub:  # no token or offline: say so now, not after the build
            from .hub import check_push_ready

            check_push_ready(config.push_to_hub, config.push_revision)
        result = build(pipeline_class(config), command=[prog, *(argv if argv is not None
                                                              else sys.argv[1:])])
        print(summary_table(result))
        if config.push_to_hub:
            push(result, config)
    except ZephyrDataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def push(result: BuildResult, config: PipelineConfig) -> None:
    """Push the finished folder in one commit; a failure leaves it intact and says how to
    retry the upload alone (``python -m zephyr_data.hub``)."""
    from .hub import push_folder

    pushed = push_folder(result.output_dir, config.push_to_hub or "",
                         revision=config.push_revision, private=config.private,
                         commit_message=config.commit_message, progress=config.progress)
    print(pushed.describe())
