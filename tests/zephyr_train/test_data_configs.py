"""zephyr_train reads a preference build's ``trl`` config as loaded, instead of converting; the
conversion it keeps for H4-layout datasets (the published ones) gives the same pairs."""

from __future__ import annotations

from datasets import load_dataset

from zephyr_train.configs import DataArguments
from zephyr_train.data import is_explicit_prompt, load_train_eval


def test_the_trl_config_is_used_as_loaded_and_matches_the_conversion(smoke_data):
    _, feedback = smoke_data
    args = DataArguments(dataset_name=str(feedback), dataset_config="trl",
                         dataset_train_split="train", dataset_test_split="test")
    train, test = load_train_eval(args, "dpo")
    loaded = load_dataset(str(feedback), "trl", split="train")
    assert is_explicit_prompt(train) and train.column_names == loaded.column_names
    assert train.to_list() == loaded.to_list()  # no map, no column dropped
    assert len(test) == len(load_dataset(str(feedback), "trl", split="test"))
    h4 = DataArguments(dataset_name=str(feedback), dataset_train_split="train_prefs")
    converted, _ = load_train_eval(h4, "dpo")
    assert converted.column_names == ["prompt", "chosen", "rejected"]
    assert converted.to_list() == train.select_columns(["prompt", "chosen", "rejected"]).to_list()


def test_the_smoke_dpo_recipes_read_the_trl_config():
    from zephyr_train.configs import ZephyrDPOConfig, parse_args

    for recipe in ("smoke/dpo", "smoke/dpo-lora"):
        _, data, _ = parse_args(ZephyrDPOConfig, ["--config", recipe])
        assert (data.dataset_config, data.dataset_train_split) == ("trl", "train")
