"""Shared test setup: no network, and the real public data beside the checkout."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (see its README); tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real public data not found at {SHARED_DATA}")
    return SHARED_DATA


def real_responses(shared: Path) -> list[str]:
    """Every non-empty assistant reply in the two real UltraFeedback samples."""
    out = []
    for name in ("trl_binarized_sample1000.jsonl", "argilla_style_sample1000.jsonl"):
        with open(shared / "ultrafeedback" / name, encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                for key in ("chosen", "rejected"):
                    value = row[key]
                    if isinstance(value, list):
                        value = value[-1]["content"]
                    if value.strip():
                        out.append(value)
    return out


def real_prompts(shared: Path) -> list[str]:
    out = []
    for name in ("trl_binarized_sample1000.jsonl", "argilla_style_sample1000.jsonl"):
        with open(shared / "ultrafeedback" / name, encoding="utf-8") as fh:
            out += [json.loads(line)["prompt"] for line in fh]
    return out


@pytest.fixture(scope="session")
def responses(shared_data: Path) -> list[str]:
    return real_responses(shared_data)


@pytest.fixture(scope="session")
def prompts(shared_data: Path) -> list[str]:
    return real_prompts(shared_data)
