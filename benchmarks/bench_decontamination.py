"""Time decontamination on 64,000 realistic prompts (the size of UltraFeedback).

    python -m benchmarks.bench_decontamination [--rows N]

Prompts are cycled from the real UltraFeedback prompts and replies of ``../shared/data``; the
index is built from its benchmark files. Target: under 10 s added to a build on the 2-core
machine.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from zephyr_data.core.stats import Stats
from zephyr_data.runner.chain import run_steps
from zephyr_data.steps.decontamination import BenchmarkIndex, Decontaminate

from .realtext import SHARED_DATA, real_prompts, real_replies

BATCH = 2000


def realistic_prompts(data: Path, rows: int) -> list[str]:
    """``rows`` prompts cycled from the real UltraFeedback prompts and replies in ``data``
    (prompt, reply, prompt, ...): replies stand in for the longer user turns of UltraChat."""
    prompts, replies = real_prompts(data), real_replies(data)
    mixed = [text for pair in zip(prompts, replies) for text in pair]
    mixed += prompts[len(replies):] + replies[len(prompts):]
    return [mixed[i % len(mixed)] for i in range(rows)]


def bench(data: Path, rows: int) -> dict[str, Any]:
    """Time building the index and running the step over ``rows`` UltraFeedback-style rows."""
    started = time.perf_counter()
    index = BenchmarkIndex.from_dir(data / "benchmarks")
    build_s = time.perf_counter() - started
    texts = realistic_prompts(data, rows)
    step = Decontaminate(index, "prompt")
    stats = Stats()
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(texts), BATCH):  # as the runner does, a batch at a time
        run_steps(pl.DataFrame({"prompt": texts[start:start + BATCH]}), [step], stats, None)
    run_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    matched = sorted({(m.item.benchmark, m.item.item_id, m.item.text) for text in set(texts)
                      if (m := index.match([text])) is not None})
    return {"rows": rows, "tokens": sum(len(text.split()) for text in texts),
            "benchmark_prompts": len(index), "index_build_s": build_s, "decontaminate_s": run_s,
            "decontaminate_cpu_s": cpu_s, "dropped": dict(stats.dropped), "matched": matched}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_decontamination",
                                     description="Time decontamination on real-text prompts.")
    parser.add_argument("--data", type=Path, default=SHARED_DATA,
                        help="The shared data folder (benchmarks/ and ultrafeedback/).")
    parser.add_argument("--rows", type=int, default=64_000, help="Prompts to check.")
    args = parser.parse_args(argv)
    r = bench(args.data, args.rows)
    total = r["index_build_s"] + r["decontaminate_s"]
    print(f"prompts checked                {r['rows']:>12,}")
    print(f"whitespace tokens in them      {r['tokens']:>12,}")
    print(f"benchmark prompts indexed      {r['benchmark_prompts']:>12,}")
    print(f"index build                    {r['index_build_s']:>11.2f}s")
    print(f"decontaminate step             {r['decontaminate_s']:>11.2f}s "
          f"({r['rows'] / r['decontaminate_s']:,.0f} rows/s; CPU {r['decontaminate_cpu_s']:.2f} s)")
    print(f"added to the run               {total:>11.2f}s   target < 10 s")
    print(f"dropped                        {json.dumps(r['dropped']) if r['dropped'] else 0}")
    for benchmark, item_id, text in r["matched"]:
        print(f"  distinct match: {benchmark} #{item_id} {text[:60]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
