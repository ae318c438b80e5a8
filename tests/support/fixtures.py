"""Session fixtures every test folder may use (loaded by ``pytest_plugins`` in conftest.py):
the real public data beside the checkout, and the bundled samples built once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.realtext import real_prompts, real_replies
from benchmarks.synthetic import TextPool
from tests.support.builds import sample_build
from tests.support.paths import SHARED_DATA
from tests.support.ray_cluster import two_node_cluster


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


@pytest.fixture(scope="session")
def text_pool(shared_data: Path) -> TextPool:
    """Real prompts, replies and sentences to write raw rows from (``benchmarks.synthetic``)."""
    return TextPool.load(shared_data)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """A two-node Ray cluster on this machine, this process its driver; its address. Started
    once per session (it takes about 10 s) by the tests that ask for it."""
    with two_node_cluster() as address:
        yield address


@pytest.fixture(scope="module")
def datasets_cache(tmp_path_factory):
    """Keep the ``datasets`` cache of a test module out of the user's cache: use it with
    ``pytestmark = pytest.mark.usefixtures("datasets_cache")``."""
    import datasets

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(datasets.config, "HF_DATASETS_CACHE",
                   tmp_path_factory.mktemp("datasets_cache"))
        yield
