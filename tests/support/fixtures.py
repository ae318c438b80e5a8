"""Session fixtures every test folder may use (loaded by ``pytest_plugins`` in conftest.py):
the real public data beside the checkout, and the bundled samples built once."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.realtext import real_prompts, real_replies
from tests.support.builds import sample_build
from tests.support.paths import SHARED_DATA


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


@pytest.fixture(scope="session")
def ultrachat_sample(tmp_path_factory) -> tuple[Path, Path]:
    """The --sample UltraChat build (folder, dump of dropped rows); read it, never write it."""
    return sample_build(tmp_path_factory, "ultrachat")


@pytest.fixture(scope="session")
def ultrafeedback_sample(tmp_path_factory) -> tuple[Path, Path]:
    """The --sample UltraFeedback build (folder, dump of dropped rows); read it only."""
    return sample_build(tmp_path_factory, "ultrafeedback")
