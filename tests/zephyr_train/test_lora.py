"""The CPU LoRA chain on the tiny model: LoRA SFT, LoRA DPO from that adapter, merge (issue 17,
point 2). The smoke SFT checkpoint stands in for the base model."""

from __future__ import annotations

import json
import math

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from zephyr_train.chat_template import ZEPHYR_CHAT_TEMPLATE
from zephyr_train.configs import RecipeError
from zephyr_train.lora import adapter_chain, merge_adapters
from zephyr_train.merge import main as merge_main

pytestmark = pytest.mark.slow

PROMPT = [{"role": "user", "content": "Explain the tides simply."},
          {"role": "assistant", "content": "The Moon pulls the sea."}]


def _ids(path):
    tokenizer = AutoTokenizer.from_pretrained(path)
    text = tokenizer.apply_chat_template(PROMPT, tokenize=False)
    return tokenizer(text, return_tensors="pt", add_special_tokens=False)


@torch.no_grad()
def _logits(model, ids):
    model.eval()
    return model(**ids).logits.float()


def _frozen_weights(peft_model) -> dict[str, torch.Tensor]:
    """The base weights inside a peft model, under the base checkpoint's names."""
    out = {}
    for name, param in peft_model.named_parameters():
        if "lora_" not in name:
            out[name.removeprefix("base_model.model.").replace(".base_layer", "")] = param
    return out


def _check_only_adapter_trained(trainer, base_state: dict[str, torch.Tensor], adapter_dir):
    model = trainer.model
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_A" in n or "lora_B" in n for n in trainable)
    frozen = _frozen_weights(model)
    assert set(frozen) == set(base_state)
    for name, value in base_state.items():
        assert torch.equal(frozen[name].detach().cpu(), value), f"{name} changed"
    saved = load_file(adapter_dir / "adapter_model.safetensors")
    assert saved and all("lora_A" in k or "lora_B" in k for k in saved)
    # lora_B starts at zero; training moved every one of them.
    assert all(v.abs().sum() > 0 for k, v in saved.items() if "lora_B" in k)


def _check_saved_with_tokenizer(adapter_dir):
    tokenizer = AutoTokenizer.from_pretrained(adapter_dir)
    assert tokenizer.chat_template == ZEPHYR_CHAT_TEMPLATE
    assert len(tokenizer) == 32000


def test_lora_sft_trains_only_the_adapter(sft_checkpoint, lora_sft_checkpoint):
    base_dir, _ = sft_checkpoint
    adapter_dir, trainer = lora_sft_checkpoint
    _check_only_adapter_trained(trainer, load_file(base_dir / "model.safetensors"), adapter_dir)
    _check_saved_with_tokenizer(adapter_dir)
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(base_dir.resolve())
    assert (config["r"], config["lora_alpha"], config["lora_dropout"]) == (8, 16, 0.05)
    assert sorted(config["target_modules"]) == sorted(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    assert not (adapter_dir / "model.safetensors").exists()  # the adapter only


def _merged_sft(base_dir, sft_adapter):
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    return merge_adapters(model, [sft_adapter])


def test_lora_dpo_from_the_sft_adapter(sft_checkpoint, lora_sft_checkpoint,
                                       lora_dpo_checkpoint):
    base_dir, _ = sft_checkpoint
    sft_adapter, _ = lora_sft_checkpoint
    dpo_adapter, trainer = lora_dpo_checkpoint
    merged_sft = _merged_sft(base_dir, sft_adapter)

    # The SFT adapter was merged, and DPO left those weights bitwise alone.
    _check_only_adapter_trained(trainer, merged_sft.state_dict(), dpo_adapter)
    _check_saved_with_tokenizer(dpo_adapter)
    assert adapter_chain(str(dpo_adapter)) == (str(base_dir.resolve()), "main",
                                               [sft_adapter.resolve(), dpo_adapter.resolve()])

    # The reference is the same model with the adapter disabled, i.e. the SFT model: no copy.
    assert trainer.ref_model is None
    ids = _ids(dpo_adapter)
    with trainer.model.disable_adapter():
        reference = _logits(trainer.model, ids)
    torch.testing.assert_close(reference, _logits(merged_sft, ids), rtol=0, atol=1e-5)
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    assert not torch.allclose(reference, _logits(base, ids), atol=1e-3)  # SFT moved it
    # Policy == reference before the first update: the first loss is log 2.
    first = next(row for row in trainer.state.log_history if "loss" in row)
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-4)
    assert _logits(trainer.model, ids).sub(reference).abs().max() > 1e-5  # DPO moved it


def test_merge_equals_base_plus_adapter_and_reloads(sft_checkpoint, lora_sft_checkpoint,
                                                    lora_dpo_checkpoint, tmp_path):
    base_dir, _ = sft_checkpoint
    sft_adapter, _ = lora_sft_checkpoint
    dpo_adapter, trainer = lora_dpo_checkpoint
    out = merge_main(["--adapter", str(dpo_adapter), "--output", str(tmp_path / "merged")])

    merged = AutoModelForCausalLM.from_pretrained(out)
    assert merged.dtype == torch.float32  # the base's dtype
    assert not any("lora" in name for name in merged.state_dict())
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.chat_template == ZEPHYR_CHAT_TEMPLATE
    assert tokenizer.apply_chat_template(PROMPT[:1], tokenize=False, add_generation_prompt=True) \
        == "<|user|>\nExplain the tides simply.</s>\n<|assistant|>\n"

    ids = _ids(out)
    unmerged = PeftModel.from_pretrained(_merged_sft(base_dir, sft_adapter), str(dpo_adapter))
    expected = _logits(unmerged, ids)
    torch.testing.assert_close(_logits(merged, ids), expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(_logits(trainer.model, ids), expected, rtol=1e-4, atol=1e-4)


def test_merge_keeps_a_bf16_base_in_bf16(sft_checkpoint, tmp_path):
    base_dir, _ = sft_checkpoint
    bf16_base = tmp_path / "base-bf16"
    AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.bfloat16).save_pretrained(bf16_base)
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(bf16_base)
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(bf16_base)
    adapter = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, init_lora_weights=False,
                                              target_modules=["q_proj", "down_proj"]))
    adapter.save_pretrained(tmp_path / "adapter")
    ids = _ids(base_dir)
    expected = _logits(adapter, ids)

    out = merge_main(["--adapter", str(tmp_path / "adapter"), "--output", str(tmp_path / "m")])
    merged = AutoModelForCausalLM.from_pretrained(out)
    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"
    assert {p.dtype for p in merged.parameters()} == {torch.bfloat16}
    # No tokenizer beside this adapter: the base's is used, with the Zephyr template.
    assert AutoTokenizer.from_pretrained(out).chat_template == ZEPHYR_CHAT_TEMPLATE
    torch.testing.assert_close(_logits(merged, ids), expected, rtol=0.05, atol=0.05)
    assert not torch.allclose(_logits(merged, ids), _logits(
        AutoModelForCausalLM.from_pretrained(bf16_base), ids), atol=0.05)


def test_merge_needs_an_adapter_and_a_base(sft_checkpoint, tmp_path):
    base_dir, _ = sft_checkpoint
    with pytest.raises(RecipeError, match="not an adapter directory"):
        merge_main(["--adapter", str(base_dir), "--output", str(tmp_path / "m")])
    adapter = tmp_path / "orphan"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "base_model_name_or_path": str(tmp_path / "gone")}))
    with pytest.raises(RecipeError, match="pass --base"):
        merge_main(["--adapter", str(adapter), "--output", str(tmp_path / "m")])
