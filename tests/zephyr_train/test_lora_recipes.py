"""The LoRA and QLoRA recipes load and validate, and bad LoRA setups fail before any weights load
(issue 17, points 1 and 4)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from transformers import BitsAndBytesConfig, MistralConfig

import zephyr_train.lora
import zephyr_train.runner
from zephyr_train.configs import (
    RecipeError,
    ZephyrDPOConfig,
    ZephyrSFTConfig,
    available_recipes,
    parse_args,
    recipe_task,
)
from zephyr_train.dpo import main as dpo_main
from zephyr_train.lora import lora_config, quantization_config
from zephyr_train.sft import main as sft_main
from zephyr_train.slurm import main as slurm_main

CPU = ["--use_cpu", "true"]  # lets the bf16 recipes validate on a machine without a GPU
ALL_PROJECTIONS = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
COLUMNS = ("r", "alpha", "dropout", "target modules", "lr", "scheduler", "global batch",
           "per device", "4-bit", "beta")
EXPECTED = {
    "zephyr-7b/sft-lora": (16, 16, 0.05, ALL_PROJECTIONS, 2e-4, "cosine", 64, 4, False, None),
    "zephyr-7b/sft-qlora": (16, 16, 0.05, ALL_PROJECTIONS, 2e-4, "cosine", 64, 4, True, None),
    "zephyr-7b/dpo-lora": (128, 128, 0.05, ALL_PROJECTIONS, 5e-6, "cosine", 32, 4, False, 0.01),
    "zephyr-7b/dpo-qlora": (128, 128, 0.05, ALL_PROJECTIONS, 5e-6, "cosine", 32, 4, True, 0.01),
}


@pytest.fixture(autouse=True)
def _single_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)


def _parse(recipe, *extra):
    config_cls = ZephyrSFTConfig if recipe.split("/")[1].startswith("sft") else ZephyrDPOConfig
    return parse_args(config_cls, ["--config", recipe, *CPU, *extra])


def _lora_values(recipe):
    model, _, args = _parse(recipe)
    peft = lora_config(model)
    return (peft.r, peft.lora_alpha, peft.lora_dropout, sorted(peft.target_modules),
            args.learning_rate, args.lr_scheduler_type.value, args.global_batch_size,
            args.per_device_train_batch_size, model.load_in_4bit, getattr(args, "beta", None))


def test_lora_recipes_list_their_values():
    assert set(EXPECTED) <= set(available_recipes())
    table = {recipe: _lora_values(recipe) for recipe in EXPECTED}
    print("\n" + " | ".join(("recipe",) + COLUMNS))  # the listing; pytest -s shows it
    for recipe, values in table.items():
        print(" | ".join([recipe] + [", ".join(v) if isinstance(v, list) else str(v)
                                     for v in values]))
    assert table == EXPECTED


@pytest.mark.parametrize("lora,full", [("zephyr-7b/sft-lora", "zephyr-7b/sft"),
                                       ("zephyr-7b/dpo-qlora", "zephyr-7b/dpo")])
def test_lora_learning_rate_is_ten_times_full(lora, full):
    assert _parse(lora)[2].learning_rate == pytest.approx(10 * _parse(full)[2].learning_rate)


@pytest.mark.parametrize("sft,dpo", [("zephyr-7b/sft-lora", "zephyr-7b/dpo-lora"),
                                     ("zephyr-7b/sft-qlora", "zephyr-7b/dpo-qlora")])
def test_dpo_recipes_start_from_their_sft_adapter(sft, dpo):
    assert _parse(dpo)[0].model_name_or_path == _parse(sft)[2].output_dir
    for recipe in (sft, dpo):
        model, _, args = _parse(recipe)
        assert args.activation_checkpointing and args.bf16 and model.dtype == "bfloat16"


def test_qlora_quantization_config():
    quant = quantization_config(_parse("zephyr-7b/sft-qlora")[0])
    assert isinstance(quant, BitsAndBytesConfig) and quant.load_in_4bit
    assert quant.bnb_4bit_quant_type == "nf4" and quant.bnb_4bit_use_double_quant
    assert quant.bnb_4bit_compute_dtype == torch.bfloat16
    assert quantization_config(_parse("zephyr-7b/sft-lora")[0]) is None


def test_one_target_module_on_the_command_line_stays_a_name():
    model, _, _ = _parse("zephyr-7b/sft-lora", "--lora_target_modules", "q_proj")
    assert lora_config(model).target_modules == {"q_proj"}


def test_quantized_weights_need_an_adapter():
    with pytest.raises(RecipeError, match="load_in_4bit=true without use_peft.*use_peft: true"):
        _parse("zephyr-7b/sft-qlora", "--use_peft", "false")


def test_lora_needs_a_saved_base():
    with pytest.raises(RecipeError, match="needs a saved base model"):
        parse_args(ZephyrSFTConfig, ["--config", "smoke/sft", "--use_peft", "true"])


@pytest.fixture
def no_model_loading(monkeypatch):
    """Any attempt to load weights fails the test: the errors below must come first."""
    def forbidden(*args, **kwargs):
        raise AssertionError("a model was loaded before the recipe was validated")

    monkeypatch.setattr(zephyr_train.runner, "load_model", forbidden)


@pytest.mark.parametrize("main,recipe", [(sft_main, "zephyr-7b/sft-qlora"),
                                         (dpo_main, "zephyr-7b/dpo-qlora")])
def test_qlora_without_cuda(no_model_loading, monkeypatch, main, recipe):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RecipeError) as err:
        main(["--config", recipe, *CPU])
    message = str(err.value)
    assert "load_in_4bit=true (QLoRA) needs a CUDA GPU" in message  # the problem
    assert "torch.cuda.is_available() is False" in message  # what was found
    assert "zephyr-7b/sft-lora" in message and "--load_in_4bit false" in message  # the fix


def test_qlora_without_bitsandbytes(no_model_loading, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(zephyr_train.lora.importlib.util, "find_spec",
                        lambda name, *a: None if name == "bitsandbytes" else find_spec(name, *a))
    with pytest.raises(RecipeError, match=r"needs the bitsandbytes package.*\.\[qlora\]"):
        sft_main(["--config", "zephyr-7b/sft-qlora", *CPU])


@pytest.fixture
def tiny_base(tmp_path):
    """A directory holding only a model config: enough for every check before loading."""
    MistralConfig(vocab_size=32000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2).save_pretrained(tmp_path)
    return tmp_path


@pytest.mark.parametrize("targets", [["q_proj", "wq", "w2"], ["all_linear"]])
def test_target_module_the_model_lacks(no_model_loading, tiny_base, targets):
    with pytest.raises(RecipeError) as err:
        sft_main(["--config", "smoke/sft-lora", "--model_name_or_path", str(tiny_base),
                  "--dataset_name", "not-read", "--lora_target_modules", *targets])
    message = str(err.value)
    missing = sorted(t for t in targets if t != "q_proj")
    assert f"lora_target_modules {missing} match no module" in message
    assert ("Its linear modules are ['down_proj', 'gate_proj', 'k_proj', 'lm_head', 'o_proj', "
            "'q_proj', 'up_proj', 'v_proj']") in message
    assert "'all-linear'" in message


def test_adapter_whose_base_is_gone(no_model_loading, tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(
        '{"peft_type": "LORA", "base_model_name_or_path": "%s"}' % (tmp_path / "gone"))
    with pytest.raises(RecipeError, match="base_model_name_or_path of .*does not exist"):
        dpo_main(["--config", "smoke/dpo-lora", "--model_name_or_path", str(adapter),
                  "--dataset_name", "not-read"])


def test_task_from_the_recipe_name(capsys):
    assert [recipe_task(Path(f"{name}.yaml")) for name in ("sft", "dpo-qlora", "sft-lora")] == [
        "sft", "dpo", "sft"]
    with pytest.raises(RecipeError, match="pass --task sft|dpo"):
        recipe_task(Path("zephyr-lora.yaml"))
    slurm_main(["--recipe", "zephyr-7b/dpo-qlora", "--print-sbatch"], env={})
    assert "srun python -m zephyr_train.slurm --recipe zephyr-7b/dpo-qlora" in \
        capsys.readouterr().out
