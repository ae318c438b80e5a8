"""Bad input gets a clear error before any model is loaded."""

from __future__ import annotations

import datasets
import pytest

import zephyr_train.runner
from tests.support.train import write_ultrachat_like
from zephyr_train.batching import derive_gradient_accumulation
from zephyr_train.configs import RecipeError, ZephyrSFTConfig, parse_args
from zephyr_train.sft import main as sft_main


@pytest.fixture(autouse=True)
def no_model_loading(monkeypatch):
    """Any attempt to load weights fails the test: the errors below must come first."""
    def forbidden(*args, **kwargs):
        raise AssertionError("a model was loaded before the input was validated")

    monkeypatch.setattr(zephyr_train.runner, "load_model", forbidden)
    monkeypatch.delenv("WORLD_SIZE", raising=False)


@pytest.fixture(scope="module")
def chat_dir(tmp_path_factory):
    return write_ultrachat_like(tmp_path_factory.mktemp("chat") / "ultrachat", n=4)


def test_unknown_recipe_key(tmp_path):
    recipe = tmp_path / "typo.yaml"
    recipe.write_text("learnig_rate: 1.0e-5\nlr_scheduler_type: cosine\n")
    with pytest.raises(RecipeError) as err:
        parse_args(ZephyrSFTConfig, ["--config", str(recipe)])
    message = str(err.value)
    assert "'learnig_rate'" in message and "did you mean 'learning_rate'" in message
    assert str(recipe) in message


def test_unknown_command_line_key():
    with pytest.raises(RecipeError, match="Unknown option '--no_such_option'"):
        parse_args(ZephyrSFTConfig, ["--config", "smoke/sft", "--no_such_option", "1"])
    with pytest.raises(RecipeError, match="did you mean '--learning_rate'"):
        parse_args(ZephyrSFTConfig, ["--config", "smoke/sft", "--learnig_rate", "1"])


def test_unknown_recipe_name():
    with pytest.raises(RecipeError, match="Packaged recipes: .*zephyr-7b/sft"):
        parse_args(ZephyrSFTConfig, ["--config", "zephyr-8b/sft"])


def test_global_batch_that_does_not_divide(chat_dir):
    with pytest.raises(ValueError) as err:
        sft_main(["--config", "smoke/sft", "--dataset_name", str(chat_dir),
                   "--global_batch_size", "5"])
    message = str(err.value)
    assert "global_batch_size=5" in message
    assert "per_device_train_batch_size=2 x world size 1 = 2" in message


def test_global_batch_error_names_the_numbers():
    with pytest.raises(ValueError) as err:
        derive_gradient_accumulation(512, 16, 24)
    message = str(err.value)
    assert "global_batch_size=512" in message and "16 x world size 24 = 384" in message
    assert "e.g. 384 or 768" in message


def test_contradicting_accumulation(chat_dir):
    with pytest.raises(ValueError, match="gradient_accumulation_steps=3 contradicts"):
        parse_args(ZephyrSFTConfig, ["--config", "smoke/sft", "--dataset_name", str(chat_dir),
                                     "--gradient_accumulation_steps", "3"])


def test_missing_model_path(chat_dir, tmp_path):
    with pytest.raises(RecipeError, match="does not exist as a local directory"):
        sft_main(["--config", "smoke/sft", "--dataset_name", str(chat_dir),
                  "--model_name_or_path", str(tmp_path / "no-such-checkpoint"),
                  "--output_dir", str(tmp_path / "out")])


def test_directory_that_is_not_a_checkpoint(chat_dir, tmp_path):
    with pytest.raises(RecipeError, match="without config.json"):
        sft_main(["--config", "smoke/sft", "--dataset_name", str(chat_dir),
                  "--model_name_or_path", str(tmp_path), "--output_dir", str(tmp_path / "o")])


def test_uncached_hub_model_offline(chat_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RecipeError, match="not in the local cache"):
        sft_main(["--config", "smoke/sft", "--dataset_name", str(chat_dir),
                  "--model_name_or_path", "no-such-org/no-such-model",
                  "--output_dir", str(tmp_path / "o")])


def test_dataset_without_expected_columns(tmp_path):
    folder = tmp_path / "wrong"
    (folder / "data").mkdir(parents=True)
    datasets.Dataset.from_list([{"prompt": "hi", "prompt_id": "x", "text": "hello"}]).to_parquet(
        folder / "data" / "train_sft-00000-of-00001.parquet")
    with pytest.raises(ValueError) as err:
        sft_main(["--config", "smoke/sft", "--dataset_name", str(folder),
                  "--output_dir", str(tmp_path / "out")])
    assert "messages" in str(err.value)


def test_missing_dataset():
    with pytest.raises(RecipeError, match="No dataset given"):
        parse_args(ZephyrSFTConfig, ["--config", "smoke/sft", "--dataset_name", ""])
