"""Pack what the GPU check needs on a machine without network (the wheel script):
``python -m zephyr_train.gpu_check.pack [--dir .whl/gpu_check] [--no-wheels]``.

Run it where the project is installed and PyPI is reachable. It downloads the pinned wheels
(``wheels.py``) into DIR/wheels, makes the data part (``bundle.py``), checks that wheels, data
and the repository's tracked files come to under 64 MiB, and prints the install and run lines
for the GPU machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.realtext import SHARED_DATA
from zephyr_train.gpu_check.bundle import build_bundle
from zephyr_train.gpu_check.wheels import (
    LIMIT_BYTES,
    WHEELS,
    download,
    install_line,
    unmet_requirements,
    unverified_requirements,
    wheel_requirements,
)

MIB = 2**20


def repository_bytes(root: Path) -> int | None:
    """Bytes of the files git tracks or would add (what travels with the working tree)."""
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    paths = {root / p for p in out.decode().split("\0") if p}
    return sum(p.stat().st_size for p in paths if p.is_file())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zephyr_train.gpu_check.pack",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path(".whl/gpu_check"),
                        help="Bundle folder (git-ignored; default .whl/gpu_check).")
    parser.add_argument("--no-wheels", action="store_true",
                        help="Only the data part (no network needed).")
    parser.add_argument("--questions", type=Path,
                        default=SHARED_DATA / "benchmarks" / "mt_bench_question.jsonl",
                        help="FastChat's MT-Bench question.jsonl.")
    parser.add_argument("--ultrachat", type=Path, help="An UltraChat sample build to copy "
                        "(default: build it now).")
    parser.add_argument("--ultrafeedback", type=Path, help="An UltraFeedback sample build to "
                        "copy (default: build it now).")
    args = parser.parse_args(argv)

    bundle = build_bundle(args.dir, questions_source=args.questions, ultrachat=args.ultrachat,
                          ultrafeedback=args.ultrafeedback)
    data_bytes = sum(f["bytes"] for f in json.loads(bundle.manifest.read_text())["files"]
                     .values())
    print(f"\nData in {bundle.root}: {data_bytes / MIB:.2f} MiB (sample builds, tokenizer, "
          "MT-Bench questions; sizes and sha256 in manifest.json)")

    wheel_bytes = 0
    wheel_dir = bundle.root / "wheels"
    if not args.no_wheels:
        pinned = list(WHEELS)
        files = download(pinned, wheel_dir)
        print(f"\nWheels in {wheel_dir} (Python 3.12, manylinux x86_64, --no-deps):")
        for wheel, path in zip(pinned, files):
            print(f"  {path.name:<58} {path.stat().st_size / MIB:7.2f} MiB  {wheel.why}")
            wheel_bytes += path.stat().st_size
        requirements = {w.pin: wheel_requirements(p) for w, p in zip(pinned, files)}
        problems = unmet_requirements(requirements, {w.name: w.version for w in pinned})
        for line in problems:
            print(f"  PROBLEM: {line}")
        unverified = unverified_requirements(requirements)
        if unverified:
            print("  Versions on the GPU machine not known here (gpu_check.json lists any that "
                  "are unmet there): " + "; ".join(unverified))
        if problems:
            return 1

    repo = repository_bytes(Path.cwd())
    total = data_bytes + wheel_bytes + (repo or 0)
    print(f"\nTravels: wheels {wheel_bytes / MIB:.2f} MiB + data {data_bytes / MIB:.2f} MiB + "
          + (f"repository {repo / MIB:.2f} MiB" if repo is not None else "repository (not a git "
             "checkout: not counted)")
          + f" = {total / MIB:.2f} MiB of {LIMIT_BYTES / MIB:.0f} MiB")
    if total >= LIMIT_BYTES:
        print(f"error: {total / MIB:.2f} MiB is over the {LIMIT_BYTES / MIB:.0f} MiB limit.",
              file=sys.stderr)
        return 1
    print("\nOn the GPU machine, in the repository root (with this folder beside it):")
    if not args.no_wheels:
        print(f"  {install_line(wheel_dir)}")
    print(f"  python3 -m zephyr_train.gpu_check --bundle {bundle.root} --output_dir "
          "outputs/gpu_check")
    return 0


if __name__ == "__main__":
    sys.exit(main())
