"""Benchmark the UltraFeedback pipeline end to end on a raw input of realistic size.

    python -m pipelines.bench_ultrafeedback                       # 64,000 prompts, 1 and 2 workers
    python -m pipelines.bench_ultrafeedback --rows 8000 --num-proc 2 --profile

The input is written to a temporary JSON Lines file first (not timed): every row has four
completions in the raw ``openbmb/UltraFeedback`` schema (annotations with rationales, critique,
system prompt, scores), with prompts and responses taken from the real preference rows in
``../shared/data/ultrafeedback/``. The target is under 60 seconds end to end on two cores.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from zephyr_data.build import build
from zephyr_data.config import make_config
from zephyr_data.ultrafeedback import ASPECTS, UltraFeedbackConfig, UltraFeedbackPipeline

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ultrafeedback"
FILES = ("trl_binarized_sample1000.jsonl", "argilla_style_sample1000.jsonl")
MODELS = ["gpt-4", "gpt-3.5-turbo", "llama-2-70b-chat", "wizardlm-70b", "ultralm-65b",
          "falcon-40b-instruct", "mpt-30b-chat", "starchat", "vicuna-33b", "bard"]
# UltraFeedback's prompt sources and their row counts (the openbmb/UltraFeedback card).
SOURCES = {"evol_instruct": 10_000, "false_qa": 2_339, "flan_v2_niv2": 10_000,
           "flan_v2_cot": 5_000, "flan_v2_p3": 5_000, "flan_v2_flan2021": 939,
           "sharegpt": 19_949, "truthful_qa": 811, "ultrachat": 9_929}
PRINCIPLES = ["helpfulness", "honesty", "truthfulness", "verbalized_calibration"]


def real_texts() -> tuple[list[str], list[str]]:
    """Prompts and responses of the shared real rows."""
    missing = [f for f in FILES if not (SHARED / f).is_file()]
    if missing:
        sys.exit(f"error: {SHARED} lacks {missing}: the benchmark takes its text from the shared "
                 "real rows beside the checkout (../shared/data/ultrafeedback/).")
    prompts, responses = [], []
    for name in FILES:
        with open(SHARED / name, encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                prompts.append(row["prompt"])
                responses += [row["chosen"], row["rejected"]]
    return prompts, [r for r in responses if r.strip()]


def snippet(rng: random.Random, texts: list[str], length: int) -> str:
    text = rng.choice(texts)
    start = rng.randrange(max(1, len(text) - length))
    return text[start:start + length]


def raw_completion(rng: random.Random, responses: list[str]) -> dict:
    ratings = [rng.choice("12345") if rng.random() > 0.05 else "N/A" for _ in ASPECTS]
    annotations = {}
    for aspect, rating in zip(ASPECTS, ratings, strict=True):
        entry = {"Rating": rating, "Rationale": snippet(rng, responses, 250)}
        if aspect in ("helpfulness", "truthfulness"):
            entry.update({"Rationale For Rating": snippet(rng, responses, 120),
                          "Type": sorted(rng.sample("123", 2))})
        annotations[aspect] = entry
    numbers = [int(r) for r in ratings if r != "N/A"]
    return {"annotations": annotations, "critique": snippet(rng, responses, 400),
            "custom_system_prompt": snippet(rng, responses, 200),
            "fine-grained_score": sum(numbers) / len(numbers) if numbers else "N/A",
            "model": rng.choice(MODELS), "overall_score": float(rng.randint(2, 20)) / 2,
            "principle": rng.choice(PRINCIPLES), "response": rng.choice(responses)}


def write_input(path: Path, n_rows: int, seed: int = 0) -> int:
    """Write ``n_rows`` raw rows with distinct prompts; return the file size in bytes."""
    rng = random.Random(seed)
    prompts, responses = real_texts()
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n_rows):
            prompt = prompts[i % len(prompts)]
            if i >= len(prompts):
                prompt = f"{prompt}\n\n(Variant {i // len(prompts)}.)"
            completions = [raw_completion(rng, responses) for _ in range(4)]
            source = rng.choices(list(SOURCES), weights=list(SOURCES.values()))[0]
            row = {"source": source, "instruction": prompt,
                   "models": [c["model"] for c in completions], "completions": completions,
                   "correct_answers": ["None"], "incorrect_answers": ["None"]}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path.stat().st_size


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
    parser = argparse.ArgumentParser(prog="python -m pipelines.bench_ultrafeedback",
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
