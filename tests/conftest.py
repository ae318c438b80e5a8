"""Shared test setup: no network, and the real public data beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from zephyr_data.realtext import real_prompts, real_replies

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


@pytest.fixture(scope="session")
def responses(shared_data: Path) -> list[str]:
    return real_replies(shared_data)


@pytest.fixture(scope="session")
def prompts(shared_data: Path) -> list[str]:
    return real_prompts(shared_data)
