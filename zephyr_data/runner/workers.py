"""Worker processes that never outlive their build.

``run_in_processes`` runs one task per worker in a process pool and collects the results in
order. Workers come from a ``forkserver`` where the system has one (Linux, macOS): started early
by ``start_workers``, it imports what the workers need (the truecasing model, whose loading costs
seconds) once, while the main process reads its input, and forks each worker ready; elsewhere
they are spawned. Nothing in the server runs polars (which cannot be forked once it has
threads). The workers ignore Ctrl-C (the parent handles it) and die with their parent: on Linux
the kernel kills them when it goes (``PR_SET_PDEATHSIG``; the server goes with the build),
elsewhere a thread in each worker watches for it. When the parent stops early (an error in one
task, Ctrl-C, SIGTERM), the other workers are killed at once rather than left to finish their
share; a worker that dies (killed, out of memory) is a clear error instead of a hang.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ..core.errors import ZephyrDataError

_PR_SET_PDEATHSIG = 1
_PROGRESS: Any = None


class WorkerDied(ZephyrDataError):
    """A worker process ended without a result (killed, or out of memory)."""


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def start_workers(preload: list[str]) -> None:
    """Start the worker server now with ``preload`` imported, so that it is ready when the
    workers are needed (a no-op where there is no forkserver, or once it runs)."""
    ctx = _context()
    if ctx.get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    ctx.set_forkserver_preload(["zephyr_data.runner.worker_server", *preload])
    with _sigint_ignored():  # the server and its children ignore Ctrl-C from birth
        forkserver.ensure_running()


def die_with_parent(parent: int) -> None:
    if parent == 1:  # the process that started this one is gone already
        os._exit(1)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) == 0:
                if os.getppid() != parent:  # the parent went before the call took effect
                    os._exit(1)
                return
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _init_worker(progress_queue: Any) -> None:
    global _PROGRESS
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(os.getppid())
    _PROGRESS = progress_queue


def _call(task: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    return task(*args, _PROGRESS.put)


def _kill(pool: ProcessPoolExecutor) -> None:
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        if process.is_alive():
            process.kill()
    pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_in_processes(task: Callable[..., Any], jobs: list[tuple[Any, ...]],
                     on_progress: Callable[[int], None]) -> list[Any]:
    """``[task(*job, report) for job in jobs]``, one process per job; ``report(n)`` calls in
    the workers reach ``on_progress(n)`` in the parent. The first error stops every worker
    and is raised here."""
    ctx = _context()
    progress = ctx.Queue()
    pool = ProcessPoolExecutor(len(jobs), mp_context=ctx, initializer=_init_worker,
                               initargs=(progress,))
    finished = False
    try:
        with _sigint_ignored():  # inherited through exec: workers ignore Ctrl-C from birth
            futures = [pool.submit(_call, task, job) for job in jobs]
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
            _drain(progress, on_progress)
            for future in done:
                if future.exception() is not None:
                    raise future.exception()  # type: ignore[misc]
        _drain(progress, on_progress)
        results = [f.result() for f in futures]
        finished = True
        return results
    except BrokenProcessPool:
        raise WorkerDied("a worker process died before finishing its share (killed by a signal, "
                         "or out of memory). Nothing was written. Rerun; if it happens again, "
                         "lower --num-proc or --batch-size.") from None
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            _kill(pool)
        progress.close()
        progress.join_thread()


def _drain(progress: Any, on_progress: Callable[[int], None]) -> None:
    while True:
        try:
            on_progress(progress.get_nowait())
        except queue.Empty:
            return
        except (OSError, ValueError, EOFError):
            return
