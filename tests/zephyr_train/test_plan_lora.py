"""The plan of the LoRA and QLoRA recipes (issue 17, point 3): parameters and bytes per parameter
a reader can check, memory per GPU on a 24 GB and an 80 GB GPU, time on 1 and 8 GPUs; and the
activation formula against the tensors autograd really keeps."""

from __future__ import annotations

import re

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, BitsAndBytesConfig, MistralConfig
from trl.trainer.utils import add_fused_lm_head

from zephyr_train.lora import meta_model
from zephyr_train.plan import PEAK_BF16_FLOPS
from zephyr_train.plan import main as plan_main
from zephyr_train.plan_lora import GIB, bytes_per_4bit_weight, lora_memory

N = 7_241_732_096  # Mistral-7B-v0.1
L, D, F, D_KV, H, V = 32, 4096, 14336, 1024, 32, 32000
LINEAR_IN_LAYERS = L * (2 * D * D + 2 * D * D_KV + 3 * D * F)  # q, o; k, v; gate, up, down
LORA_IN_OUT = 2 * (D + D) + 2 * (D + D_KV) + 3 * (D + F)  # r x (in + out) summed, per layer
LORA_INPUTS = 6 * D + F  # in_features of the seven projections of a layer
PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@pytest.fixture(autouse=True)
def _single_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)


def _activations(tokens, r, a):
    """Bytes kept for backward, by the formula the plan prints."""
    layer = 12 * D + 6 * F + 4 * D_KV + 4 * H + 8 + (2 + a) * LORA_INPUTS + 7 * a * r
    return tokens * (L * 2 * D + layer + 6 * D + 16)


def _plan(recipe, capsys, *extra):
    plan = plan_main(["--config", recipe, "--architecture", "mistralai/Mistral-7B-v0.1", *extra])
    return plan, capsys.readouterr().out


@pytest.mark.parametrize("recipe,r,tokens", [("zephyr-7b/sft-qlora", 16, 4 * 2048),
                                             ("zephyr-7b/dpo-qlora", 128, 2 * 4 * 1024)])
def test_qlora_plan_on_24gb_and_80gb(capsys, recipe, r, tokens):
    plan, out = _plan(recipe, capsys)
    m = plan.memory
    assert plan.total_params == N
    assert m.quantized_params == LINEAR_IN_LAYERS == 6_979_321_856
    assert m.dense_params == N - LINEAR_IN_LAYERS == 2 * V * D + (2 * L + 1) * D
    assert m.quantized_bytes_per_param == 0.5 + 1 / 64 + 4 / (64 * 256)  # NF4 + double quant
    assert m.adapter_params == L * r * LORA_IN_OUT
    assert m.adapter_bytes_per_param == 8  # bf16 weight and gradient, two bf16 AdamW states
    assert m.tokens == tokens
    expected = (LINEAR_IN_LAYERS * (0.5 + 1 / 64 + 4 / 16384) + m.dense_params * 2
                + m.adapter_params * 8 + _activations(tokens, r, a=2))
    assert m.total == pytest.approx(expected)
    assert 7 * GIB < m.total < 12 * GIB  # 4-bit 7B: fits one 24 GB GPU with room to spare
    for text in (f"model parameters           {N:,}",
                 f"trainable parameters       {m.adapter_params:,}",
                 "frozen linear weights  6,979,321,856 x 0.5159 B (NF4 4-bit, double quantization)",
                 f"other frozen weights   {m.dense_params:,} x 2 B (bfloat16",
                 f"adapter                {m.adapter_params:,} x 8 B (bf16 weight 2 + gradient 2 "
                 "+ AdamW states 4)",
                 f"total                  {m.total / GIB:.2f} GiB"):
        assert text in out
    rows = {(row["gpu"], row["gpus"]): row for row in plan.rows}
    assert set(rows) == {("rtx4090-24gb", 1), ("rtx4090-24gb", 8), ("a100-80gb", 1),
                         ("a100-80gb", 8)}
    assert all(row["fits"] for row in plan.rows)
    for gpu in ("rtx4090-24gb", "a100-80gb"):
        one, eight = rows[(gpu, 1)], rows[(gpu, 8)]
        assert one["grad_accum"] == 8 * eight["grad_accum"]
        assert one["hours"] == pytest.approx(8 * eight["hours"])
        for row in (one, eight):
            assert re.search(rf"{gpu} +{row['gib']} GiB +yes +{row['gpus']} +"
                             rf"{row['grad_accum']} +{row['seconds_per_step']:.1f} +"
                             rf"{row['hours']:.1f} h", out)
    assert "24 GiB" in out and "80 GiB" in out
    # Time: FLOPs per token x tokens per step x steps / (GPUs x peak x MFU).
    flops = (4 * N + 6 * m.adapter_params + 12 * L * D * plan.max_length
             + (2 * N + 4 * L * D * plan.max_length if plan.task == "dpo" else 0))
    assert plan.flops_per_token == flops
    assert rows[("a100-80gb", 8)]["hours"] == pytest.approx(
        flops * plan.tokens_per_step * plan.total_steps
        / (8 * PEAK_BF16_FLOPS["a100-80gb"] * 0.35) / 3600)


def test_lora_dpo_needs_more_than_24gb(capsys):
    plan, out = _plan("zephyr-7b/dpo-lora", capsys)
    m = plan.memory
    assert m.quantized_params == 0 and m.weights == 2 * N  # bf16 weights
    assert m.adapter_bytes_per_param == 16  # fp32 weight, gradient, two AdamW states
    assert m.total == pytest.approx(2 * N + 16 * m.adapter_params
                                    + _activations(8 * 1024, 128, a=4))
    fits = {(row["gpu"], row["gpus"]): row["fits"] for row in plan.rows}
    assert fits == {("rtx4090-24gb", 1): False, ("rtx4090-24gb", 8): False,
                    ("a100-80gb", 1): True, ("a100-80gb", 8): True}
    assert "NO" in out


def test_plan_compares_other_gpus(capsys):
    plan, out = _plan("zephyr-7b/sft-lora", capsys, "--compare_gpus", "l4-24gb,h100-80gb",
                      "--gpu_counts", "1,2,8")
    assert [(row["gpu"], row["gpus"]) for row in plan.rows] == [
        ("l4-24gb", 1), ("l4-24gb", 2), ("l4-24gb", 8),
        ("h100-80gb", 1), ("h100-80gb", 2), ("h100-80gb", 8)]


# ---- the activation formula against what autograd keeps -------------------------------------

TINY = dict(vocab_size=512, hidden_size=128, intermediate_size=448, num_attention_heads=4,
            num_key_value_heads=2, attn_implementation="sdpa", tie_word_embeddings=False)


def _lora() -> LoraConfig:
    return LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=PROJECTIONS)


def _saved_bytes(fn) -> int:
    """Bytes of the distinct tensors autograd saves for backward while ``fn`` runs, weights
    excluded (the caller passes them through ``exclude``)."""
    seen: dict[int, int] = {}

    def pack(t):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), \
            torch.autocast("cpu", dtype=torch.bfloat16):
        exclude = fn()
    return sum(v for k, v in seen.items() if k not in exclude)


def _storages(*tensors) -> set[int]:
    return {t.untyped_storage().data_ptr() for t in tensors}


@pytest.mark.parametrize("adapter_fp32", [True, False])
def test_layer_activation_formula_matches_saved_tensors(adapter_fp32):
    config = MistralConfig(num_hidden_layers=1, **TINY)
    quant = None if adapter_fp32 else BitsAndBytesConfig(load_in_4bit=True)  # bf16 adapters
    estimate = lora_memory(meta_model(config), _lora(), dtype="bfloat16", quantization=quant,
                           optim="adamw_torch", tokens=1, checkpointing=True)

    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16),
                           _lora(), autocast_adapter_dtype=adapter_fp32)
    model.train()
    inner = model.base_model.model.model
    tokens = 256
    x = torch.randn(1, tokens, config.hidden_size, dtype=torch.bfloat16, requires_grad=True)
    position_ids = torch.arange(tokens)[None]
    cos, sin = inner.rotary_emb(x, position_ids)

    def run():
        inner.layers[0](x, attention_mask=None, position_ids=position_ids,
                        position_embeddings=(cos, sin))
        return _storages(x, cos, sin, *model.parameters())

    per_token = _saved_bytes(run) / tokens
    assert per_token == pytest.approx(estimate.layer_bytes_per_token, rel=0.02)


def test_checkpointed_model_keeps_layer_inputs_and_the_fused_head():
    config = MistralConfig(num_hidden_layers=3, **TINY)
    tokens = 256
    estimate = lora_memory(meta_model(config), _lora(), dtype="bfloat16", quantization=None,
                           optim="adamw_torch", tokens=tokens, checkpointing=True)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    add_fused_lm_head(model)  # as TRL's SFT and DPO trainers do
    model = get_peft_model(model, _lora())
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
    model.train()
    ids = torch.randint(0, config.vocab_size, (1, tokens))

    def run():
        model(input_ids=ids, labels=ids, fused_lm_head=True)
        return _storages(*model.parameters())

    assert _saved_bytes(run) == pytest.approx(estimate.checkpoints + estimate.head, rel=0.02)


@pytest.mark.parametrize("double_quant", [False, True])
def test_4bit_bytes_per_weight_match_bitsandbytes(double_quant):
    functional = pytest.importorskip("bitsandbytes.functional")  # the optional qlora extra
    weight = torch.randn(256, 1024, dtype=torch.bfloat16)
    packed, state = functional.quantize_4bit(weight, blocksize=64, quant_type="nf4",
                                             compress_statistics=double_quant)
    stored = [packed, state.absmax] + ([state.state2.absmax] if double_quant else [])
    nbytes = sum(t.numel() * t.element_size() for t in stored)
    assert nbytes / weight.numel() == bytes_per_4bit_weight(double_quant)
