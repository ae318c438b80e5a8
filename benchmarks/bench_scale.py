"""Full-scale benchmark: build UltraChat (up to all 1,468,352 dialogues) and UltraFeedback
(64,000 prompts) from generated raw files, and compare with the naive way on a slice.

    python -m pipelines.bench_scale                         # 10k, 100k and full size
    python -m pipelines.bench_scale --sizes 2000 --naive-rows 200 --feedback-rows 2000   # quick

For each size it prints wall time, rows per second, input tokens per second and the peak
memory of the whole process tree (the pipeline and its workers), and how time and memory grow
with size. On the same slice it runs the naive way a user would write it (per-row Python in
``datasets.map``, the truecaser on every message, substring filters) and our pipeline, checks
that both keep the same rows, and prints the ratio. Targets on this 2-core machine: the full
UltraChat build under 10 minutes and 4 GB, at least 20 times faster than the naive way, and
UltraFeedback under 60 seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import psutil

from benchmarks.realtext import SHARED_DATA
from benchmarks.synthetic import (
    ULTRACHAT_SIZE,
    ULTRAFEEDBACK_SIZE,
    TextPool,
    ultrachat_rows,
    ultrafeedback_rows,
    write_jsonl,
)

ROWS_PER_FILE = 100_000
TOKENS_PER_WORD = 1.33  # Llama/Mistral-style tokens per whitespace word of English prose


def _write_file(args: tuple) -> None:
    shared, kind, path, n, seed, index = args
    pool = TextPool.load(shared)
    rows = ultrachat_rows(pool, n, seed, index, index * ROWS_PER_FILE) if kind == "ultrachat" \
        else ultrafeedback_rows(pool, n, seed, index)
    write_jsonl(rows, Path(path))


def generate(kind: str, n: int, folder: Path, shared: Path | None, seed: int, workers: int
             ) -> Path:
    """Raw files for ``n`` rows, reused when already there (they are deterministic)."""
    target = folder / f"{kind}-{n}-seed{seed}"
    done = target / "DONE"
    if done.exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    jobs = [(shared, kind, str(target / f"train_{k:03d}.jsonl"),
             min(ROWS_PER_FILE, n - start), seed, k)
            for k, start in enumerate(range(0, n, ROWS_PER_FILE))]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_write_file, jobs))
    done.write_text("ok\n")
    return target


class PeakMemory:
    """Peak resident memory of a process and all its children, polled every 0.2 s."""

    def __init__(self, pid: int):
        self.root, self.peak, self._stop = psutil.Process(pid), 0, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, total)
            except psutil.Error:
                pass
            time.sleep(0.2)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def run_pipeline(module: str, inp: Path, out: Path, workers: int, decontaminate: str) -> dict:
    command = [sys.executable, "-m", module, "--input", str(inp), "--output-dir", str(out),
               "--num-proc", str(workers), "--no-progress", "--decontaminate", decontaminate]
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    memory = PeakMemory(proc.pid)
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - started
    peak = memory.stop()
    if proc.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr[-3000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    return {"seconds": seconds, "peak_bytes": peak, "manifest": manifest, "stdout": stdout}


def input_words(folder: Path, rows: int) -> int:
    """Whitespace words in the first ``rows`` rows of the input."""
    words = 0
    with open(sorted(folder.glob("*.jsonl"))[0], encoding="utf-8") as fh:
        for _, line in zip(range(rows), fh):
            words += sum(len(t.split()) for t in json.loads(line).get("data", []))
    return words


def naive_ultrachat(path: Path) -> tuple[set[str], float]:
    """What a user would write first: datasets.map with per-row Python, the truecaser on every
    message, the same persona patterns searched turn by turn, then a pass for exact
    duplicates."""
    import re

    import datasets
    from nltk.tokenize import NLTKWordTokenizer
    from nltk.tokenize.treebank import TreebankWordDetokenizer
    from truecase import TrueCaser

    from zephyr_data.pipelines.ultrachat import default_filters

    started = time.perf_counter()
    caser, tokenizer, detok = TrueCaser(), NLTKWordTokenizer(), TreebankWordDetokenizer()
    patterns = [re.compile(p, re.IGNORECASE)
                for ps in default_filters()["persona_rules"].values() for p in ps]
    ds = datasets.load_dataset("json", data_files=str(path), split="train",
                               cache_dir=tempfile.mkdtemp())

    def keep(row):
        data = row["data"]
        if len(data) < 2 or len(data) % 2 or any(not t.strip() for t in data):
            return {"keep": False, "data": data}
        if any(p.search(t) for t in data[1::2] for p in patterns):
            return {"keep": False, "data": data}
        cased = [detok.detokenize(caser.get_true_case_from_tokens(tokenizer.tokenize(t), "as-is"))
                 for t in data]
        return {"keep": True, "data": cased}

    ds = ds.map(keep).filter(lambda row: row["keep"])
    seen, kept = set(), set()
    raw = {r["id"]: json.dumps(r["data"]) for r in
           map(json.loads, open(path, encoding="utf-8"))}
    for row_id in ds["id"]:
        if raw[row_id] not in seen:
            seen.add(raw[row_id])
            kept.add(row_id)
    return kept, time.perf_counter() - started


def ours_kept_ids(path: Path, out: Path, workers: int) -> tuple[set[str], float]:
    """Our pipeline on the slice, with what the naive way does (no decontamination)."""
    dump = out.parent / f"{out.name}-dropped.jsonl"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipelines.build_ultrachat", "--input", str(path),
                    "--output-dir", str(out), "--num-proc", str(workers), "--no-progress",
                    "--decontaminate", "off", "--dump-dropped", str(dump)],
                   check=True, capture_output=True)
    seconds = time.perf_counter() - started
    dropped = {json.loads(line)["ref"] for line in open(dump, encoding="utf-8")}
    kept = set()
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if f"{path}:{i}" not in dropped:
                kept.add(json.loads(line)["id"])
    return kept, seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=f"10000,100000,{ULTRACHAT_SIZE}")
    parser.add_argument("--naive-rows", type=int, default=20_000)
    parser.add_argument("--feedback-rows", type=int, default=ULTRAFEEDBACK_SIZE)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--workdir", type=Path,
                        default=Path(tempfile.gettempdir()) / "zephyr-bench")
    parser.add_argument("--shared", type=Path, default=SHARED_DATA)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--decontaminate", default=None,
                        help="passed to the pipelines (default: the benchmarks folder of "
                             "--shared when present, else off)")
    args = parser.parse_args(argv)
    shared = args.shared if args.shared.is_dir() else None
    decontaminate = args.decontaminate or (
        str(shared / "benchmarks") if shared and (shared / "benchmarks").is_dir() else "off")
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; "
          f"workers: {args.workers}; text from {shared or 'the bundled samples'}; "
          f"decontamination: {decontaminate}")

    print("\nUltraChat, end to end (raw JSON Lines -> Hub-layout folder)")
    print(f"{'dialogues':>10} {'input':>9} {'wall s':>8} {'rows/s':>9} {'tokens/s':>11} "
          f"{'peak mem':>9} {'kept':>10} {'truecased':>10}")
    results = []
    for n in sizes:
        raw = generate("ultrachat", n, args.workdir, shared, args.seed, args.workers)
        size = sum(p.stat().st_size for p in raw.glob("*.jsonl"))
        tokens = input_words(raw, min(n, 2000)) / min(n, 2000) * n * TOKENS_PER_WORD
        out = args.workdir / f"out-ultrachat-{n}"
        r = run_pipeline("pipelines.build_ultrachat", raw, out, args.workers, decontaminate)
        stats = r["manifest"]["stats"]
        results.append((n, r["seconds"], r["peak_bytes"]))
        print(f"{n:>10,} {size / 2**30:>7.2f}GB {r['seconds']:>8.1f} {n / r['seconds']:>9,.0f} "
              f"{tokens / r['seconds']:>11,.0f} {r['peak_bytes'] / 2**30:>7.2f}GB "
              f"{stats['kept']:>10,} {stats['counters'].get('truecased_dialogues', 0):>10,}")
        shutil.rmtree(out, ignore_errors=True)
    if len(results) > 1:
        (n0, t0, m0), (n1, t1, m1) = results[0], results[-1]
        print(f"growth {n0:,} -> {n1:,} rows (x{n1 / n0:.0f}): time x{t1 / t0:.1f}, "
              f"seconds per 100k rows {t0 / n0 * 1e5:.1f} -> {t1 / n1 * 1e5:.1f}, "
              f"peak memory x{m1 / m0:.2f}")

    if args.naive_rows:
        print(f"\nNaive way vs ours, on the same {args.naive_rows:,}-dialogue slice")
        raw = generate("ultrachat", args.naive_rows, args.workdir, shared, args.seed + 1,
                       args.workers)
        (path,) = sorted(raw.glob("*.jsonl"))
        ours, ours_s = ours_kept_ids(path, args.workdir / "out-slice", args.workers)
        naive, naive_s = naive_ultrachat(path)
        same = "same kept rows" if ours == naive else \
            f"kept rows differ: {len(ours ^ naive)} of {len(ours | naive)}"
        print(f"naive {naive_s:8.1f} s   ours {ours_s:6.1f} s   ratio x{naive_s / ours_s:.1f}   "
              f"({same}; {len(ours):,} kept)")

    if args.feedback_rows:
        print(f"\nUltraFeedback, {args.feedback_rows:,} prompts, end to end")
        raw = generate("ultrafeedback", args.feedback_rows, args.workdir, shared, args.seed,
                       args.workers)
        out = args.workdir / "out-ultrafeedback"
        r = run_pipeline("pipelines.build_ultrafeedback", raw, out, args.workers, decontaminate)
        print(f"wall {r['seconds']:.1f} s, {args.feedback_rows / r['seconds']:,.0f} prompts/s, "
              f"peak memory {r['peak_bytes'] / 2**30:.2f} GB, "
              f"kept {r['manifest']['stats']['kept']:,}")


if __name__ == "__main__":
    main()
