"""Sample builds shared by the tests that only read them."""

from __future__ import annotations

import importlib
from pathlib import Path

PIPELINES = {"ultrachat": "pipelines.build_ultrachat",
             "ultrafeedback": "pipelines.build_ultrafeedback"}


def sample_build(tmp_path_factory, name: str) -> tuple[Path, Path]:
    """A --sample build of pipeline ``name`` with --dump-dropped, made once per test session
    and shared by the tests that read it (they must not write into it)."""
    root = tmp_path_factory.getbasetemp() / "zephyr-sample-builds"
    out, dump = root / name, root / f"{name}_dropped.jsonl"
    if not (out / "manifest.json").is_file():
        main = importlib.import_module(PIPELINES[name]).main
        assert main(["--sample", "--output-dir", str(out), "--dump-dropped", str(dump),
                     "--no-progress"]) == 0
    return out, dump
