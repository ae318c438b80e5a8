"""Local against Ray on this machine: the same raw files built with ``--executor local`` and
``--executor ray``, checked to give the same files, with the time of each stage.

    python -m benchmarks.bench_ray                                     # 100k UltraChat, 64k UF
    python -m benchmarks.bench_ray --sizes 20000 --feedback-rows 5000  # quick
    python -m benchmarks.bench_ray --ray-address HOST:6379             # join a running cluster

For each build it prints the wall time, the map (read, parse, steps, spill) and the reduce
(deduplicate, sample, split, write) as the run logs them, the rest (start-up, hashing the input,
starting or joining Ray, the report), the peak memory of the process tree (with a Ray started
for the run, its raylet and workers are in the tree), and whether the Ray build's fingerprint is
the local one. Raw files come from ``benchmarks.synthetic`` (real text), as ``bench_scale``.
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
import time
from pathlib import Path

import psutil

from benchmarks.bench_scale import PeakMemory, generate
from benchmarks.realtext import SHARED_DATA
from benchmarks.synthetic import ULTRAFEEDBACK_SIZE

PHASES = {"map": re.compile(r"read and filtered [\d,]+ rows in ([\d.]+) s"),
          "reduce": re.compile(r"deduplicated, split and wrote [\d,]+ rows in ([\d.]+) s")}


def build(module: str, raw: Path, out: Path, options: list[str]) -> dict:
    """One build in a process of its own; its wall time, phases, peak memory and manifest."""
    command = [sys.executable, "-m", module, "--input", str(raw), "--output-dir", str(out),
               "--no-progress", "--decontaminate", "off", *options]
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    memory = PeakMemory(proc.pid)
    _, stderr = proc.communicate()
    seconds, peak = time.perf_counter() - started, memory.stop()
    if proc.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr[-3000:]}")
    phases = {name: float(m.group(1)) if (m := pattern.search(stderr)) else float("nan")
              for name, pattern in PHASES.items()}
    manifest = json.loads((out / "manifest.json").read_text())
    shutil.rmtree(out, ignore_errors=True)
    return {"seconds": seconds, "peak": peak, **phases, "fingerprint": manifest["fingerprint"],
            "kept": manifest["stats"]["kept"]}


def compare(name: str, module: str, raw: Path, rows: int, args: argparse.Namespace) -> bool:
    local = build(module, raw, args.workdir / "out-local", ["--num-proc", str(args.workers)])
    ray_options = ["--executor", "ray", *(["--ray-address", args.ray_address]
                                          if args.ray_address else [])]
    ray = build(module, raw, args.workdir / "out-ray", ray_options)
    for label, r in (("local", local), ("ray", ray)):
        rest = r["seconds"] - r["map"] - r["reduce"]
        print(f"{name:<13} {rows:>10,} {label:<6} {r['seconds']:>8.1f} {r['map']:>7.1f} "
              f"{r['reduce']:>9.1f} {rest:>7.1f} {rows / r['seconds']:>8,.0f} "
              f"{r['peak'] / 2**30:>7.2f}GB {r['fingerprint'][:16]}")
    same = local["fingerprint"] == ray["fingerprint"] and local["kept"] == ray["kept"]
    print(f"{'':<13} {'':>10} {'':<6} same output: {'yes' if same else 'NO'}; ray/local wall "
          f"x{ray['seconds'] / local['seconds']:.2f}, map x{ray['map'] / local['map']:.2f}, "
          f"reduce x{ray['reduce'] / local['reduce']:.2f}")
    return same


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000", help="UltraChat dialogues, comma-separated")
    parser.add_argument("--feedback-rows", type=int, default=ULTRAFEEDBACK_SIZE)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                        help="--num-proc of the local builds")
    parser.add_argument("--ray-address", help="join this cluster (default: a Ray started on "
                        "this machine for each build, with all its cores)")
    parser.add_argument("--workdir", type=Path,
                        default=Path(tempfile.gettempdir()) / "zephyr-bench")
    parser.add_argument("--shared", type=Path, default=SHARED_DATA)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    shared = args.shared if args.shared.is_dir() else None
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; "
          f"local: --num-proc {args.workers}; ray: "
          f"{args.ray_address or 'started for each build on this machine'}")
    print(f"{'pipeline':<13} {'rows':>10} {'exec':<6} {'wall s':>8} {'map s':>7} "
          f"{'reduce s':>9} {'rest s':>7} {'rows/s':>8} {'peak mem':>9} fingerprint")
    same = True
    for n in [int(s) for s in args.sizes.split(",") if s]:
        raw = generate("ultrachat", n, args.workdir, shared, args.seed, args.workers)
        same &= compare("UltraChat", "pipelines.build_ultrachat", raw, n, args)
    if args.feedback_rows:
        raw = generate("ultrafeedback", args.feedback_rows, args.workdir, shared, args.seed,
                       args.workers)
        same &= compare("UltraFeedback", "pipelines.build_ultrafeedback", raw,
                        args.feedback_rows, args)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
