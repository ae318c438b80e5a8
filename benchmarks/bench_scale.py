"""Full-scale benchmark on real text: build UltraChat from 20,000 dialogues up to all 1,468,352,
and UltraFeedback at 64,000 prompts, each compared in the same run with what it has to beat.

    python -m benchmarks.bench_scale                                  # 20k, 60k, 200k, full size
    python -m benchmarks.bench_scale --sizes 20000,60000 --feedback-rows 0            # quicker

Every turn of every dialogue is real text from ``../shared/data`` (``synthetic.py``): the
prompts and responses of both UltraFeedback samples, the AlpacaEval instructions and the MT-Bench
turns, with planted breakage on top. For each size it prints:

- our wall time, end to end (a fresh process: imports, workers, reading, filtering, truecasing,
  decontamination from a local folder, deduplication, splits, shards, card, report), and its
  phases from the build's log;
- the wall time of the columnar floor (``floor.py``: the same filtering as a short polars
  script, one process, all in memory, no truecasing, no decontamination), run on the same file,
  and our time divided by the floor's, phase by phase;
- the peak memory of the whole process tree (the build, its worker server and workers: the sum
  of their proportional set sizes, so that pages they share count once), and how it grows;
- the share of messages the polars screen sends to the Python truecaser, and the share of those
  it changes.

Targets (2-core machine): at most 3x the floor at 60,000 dialogues; the full size under
5 minutes; peak memory at most 1.2x from 20,000 to full size and under 3 GB; UltraFeedback at
64,000 prompts under 15 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
PHASES = {"read and filtered": "map", "deduplicated, split and wrote": "reduce",
          "drew": "report"}


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


def _memory(process: psutil.Process) -> int:
    """The physical memory a process holds, shared pages counted once across the processes that
    share them (its PSS; its RSS where the system has no PSS)."""
    try:
        return process.memory_full_info().pss
    except (AttributeError, psutil.AccessDenied):
        return process.memory_info().rss


class PeakMemory:
    """Peak memory of a process and all its children (the sum of their PSS: workers forked from
    one server share what it loaded), polled every 0.2 s."""

    def __init__(self, pid: int):
        self.root, self.peak, self._stop = psutil.Process(pid), 0, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                total = 0
                for p in [self.root, *self.root.children(recursive=True)]:
                    try:
                        total += _memory(p)
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


def timed(command: list[str]) -> tuple[float, int, str, str]:
    """Run ``command``; return its wall time, the peak memory of its process tree, stdout and
    stderr (a failure stops the benchmark)."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    memory = PeakMemory(proc.pid)
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - started
    peak = memory.stop()
    if proc.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr[-3000:]}")
    return seconds, peak, stdout, stderr


def run_ours(module: str, inp: Path, out: Path, decontaminate: str, extra: list[str]) -> dict:
    seconds, peak, _, stderr = timed([sys.executable, "-m", module, "--input", str(inp),
                                      "--output-dir", str(out), "--no-progress",
                                      "--decontaminate", decontaminate, *extra])
    phases = {}
    for line in stderr.splitlines():
        for text, name in PHASES.items():
            m = re.search(rf"{text} .* in ([0-9.]+) s", line)
            if m:
                phases[name] = float(m.group(1))
    manifest = json.loads((out / "manifest.json").read_text())
    return {"seconds": seconds, "peak": peak, "phases": phases, "manifest": manifest}


def run_floor(inp: Path, out: Path) -> dict:
    files = [str(p) for p in sorted(inp.glob("*.jsonl"))]
    seconds, peak, stdout, _ = timed([sys.executable, "-m", "benchmarks.floor", str(out),
                                      *files])
    return {"seconds": seconds, "peak": peak, **json.loads(stdout)}


def ultrachat(args: argparse.Namespace, shared: Path | None, decontaminate: str) -> None:
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(f"\nUltraChat, real text, end to end (raw JSON Lines -> Hub-layout folder; "
          f"floor run up to {args.floor_max:,} dialogues)")
    print(f"{'dialogues':>10} {'input':>8} {'ours s':>7} {'floor s':>7} {'ratio':>6} "
          f"{'map':>14} {'reduce':>14} {'report':>6} {'peak mem':>8} {'screened':>8} "
          f"{'changed':>8}")
    peaks = []
    for n in sizes:
        raw = generate("ultrachat", n, args.workdir, shared, args.seed, args.workers)
        size = sum(p.stat().st_size for p in raw.glob("*.jsonl"))
        ours = run_ours("pipelines.build_ultrachat", raw, args.workdir / f"out-{n}",
                        decontaminate, args.extra)
        floor = run_floor(raw, args.workdir / f"floor-{n}") if n <= args.floor_max else None
        counters = ours["manifest"]["stats"]["counters"]
        screened = counters.get("truecasing_screened_messages", 0)
        changed = counters.get("truecased_messages", 0)
        total_messages = input_messages(raw)
        phase = ours["phases"]
        ratio = f"{ours['seconds'] / floor['seconds']:5.1f}x" if floor else "   -  "

        print(f"{n:>10,} {size / 2**30:>6.2f}GB {ours['seconds']:>7.1f} "
              f"{floor['seconds'] if floor else float('nan'):>7.1f} {ratio:>6} "
              f"{versus(phase, floor, 'map', 'read_filter'):>14} "
              f"{versus(phase, floor, 'reduce', 'dedup_split_write'):>14} "
              f"{phase.get('report', float('nan')):>6.1f} {ours['peak'] / 2**30:>6.2f}GB "
              f"{screened / total_messages:>8.1%} {changed / max(screened, 1):>8.1%}")
        peaks.append((n, ours["peak"]))
        shutil.rmtree(args.workdir / f"out-{n}", ignore_errors=True)
        shutil.rmtree(args.workdir / f"floor-{n}", ignore_errors=True)
    if len(peaks) > 1:
        (n0, m0), (n1, m1) = peaks[0], peaks[-1]
        print(f"peak memory {n0:,} -> {n1:,} dialogues: x{m1 / m0:.2f} "
              f"({m0 / 2**30:.2f} -> {m1 / 2**30:.2f} GB)")
    print("screened: messages the polars screen sends to the Python truecaser, of all messages "
          "read; changed: of those, the messages it repaired")


def versus(phases: dict, floor: dict | None, name: str, floor_key: str) -> str:
    """Our phase's seconds, and how many times the floor's matching phase it takes."""
    mine = phases.get(name, float("nan"))
    if not floor:
        return f"{mine:6.1f}        "
    return f"{mine:6.1f} ({mine / floor[floor_key]:4.1f}x)"


def input_messages(folder: Path) -> int:
    """Messages in the raw files (counted once, cheaply, with polars)."""
    import polars as pl

    frame = pl.scan_ndjson([str(p) for p in sorted(folder.glob("*.jsonl"))],
                           schema={"data": pl.List(pl.String)})
    return int(frame.select(pl.col("data").list.len().sum()).collect().item())


def ultrafeedback(args: argparse.Namespace, shared: Path | None, decontaminate: str) -> None:
    print(f"\nUltraFeedback, {args.feedback_rows:,} prompts, end to end")
    raw = generate("ultrafeedback", args.feedback_rows, args.workdir, shared, args.seed,
                   args.workers)
    r = run_ours("pipelines.build_ultrafeedback", raw, args.workdir / "out-ultrafeedback",
                 decontaminate, args.extra)
    print(f"wall {r['seconds']:.1f} s, {args.feedback_rows / r['seconds']:,.0f} prompts/s, "
          f"peak memory {r['peak'] / 2**30:.2f} GB, kept {r['manifest']['stats']['kept']:,}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=f"20000,60000,200000,{ULTRACHAT_SIZE}")
    parser.add_argument("--floor-max", type=int, default=200_000,
                        help="largest size the in-memory floor is run at (it holds the whole "
                             "input in memory)")
    parser.add_argument("--feedback-rows", type=int, default=ULTRAFEEDBACK_SIZE)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                        help="processes that write the raw files")
    parser.add_argument("--workdir", type=Path,
                        default=Path(tempfile.gettempdir()) / "zephyr-bench")
    parser.add_argument("--shared", type=Path, default=SHARED_DATA)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--decontaminate", default=None,
                        help="passed to the pipelines (default: the benchmarks folder of "
                             "--shared when present, else off)")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                        help="further options for the pipelines, e.g. --extra --num-proc 1")
    args = parser.parse_args(argv)
    shared = args.shared if args.shared.is_dir() else None
    decontaminate = args.decontaminate or (
        str(shared / "benchmarks") if shared and (shared / "benchmarks").is_dir() else "off")
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; "
          f"text from {shared or 'the bundled samples'}; decontamination: {decontaminate}")
    if args.sizes:
        ultrachat(args, shared, decontaminate)
    if args.feedback_rows:
        ultrafeedback(args, shared, decontaminate)


if __name__ == "__main__":
    main()
