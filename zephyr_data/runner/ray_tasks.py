"""Ray for ``--executor ray``: joining or starting it, and running a batch of tasks on it.

Ray only schedules. Every task calls the functions a local run calls, writes its files into a
folder of its own attempt and returns where; the driver reads only what a finished attempt
returned, so a task that Ray runs again (its worker killed, its node lost) never counts twice.
An error of the input (``InputError``) is not retried: it stops the run with the message a local
run gives. Ray Data is not used: it does not give byte-identical, sorted output (with
``preserve_order`` the rows inside a file move between runs; ``sort()`` samples its boundaries
unseeded), so the bucketing, sorting and file naming stay ours.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from .workers import WorkerDied

log = logging.getLogger(__name__)
INSTALL = 'pip install -e ".[ray]"'
_WAIT_S = 0.5


def require_ray() -> Any:
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--executor ray needs Ray, which is not installed: run {INSTALL} in "
                          "the checkout (or pip install \"zephyr-data[ray]\"), or use "
                          "--executor local.") from None
    return ray


@contextlib.contextmanager
def ray_session(address: str | None) -> Iterator[Any]:
    """Join the Ray cluster at ``address`` (default: ``$RAY_ADDRESS``, else start one on this
    machine) for the block, and leave it at the end. A connection the caller opened (a
    notebook, a test) is used as it is and left open."""
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    start = address is None and not os.environ.get("RAY_ADDRESS")
    in_main = threading.current_thread() is threading.main_thread()
    sigterm = signal.getsignal(signal.SIGTERM) if in_main else None
    try:
        ray.init(address=address, logging_level=logging.WARNING,
                 **({"include_dashboard": False} if start else {}))
    except (ConnectionError, ValueError, RuntimeError) as err:
        where = address or os.environ.get("RAY_ADDRESS")
        raise ConfigError(f"--ray-address {where}: could not join a Ray cluster there "
                          f"({_first_line(err)}). Check the address (HOST:PORT of the head, "
                          "as `ray start --head` prints it), that the cluster is up, and that "
                          "RAY_AUTH_MODE and RAY_AUTH_TOKEN are those of the cluster (Ray's "
                          "token authentication).") from None
    finally:
        if in_main:  # ray.init replaces it; ours stops the run cleanly (exit 143)
            signal.signal(signal.SIGTERM, sigterm)
    try:
        resources = ray.cluster_resources()
        nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
        log.info("Ray: %d node(s), %d CPUs, %s", nodes, int(resources.get("CPU", 0)),
                 "started for this run" if start else f"joined at {address or 'RAY_ADDRESS'}")
        yield ray
    finally:
        ray.shutdown()


def cluster_cpus(ray: Any) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def attempt_folder(root: str, name: str) -> Path:
    """A new folder for one attempt of a task, under the run's spill folder ``root``, which
    must be visible from this node."""
    base = Path(root)
    if not base.is_dir():
        import socket

        raise ConfigError(f"the spill folder {base} is not visible on node {socket.gethostname()}:"
                          " every node must see it. Pass --scratch-dir on storage that every "
                          "node mounts at the same path (and --output-dir there too, or "
                          "--scratch-dir).")
    folder = base / f"{name}-{uuid.uuid4().hex[:12]}"
    folder.mkdir()
    return folder


def run_tasks(ray: Any, task: Callable[..., Any], jobs: Sequence[tuple[Any, ...]], *,
              retries: int, what: str, on_done: Callable[[int, Any], None]) -> list[Any]:
    """``[task(*job) for job in jobs]`` as Ray tasks, each run again up to ``retries`` times
    when its worker dies; ``on_done(i, result)`` as each finishes. The first error stops the
    others (cancelled, and waited for, so that none writes after the run ends) and is raised
    here: the task's own error as it was raised, or ``WorkerDied`` once a task ran out of
    tries."""
    remote = ray.remote(task).options(max_retries=retries, retry_exceptions=False)
    refs = [remote.remote(*job) for job in jobs]
    index = {ref: i for i, ref in enumerate(refs)}
    results: list[Any] = [None] * len(refs)
    pending = list(refs)
    try:
        while pending:
            with _signals_after_wait():
                done, pending = ray.wait(pending, num_returns=len(pending), timeout=_WAIT_S)
            for ref in done:
                results[index[ref]] = _result(ray, ref, what, retries)
                on_done(index[ref], results[index[ref]])
        return results
    finally:
        if pending:
            _cancel(ray, pending)


def _result(ray: Any, ref: Any, what: str, retries: int) -> Any:
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as err:  # the task raised: raise it here, as it was
        raise err.cause from err
    except ray.exceptions.RayError as err:
        tries = f"{retries + 1} times" if retries else "once (--ray-max-retries 0)"
        raise WorkerDied(f"a Ray worker died running a {what} task, which was tried {tries} "
                         f"({type(err).__name__}: {_first_line(err)}): killed, out of memory, "
                         "or its node was lost. Nothing was written. Rerun; if it happens "
                         "again, give the workers more memory or raise --ray-max-retries."
                         ) from None


@contextlib.contextmanager
def _signals_after_wait() -> Iterator[None]:
    """Hold SIGTERM and SIGINT while Ray waits in its C code, and hand them to their own
    handlers once it returns: a handler that raises (Ctrl-C, the CLI's SIGTERM) inside Ray's
    wait would surface as a ``SystemError``."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if held:
        handler = previous[held[0]]
        if callable(handler):
            handler(held[0], None)
        elif handler == signal.SIG_DFL:
            signal.raise_signal(held[0])


def _cancel(ray: Any, refs: list[Any]) -> None:
    for ref in refs:
        with contextlib.suppress(Exception):
            ray.cancel(ref, force=True)
    with contextlib.suppress(Exception):
        ray.wait(refs, num_returns=len(refs), timeout=30)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
