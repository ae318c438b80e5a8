"""The command line shared by every pipeline: parse, build, report, push.

Every way a run can end prints at most one line on stderr and sets the exit status: 0 done,
1 an error of the environment (disk full, read-only file system) or an unexpected one, 2 a
known error of the input or options, or a worker that died (killed, out of memory), 130
interrupted (Ctrl-C), 143 terminated (SIGTERM). ``--debug`` adds the Python traceback. An
interrupted or failed build leaves the previous output as it was and removes its scratch
folder.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence

from ..core.config import PipelineConfig, parse_config
from ..core.errors import ZephyrDataError
from ..io.destination import describe_os_error
from ..pipelines.spec import Pipeline
from .build import BuildResult, build, summary_table

log = logging.getLogger("zephyr_data")
KEPT = "nothing was written; the previous output, if any, is unchanged"


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that every cleanup runs as for Ctrl-C."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


@contextlib.contextmanager
def _terminate_cleanly() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set in the main thread
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(pipeline_class: type[Pipeline], argv: Sequence[str] | None, prog: str,
        description: str) -> int:
    """Run a pipeline from the command line; return the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # one line per HTTP request
    logging.getLogger("httpx").setLevel(logging.WARNING)
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        with _terminate_cleanly():
            _run(pipeline_class, args, prog, description)
        return 0
    except ZephyrDataError as err:
        return _fail(f"error: {err}", 2, debug)
    except KeyboardInterrupt:
        return _fail(f"interrupted: {KEPT}.", 130, debug)
    except Terminated:
        return _fail(f"terminated (SIGTERM): {KEPT}.", 143, debug)
    except OSError as err:
        return _fail(f"error: {describe_os_error(err)}; {KEPT}.", 1, debug)
    except Exception as err:  # a bug: still one line, and how to see more
        return _fail(f"error: unexpected {type(err).__name__}: {err}; {KEPT}. Rerun with "
                     "--debug for the traceback, and please report it.", 1, debug)


def _fail(message: str, status: int, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    print(message, file=sys.stderr)
    return status


def _run(pipeline_class: type[Pipeline], args: list[str], prog: str, description: str) -> None:
    config = parse_config(pipeline_class.config_class, args, prog, description)
    if config.push_to_hub:  # no token or offline: say so now, not after the build
        from ..publish.hub import check_push_ready

        check_push_ready(config.push_to_hub, config.push_revision)
    result = build(pipeline_class(config), command=[prog, *args])
    print(summary_table(result))
    if config.push_to_hub:
        push(result, config)


def push(result: BuildResult, config: PipelineConfig) -> None:
    """Push the finished folder in one commit; a failure leaves it intact and says how to
    retry the upload alone (``python -m pipelines.push_to_hub``)."""
    from ..publish.hub import push_folder

    pushed = push_folder(result.output_dir, config.push_to_hub or "",
                         revision=config.push_revision, private=config.private,
                         commit_message=config.commit_message, progress=config.progress)
    print(pushed.describe())
