"""Fixtures of the zephyr_train tests: the sample builds and the smoke SFT/DPO checkpoints,
each made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.train import dpo_run, lora_dpo_run, lora_sft_run, sft_run, smoke_data_dirs


@pytest.fixture(scope="session")
def smoke_data() -> tuple[Path, Path]:
    return smoke_data_dirs()


@pytest.fixture(scope="session")
def sft_checkpoint() -> tuple[Path, list[dict]]:
    return sft_run()


@pytest.fixture(scope="session")
def dpo_checkpoint() -> tuple[Path, list[dict]]:
    return dpo_run()


@pytest.fixture(scope="session")
def lora_sft_checkpoint():
    return lora_sft_run()


@pytest.fixture(scope="session")
def lora_dpo_checkpoint():
    return lora_dpo_run()
