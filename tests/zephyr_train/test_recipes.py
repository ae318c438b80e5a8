"""The zephyr-7b recipes carry the paper's numbers and DeepSpeed accepts their batch arithmetic."""

from __future__ import annotations

import pytest
import yaml

from zephyr_train.batching import derive_gradient_accumulation
from zephyr_train.configs import (
    ACCELERATE_CONFIGS_DIR,
    ZephyrDPOConfig,
    ZephyrSFTConfig,
    available_recipes,
    parse_args,
)
from zephyr_train.deepspeed_check import check_with_deepspeed, deepspeed_dict

CPU = ["--use_cpu", "true"]  # lets the bf16 recipes validate on a machine without a GPU


@pytest.fixture(autouse=True)
def _single_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)


def test_packaged_recipes():
    assert {"zephyr-7b/sft", "zephyr-7b/dpo", "smoke/sft", "smoke/dpo"} <= set(available_recipes())


def test_zephyr_7b_sft_recipe_has_the_papers_values():
    model, data, args = parse_args(ZephyrSFTConfig, ["--config", "zephyr-7b/sft", *CPU])
    assert model.model_name_or_path == "mistralai/Mistral-7B-v0.1"
    assert data.dataset_name == "HuggingFaceH4/ultrachat_200k"
    assert (data.dataset_train_split, data.dataset_test_split) == ("train_sft", "test_sft")
    assert args.lr_scheduler_type.value == "cosine"
    assert args.learning_rate == 2e-5
    assert args.warmup_steps == 0.1  # 10% of the steps
    assert args.global_batch_size == 512
    assert args.packing is True and args.max_length == 2048
    assert args.optim.value == "adamw_torch" and args.weight_decay == 0.0
    assert args.bf16 is True
    assert model.dtype == "bfloat16"
    assert model.attn_implementation == "flash_attention_2"
    assert args.activation_checkpointing is True  # gradient checkpointing
    assert args.num_train_epochs == 1 and 1 <= args.num_train_epochs <= 3


def test_zephyr_7b_dpo_recipe_has_the_papers_values():
    _, _, sft = parse_args(ZephyrSFTConfig, ["--config", "zephyr-7b/sft", *CPU])
    model, data, args = parse_args(ZephyrDPOConfig, ["--config", "zephyr-7b/dpo", *CPU])
    assert model.model_name_or_path == sft.output_dir  # starts from the SFT output
    assert data.dataset_name == "HuggingFaceH4/ultrafeedback_binarized"
    assert (data.dataset_train_split, data.dataset_test_split) == ("train_prefs", "test_prefs")
    assert args.lr_scheduler_type.value == "linear"
    assert args.learning_rate == 5e-7
    assert args.warmup_steps == 0.1
    assert args.global_batch_size == 32
    assert args.beta == 0.1
    assert args.num_train_epochs == 3
    assert args.optim.value == "adamw_torch" and args.weight_decay == 0.0
    assert args.bf16 is True


def test_recipe_is_default_and_command_line_overrides():
    _, _, args = parse_args(ZephyrSFTConfig, ["--config", "zephyr-7b/sft", *CPU,
                                              "--learning_rate", "3e-5", "--num_train_epochs", "2"])
    assert args.learning_rate == 3e-5 and args.num_train_epochs == 2
    assert args.lr_scheduler_type.value == "cosine"  # untouched recipe values stay


def test_accumulation_is_derived_from_the_world_size(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "1")
    _, _, args = parse_args(ZephyrSFTConfig, ["--config", "zephyr-7b/sft", *CPU])
    assert args.gradient_accumulation_steps == 512 // 16
    assert derive_gradient_accumulation(512, 16, 16) == 2
    assert derive_gradient_accumulation(32, 2, 16) == 1


def test_zero3_accelerate_config():
    config = yaml.safe_load((ACCELERATE_CONFIGS_DIR / "zero3.yaml").read_text())
    assert config["distributed_type"] == "DEEPSPEED"
    assert config["deepspeed_config"]["zero_stage"] == 3
    assert config["num_processes"] == 8 and config["mixed_precision"] == "bf16"


@pytest.mark.parametrize("recipe,config_cls", [("zephyr-7b/sft", ZephyrSFTConfig),
                                               ("zephyr-7b/dpo", ZephyrDPOConfig)])
def test_deepspeed_accepts_the_batch_arithmetic_for_16_processes(recipe, config_cls):
    _, _, args = parse_args(config_cls, ["--config", recipe, *CPU])
    accum = derive_gradient_accumulation(args.global_batch_size,
                                         args.per_device_train_batch_size, 16)
    ds = deepspeed_dict(ACCELERATE_CONFIGS_DIR / "zero3.yaml",
                        micro_batch=args.per_device_train_batch_size, grad_accum=accum,
                        world_size=16)
    checked = check_with_deepspeed(ds, world_size=16)
    assert checked.world_size == 16
    assert checked.train_batch_size == args.global_batch_size
    assert checked.zero_optimization_stage == 3
    # The same check rejects an accumulation that does not add up.
    ds["gradient_accumulation_steps"] = accum + 1
    with pytest.raises(AssertionError, match="train_batch_size is not equal"):
        check_with_deepspeed(ds, world_size=16)
