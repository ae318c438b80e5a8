"""The wheels the GPU machine lacks, pinned, for Python 3.12 on manylinux x86_64.

The GPU machine (no network) has Python 3.12 with torch, transformers 5.17, accelerate, peft,
pyarrow, numpy, pandas, sentencepiece, tokenizers, safetensors and the packages below in
``GPU_MACHINE``; it lacks trl, datasets and two of datasets' needs, dill and multiprocess, and
its transformers is too old for the recipes. Each wheel is downloaded with ``--no-deps``, so
every needed dependency is named here, and :func:`unmet_requirements` checks the downloaded
wheels' own metadata against that.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

LIMIT_BYTES = 64 * 2**20  # what may travel beside the repository, all in all
PYTHON = "3.12"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")


@dataclass(frozen=True)
class Wheel:
    name: str
    version: str
    why: str

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}"


WHEELS = (
    Wheel("transformers", "5.24.0", "the recipes' activation_checkpointing keys (the GPU "
          "machine's 5.17 knows only gradient_checkpointing); the version the tests ran"),
    Wheel("trl", "1.16.0", "SFTTrainer and DPOTrainer (the version the tests ran)"),
    Wheel("datasets", "5.2.0", "TRL's datasets; reads the parquet sample builds"),
    Wheel("dill", "0.4.1", "needed by datasets (hashing, pickling)"),
    Wheel("multiprocess", "0.70.19", "needed by datasets (map workers)"),
)
# Not shipped: pyarrow (datasets 5.2 asks for >= 24; the GPU machine's version was never read).
# Its wheel (52.5 MiB) would take the total over 64 MiB; gpu_check.json lists it if unmet.

# What the GPU machine has (the device page's package list, 2026-11-17), with the versions a
# session saw there where known (None: present, version not read).
GPU_MACHINE = {
    "torch": "2.11.0", "transformers": "5.17.0", "accelerate": "1.15.0", "peft": None,
    "huggingface-hub": "1.33.0", "tokenizers": "0.23.2", "safetensors": "0.8.0",
    "sentencepiece": "0.2.2", "numpy": "2.5.2", "pyarrow": None, "pandas": None,
    "fsspec": None, "xxhash": None, "filelock": None, "tqdm": None, "pyyaml": None,
    "packaging": None, "psutil": None, "jinja2": None, "requests": None, "aiohttp": None,
    "rich": None, "protobuf": None, "regex": None, "typing-extensions": None,
    "python-dateutil": None, "httpx": None, "typer": None,
}


def applies_on_gpu_machine(req: Requirement) -> bool:
    """Whether ``req`` applies on the GPU machine (Python 3.12, Linux x86_64, no extras)."""
    if req.marker is None:
        return True
    env = default_environment()
    env.update(python_version=PYTHON, python_full_version=f"{PYTHON}.3", sys_platform="linux",
               platform_system="Linux", platform_machine="x86_64", extra="")
    return req.marker.evaluate(env)


def wheel_requirements(path: Path) -> list[Requirement]:
    """``Requires-Dist`` of a wheel that apply on the GPU machine."""
    with zipfile.ZipFile(path) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        message = Parser().parsestr(zf.read(meta).decode("utf-8"))
    reqs = [Requirement(r) for r in message.get_all("Requires-Dist") or []]
    return [r for r in reqs if applies_on_gpu_machine(r)]


def unmet_requirements(requirements: dict[str, list[Requirement]],
                       shipped: dict[str, str]) -> list[str]:
    """What the wheels need that the GPU machine would not have: a package neither there nor
    shipped, or a version that contradicts one known there or shipped."""
    available = {canonicalize_name(n): v for n, v in GPU_MACHINE.items()}
    available.update({canonicalize_name(n): v for n, v in shipped.items()})
    problems = []
    for owner, reqs in requirements.items():
        for req in reqs:
            name = canonicalize_name(req.name)
            if name not in available:
                problems.append(f"{owner} needs {req}, which the GPU machine lacks and no wheel "
                                "provides: add it to WHEELS.")
            elif available[name] is not None and not req.specifier.contains(
                    Version(available[name]), prereleases=True):
                problems.append(f"{owner} needs {req}, but {name} {available[name]} is what "
                                "the GPU machine would have.")
    return problems


def unverified_requirements(requirements: dict[str, list[Requirement]]) -> list[str]:
    """Requirements on GPU-machine packages whose version there was never read."""
    known = {canonicalize_name(n) for n, v in GPU_MACHINE.items() if v is not None}
    return sorted({f"{owner}: {req}" for owner, reqs in requirements.items() for req in reqs
                   if req.specifier and canonicalize_name(req.name) not in known
                   and canonicalize_name(req.name) in
                   {canonicalize_name(n) for n in GPU_MACHINE}})


def unmet_here(names: tuple[str, ...]) -> list[str]:
    """Requirements of the installed ``names`` that the installed packages do not meet (what
    ``pip check`` would say of them), or the package itself missing."""
    from importlib.metadata import PackageNotFoundError, distribution

    problems = []
    for name in names:
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            problems.append(f"{name} is not installed: install the wheels made by "
                            "python -m zephyr_train.gpu_check.pack")
            continue
        for req in (Requirement(r) for r in dist.requires or []):
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            try:
                found = distribution(req.name).version
            except PackageNotFoundError:
                problems.append(f"{name} {dist.version} needs {req}: not installed")
                continue
            if not req.specifier.contains(Version(found), prereleases=True):
                problems.append(f"{name} {dist.version} needs {req}: found {found}")
    return problems


def download(wheels: list[Wheel], dest: Path) -> list[Path]:
    """``pip download --no-deps`` each pinned wheel for Python 3.12 manylinux x86_64."""
    dest.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--python-version", PYTHON, "--implementation", "cp", "--dest", str(dest)]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    command += [w.pin for w in wheels]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"pip download failed ({result.returncode}):\n{result.stderr[-2000:]}")
    files = []
    for wheel in wheels:
        prefix = f"{wheel.name.replace('-', '_')}-{wheel.version}-"
        found = sorted(p for p in dest.glob("*.whl") if p.name.lower().startswith(prefix))
        if len(found) != 1:
            raise RuntimeError(f"Expected one wheel {prefix}*.whl in {dest}, found "
                               f"{[p.name for p in found]}.")
        files.append(found[0])
    stray = sorted(set(dest.glob("*.whl")) - set(files))
    if stray:
        raise RuntimeError(f"{dest} holds wheels that are not pinned here: "
                           f"{[p.name for p in stray]}; remove them (two versions of one "
                           "package stop the whole install).")
    return files


def install_line(wheel_dir: Path) -> str:
    return f"python3 -m pip install --no-index --no-deps --no-compile {wheel_dir}/*.whl"
