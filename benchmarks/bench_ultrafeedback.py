"""Benchmark the UltraFeedback pipeline end to end on a raw input of realistic size.

    python -m benchmarks.bench_ultrafeedback                       # 64,000 prompts, 1 and 2 workers
    python -m benchmarks.bench_ultrafeedback --rows 8000 --num-proc 2 --profile

The input is written to a temporary JSON Lines file first (not timed): every row has four
completions in the raw ``openbmb/UltraFeedback`` schema (annotations with rationales, critique,
system prompt, scores), with prompts and responses taken from the real preference rows in
``../shared/data/ultrafeedback/``. The target is under 60 seconds end to end on two cores.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path

from zephyr_data.core.config import make_config
from zephyr_data.pipelines.ultrafeedback import UltraFeedbackConfig, UltraFeedbackPipeline
from zephyr_data.runner.build import build

from .realtext import SHARED_DATA
from .synthetic import TextPool, ultrafeedback_rows, write_jsonl


def write_input(path: Path, n_rows: int, seed: int = 0) -> int:
    """Write ``n_rows`` raw rows with distinct prompts; return the file size in bytes."""
    return write_jsonl(ultrafeedback_rows(TextPool.load(SHARED_DATA), n_rows, seed), path)


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (user + system)."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                          resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_once(path: Path, out: Path, num_proc: int,
             profile: bool) -> tuple[float, float, object]:
    config = make_config(UltraFeedbackConfig, {"input": str(path), "output_dir": str(out),
                                               "num_proc": num_proc, "progress": False},
                         "bench")
    profiler = cProfile.Profile() if profile else None
    started, cpu_started = time.perf_counter(), cpu_seconds()
    if profiler:
        profiler.enable()
    result = build(UltraFeedbackPipeline(config), command=["bench"])
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return time.perf_counter() - started, cpu_seconds() - cpu_started, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_ultrafeedback",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=64_000, help="raw prompts to generate")
    parser.add_argument("--num-proc", default="1,2", help="worker counts to time, comma-separated")
    parser.add_argument("--profile", action="store_true",
                        help="print a cProfile of the main process (workers are not profiled)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-ultrafeedback-") as tmp:
        path = Path(tmp) / "raw.jsonl"
        started = time.perf_counter()
        size = write_input(path, args.rows)
        print(f"input: {args.rows:,} prompts x 4 completions, {size / 1e6:,.0f} MB "
              f"({size / args.rows / 1e3:.1f} kB a row), written in "
              f"{time.perf_counter() - started:.1f}s (not timed below)")
        fingerprints = set()
        for num_proc in [int(n) for n in args.num_proc.split(",")]:
            seconds, cpu, result = run_once(path, Path(tmp) / f"out-{num_proc}", num_proc,
                                            args.profile)
            fingerprints.add(result.fingerprint)
            stats = result.stats
            print(f"num_proc={num_proc}: {seconds:6.1f}s end to end, "
                  f"{stats.rows_in / seconds:8,.0f} rows/s, {size / seconds / 1e6:6.1f} MB/s, "
                  f"{cpu:6.1f}s CPU; kept {stats.kept:,}, dropped "
                  f"{dict(sorted(stats.dropped.items()))}")
        print(f"machine load average while running: {os.getloadavg()[0]:.1f} on "
              f"{os.cpu_count()} cores (other work slows the wall time, not the CPU time)")
        print(f"same output for every worker count: {len(fingerprints) == 1} "
              f"(fingerprint {next(iter(fingerprints))[:16]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
