"""The CPU smoke chain end to end: sample -> both pipelines -> SFT -> DPO (issue 5, point 1)."""

from __future__ import annotations

import math

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from zephyr_train.chat_template import ZEPHYR_CHAT_TEMPLATE
from zephyr_train.configs import ZephyrDPOConfig, ZephyrSFTConfig, parse_args

pytestmark = pytest.mark.slow


def _recipe(config_cls, name):
    _, _, args = parse_args(config_cls, ["--config", name, "--dataset_name", "unused"])
    return args


def _logged_lrs(log_history):
    rows = [row for row in log_history if "learning_rate" in row and "loss" in row]
    return [row["step"] for row in rows], [row["learning_rate"] for row in rows]


def _expected_lr(kind, step, peak, warmup, total):
    """LR used for optimizer step ``step`` (1-based): the scheduler's value after step-1 steps."""
    s = step - 1
    if s < warmup:
        return peak * s / max(1, warmup)
    progress = (s - warmup) / max(1, total - warmup)
    if kind == "cosine":
        return peak * 0.5 * (1.0 + math.cos(math.pi * progress))
    return peak * max(0.0, (total - s) / max(1, total - warmup))


def _check_schedule(log_history, args, kind, other):
    total = args.max_steps
    warmup = math.ceil(args.warmup_steps * total)  # warmup_steps < 1 is a share of all steps
    assert warmup >= 2, "the smoke recipe should warm up over more than one step"
    steps, lrs = _logged_lrs(log_history)
    assert steps == list(range(1, total + 1))
    peak = args.learning_rate
    expected = [_expected_lr(kind, s, peak, warmup, total) for s in steps]
    assert lrs == pytest.approx(expected, rel=1e-5, abs=1e-12)
    # Warmup share: rising for `warmup` steps, peak right after, then decaying.
    assert all(a < b for a, b in zip(lrs[:warmup], lrs[1:warmup + 1], strict=True))
    assert lrs[warmup] == pytest.approx(peak)
    assert all(a >= b for a, b in zip(lrs[warmup:-1], lrs[warmup + 1:], strict=True))
    # ... and the other schedule shape would not have matched.
    wrong = [_expected_lr(other, s, peak, warmup, total) for s in steps]
    assert lrs != pytest.approx(wrong, rel=1e-3)


def _check_checkpoint(path):
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert tokenizer.chat_template == ZEPHYR_CHAT_TEMPLATE
    assert len(tokenizer) == 32000
    text = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False,
                                         add_generation_prompt=True)
    assert text == "<|user|>\nHi</s>\n<|assistant|>\n"
    model = AutoModelForCausalLM.from_pretrained(path)
    assert model.config.model_type == "mistral" and model.config.vocab_size == 32000
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    assert model(**ids).logits.shape[-1] == 32000


def test_sft_stage(sft_checkpoint):
    path, log_history = sft_checkpoint
    _check_checkpoint(path)
    args = _recipe(ZephyrSFTConfig, "smoke/sft")
    assert args.lr_scheduler_type.value == "cosine"
    _check_schedule(log_history, args, "cosine", other="linear")
    losses = [row["loss"] for row in log_history if "loss" in row]
    assert losses[-1] < losses[0]  # it learned something


def test_dpo_stage_from_the_sft_checkpoint(dpo_checkpoint, sft_checkpoint):
    path, log_history = dpo_checkpoint
    _check_checkpoint(path)
    args = _recipe(ZephyrDPOConfig, "smoke/dpo")
    assert args.lr_scheduler_type.value == "linear" and args.beta == 0.1
    _check_schedule(log_history, args, "linear", other="cosine")
    assert any("rewards/margins" in row for row in log_history)
    # DPO started from the SFT weights, not from scratch: the reference (= SFT) log-probs of the
    # first step equal the policy's, so the first loss is log(2).
    first = next(row for row in log_history if "loss" in row)
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-3)
