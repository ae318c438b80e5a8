"""The parts of the GPU check. Each fills its ``result`` dict as it goes (so that a failure keeps
what was measured before it) and raises with a clear message when something is wrong.

SFT and DPO run the packaged zephyr-7b recipes through the project's own parser, data loading
and model loading, with the check's sizes as command-line overrides, in TRL's trainers; the
answers are written by ``zephyr_train.generate`` in FastChat's MT-Bench format.
"""

from __future__ import annotations

import copy
import json
import math
import platform
import sys
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from zephyr_train.gpu_check.bundle import Bundle
from zephyr_train.gpu_check.config import GPUCheckArguments
from zephyr_train.gpu_check.metrics import (
    GIB,
    FlopCounter,
    StepTimer,
    peak_memory,
    reset_peak_memory,
    throughput,
)
from zephyr_train.gpu_check.wheels import unmet_here

PACKAGES = ("torch", "transformers", "trl", "datasets", "accelerate", "peft", "pyarrow", "pandas",
            "tokenizers", "sentencepiece", "safetensors", "huggingface-hub", "numpy", "dill",
            "multiprocess", "flash-attn")
MODEL_ID = "zephyr-gpu-check"
FASTCHAT_KEYS = {"question_id", "answer_id", "model_id", "choices", "tstamp"}


@dataclass
class Context:
    args: GPUCheckArguments
    bundle: Bundle
    device: torch.device
    device_name: str
    peak_flops: float | None
    peak_source: str
    checkpoints: Path
    sft_dir: Path | None = None
    dpo_dir: Path | None = None


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _require_device(ctx: Context) -> None:
    if ctx.device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device=cuda, but torch {torch.__version__} sees no CUDA device (CUDA build "
            f"{torch.version.cuda}). Run on the GPU machine, or dry-run on the CPU with "
            "--config gpu_check/dry_run.")


def environment(ctx: Context, result: dict) -> None:
    """Versions, device, peak FLOP/s, attention kernels, and the bundle's files."""
    from transformers.utils import is_flash_attn_2_available

    from zephyr_train.modeling import resolve_attn_implementation

    result.update(python=sys.version.split()[0], platform=platform.platform(),
                  cuda_build=torch.version.cuda, cuda_available=torch.cuda.is_available(),
                  device=ctx.device_name, peak_bf16_flops=ctx.peak_flops,
                  peak_source=ctx.peak_source,
                  packages={name: _version(name) for name in PACKAGES})
    if ctx.device.type == "cuda" and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(ctx.device)
        sdpa = torch.backends.cuda
        result.update(device_count=torch.cuda.device_count(),
                      device_memory_gib=props.total_memory / GIB,
                      compute_capability=f"{props.major}.{props.minor}",
                      bf16_supported=torch.cuda.is_bf16_supported(),
                      sdpa_backends={"flash": sdpa.flash_sdp_enabled(),
                                     "mem_efficient": sdpa.mem_efficient_sdp_enabled(),
                                     "cudnn": sdpa.cudnn_sdp_enabled(),
                                     "math": sdpa.math_sdp_enabled()})
    result["flash_attn_2_available"] = is_flash_attn_2_available()
    result["attn_implementation"] = resolve_attn_implementation(ctx.args.attn_implementation)
    result["unmet_requirements"] = unmet_here(("trl", "datasets", "multiprocess"))
    result["bundle_missing"] = ctx.bundle.missing()
    _require_device(ctx)
    ctx.bundle.require()
    if ctx.peak_flops is None:
        raise RuntimeError(
            f"No peak bf16 FLOP/s known for {ctx.device_name!r}, so MFU cannot be computed (the "
            "rest still runs). Pass --peak_tflops with the datasheet's dense bf16 figure.")


def _recipe_argv(ctx: Context, part: str) -> list[str]:
    a = ctx.args
    data = ctx.bundle.ultrachat if part == "sft" else ctx.bundle.ultrafeedback
    argv = ["--config", getattr(a, f"{part}_recipe"), "--dataset_name", str(data),
            "--dataset_test_split", "", "--eval_strategy", "no",
            "--dtype", a.dtype, "--attn_implementation", a.attn_implementation,
            "--max_steps", str(getattr(a, f"{part}_steps")),
            "--global_batch_size", str(getattr(a, f"{part}_global_batch")),
            "--per_device_train_batch_size", str(getattr(a, f"{part}_per_device_batch")),
            "--max_length", str(a.max_length if part == "sft" else a.dpo_max_length),
            "--learning_rate", str(getattr(a, f"{part}_learning_rate")),
            "--bf16", str(a.bf16).lower(),
            "--activation_checkpointing", str(a.activation_checkpointing).lower(),
            "--output_dir", str(ctx.checkpoints / part), "--save_strategy", "no",
            "--logging_steps", "1", "--report_to", "none", "--disable_tqdm", "true",
            "--seed", str(a.seed)]
    return argv + (["--use_cpu", "true"] if ctx.device.type == "cpu" else [])


def _random_model_argv(ctx: Context) -> list[str]:
    return ["--random_init_config", json.dumps(ctx.args.model_config),
            "--tokenizer_name_or_path", str(ctx.bundle.tokenizer)]


def _load_model(ctx: Context, model_args):
    """Random weights are drawn on the device itself (seeded); checkpoints load as usual."""
    from zephyr_train.modeling import load_model

    if model_args.random_init_config is None:
        return load_model(model_args)
    torch.manual_seed(ctx.args.seed)
    with torch.device(ctx.device):
        return load_model(model_args)


def _repeat(dataset, copies: int):
    from datasets import concatenate_datasets

    return dataset if copies == 1 else concatenate_datasets([dataset] * copies)


def _train(ctx: Context, result: dict, part: str, trainer, counter: FlopCounter,
           timer: StepTimer) -> None:
    """Train, then record losses, step times, tokens/s/GPU, MFU and peak memory."""
    reset_peak_memory(ctx.device)
    started = time.perf_counter()
    try:
        trainer.train()
    finally:
        counter.detach()
        result["train_seconds"] = time.perf_counter() - started
        result.update(peak_memory(ctx.device))
        history = trainer.state.log_history
        result["losses"] = [h["loss"] for h in history if "loss" in h]
        result["step_seconds"] = [s.seconds for s in timer.steps]
        result["step_tokens"] = [s.tokens for s in timer.steps]
        result["step_flops"] = [s.flops for s in timer.steps]
        result["throughput"] = throughput(timer.steps, warmup=ctx.args.timing_warmup_steps,
                                          peak_flops=ctx.peak_flops)
        if part == "dpo":
            result["reward_accuracies"] = [h[k] for h in history for k in h
                                           if k.endswith("rewards/accuracies")]
    wanted, losses = getattr(ctx.args, f"{part}_steps"), result["losses"]
    if len(timer.steps) != wanted:
        raise RuntimeError(f"{part.upper()} ran {len(timer.steps)} optimizer steps, not {wanted}.")
    bad = [i + 1 for i, loss in enumerate(losses) if not math.isfinite(loss)]
    if not losses or bad:
        raise RuntimeError(f"{part.upper()} loss is not finite at steps {bad} (losses {losses}): "
                           "the bf16 run diverged or the data is empty.")
    result["loss_first"], result["loss_last"] = losses[0], losses[-1]


def _save(trainer, tokenizer, out: Path) -> None:
    """Save in bf16, as the recipes' ZeRO-3 runs save (16-bit weights)."""
    trainer.model.to(torch.bfloat16)
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))


def sft(ctx: Context, result: dict) -> None:
    """The zephyr-7b SFT recipe on the UltraChat sample build: packed, bf16, random weights."""
    from trl import SFTTrainer

    from zephyr_train.configs import ZephyrSFTConfig, parse_args
    from zephyr_train.data import load_train_eval
    from zephyr_train.modeling import load_tokenizer

    _require_device(ctx)
    ctx.bundle.require()
    started = time.perf_counter()
    model_args, data_args, train_args = parse_args(
        ZephyrSFTConfig, _recipe_argv(ctx, "sft") + _random_model_argv(ctx))
    tokenizer = load_tokenizer(model_args)
    train, _ = load_train_eval(data_args, "sft")
    texts = [tokenizer.apply_chat_template(m, tokenize=False) for m in train["messages"]]
    tokens = sum(len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])
    # One more copy than the arithmetic needs: wrapped packing leaves one short row per epoch.
    copies = ctx.args.copies_needed("sft", tokens / ctx.args.max_length) + 1
    result["data"] = {"dataset": data_args.dataset_name, "rows": len(train),
                      "tokens_per_copy": tokens, "copies": copies,
                      "packed_rows_needed": ctx.args.rows_needed("sft")}
    model = _load_model(ctx, model_args)
    result.update(parameters=model.num_parameters(),
                  attn_implementation=model.config._attn_implementation,
                  packing=train_args.packing_strategy, max_length=train_args.max_length,
                  bf16=train_args.bf16, weights_dtype=str(model.dtype),
                  activation_checkpointing=train_args.activation_checkpointing,
                  gradient_accumulation_steps=train_args.gradient_accumulation_steps)
    counter = FlopCounter(model.config)
    timer = StepTimer(counter, ctx.device)
    trainer = SFTTrainer(model=model, args=train_args, train_dataset=_repeat(train, copies),
                         processing_class=tokenizer, callbacks=[timer])
    result["prepare_seconds"] = time.perf_counter() - started
    counter.attach(trainer.model)
    _train(ctx, result, "sft", trainer, counter, timer)
    out = ctx.checkpoints / "sft"
    _save(trainer, tokenizer, out)
    ctx.sft_dir = out


def dpo(ctx: Context, result: dict) -> None:
    """The zephyr-7b DPO recipe on the UltraFeedback sample build, from the SFT checkpoint (its
    frozen reference loaded from there by TRL), or from random weights if SFT failed."""
    from trl import DPOTrainer

    from zephyr_train.configs import ZephyrDPOConfig, parse_args
    from zephyr_train.data import load_train_eval
    from zephyr_train.modeling import load_tokenizer

    _require_device(ctx)
    ctx.bundle.require()
    started = time.perf_counter()
    argv = _recipe_argv(ctx, "dpo")
    if ctx.sft_dir is not None:
        argv += ["--model_name_or_path", str(ctx.sft_dir)]
        result["starts_from"] = "the SFT checkpoint"
    else:
        argv += _random_model_argv(ctx)
        result["starts_from"] = "random weights (no SFT checkpoint: the SFT part failed)"
    model_args, data_args, train_args = parse_args(ZephyrDPOConfig, argv)
    tokenizer = load_tokenizer(model_args)
    train, _ = load_train_eval(data_args, "dpo")
    copies = ctx.args.copies_needed("dpo", len(train))
    result["data"] = {"dataset": data_args.dataset_name, "pairs": len(train), "copies": copies}
    model = _load_model(ctx, model_args)
    ref_model = None
    if model_args.random_init_config is not None:  # TRL can only load a reference from a path
        ref_model = copy.deepcopy(model).eval().requires_grad_(False)
    result.update(parameters=model.num_parameters(),
                  attn_implementation=model.config._attn_implementation,
                  max_length=train_args.max_length, beta=train_args.beta, bf16=train_args.bf16,
                  weights_dtype=str(model.dtype),
                  activation_checkpointing=train_args.activation_checkpointing,
                  gradient_accumulation_steps=train_args.gradient_accumulation_steps)
    counter = FlopCounter(model.config)
    timer = StepTimer(counter, ctx.device)
    trainer = DPOTrainer(model=model, ref_model=ref_model, args=train_args,
                         train_dataset=_repeat(train, copies), processing_class=tokenizer,
                         callbacks=[timer])
    result["prepare_seconds"] = time.perf_counter() - started
    counter.attach(trainer.model)
    counter.attach(trainer.ref_model, reference=True)
    _train(ctx, result, "dpo", trainer, counter, timer)
    out = ctx.checkpoints / "dpo"
    _save(trainer, tokenizer, out)
    ctx.dpo_dir = out


def _random_checkpoint(ctx: Context) -> Path:
    from zephyr_train.configs import ModelArguments
    from zephyr_train.modeling import load_tokenizer

    model_args = ModelArguments(random_init_config=ctx.args.model_config,
                                tokenizer_name_or_path=str(ctx.bundle.tokenizer),
                                dtype="bfloat16", attn_implementation=ctx.args.attn_implementation)
    out = ctx.checkpoints / "random"
    _load_model(ctx, model_args).save_pretrained(out)
    load_tokenizer(model_args).save_pretrained(out)
    return out


def generation(ctx: Context, result: dict) -> None:
    """MT-Bench answers (both turns, FastChat's temperatures) from the DPO checkpoint, through
    ``zephyr_train.generate``, in FastChat's ``model_answer`` format."""
    from zephyr_data.io.benchmarks import load_mt_bench
    from zephyr_train.backends import TransformersBackend
    from zephyr_train.generate import GenerateArguments, run

    _require_device(ctx)
    ctx.bundle.require()
    model_dir = ctx.dpo_dir or ctx.sft_dir
    result["model"] = ("the DPO checkpoint" if ctx.dpo_dir else "the SFT checkpoint (DPO failed)"
                       if ctx.sft_dir else "random weights (SFT and DPO failed)")
    if model_dir is None:
        model_dir = _random_checkpoint(ctx)
    args = GenerateArguments(
        benchmark="mt_bench", model=str(model_dir), model_id=MODEL_ID,
        questions=str(ctx.bundle.questions), output_dir=ctx.args.output_dir,
        backend="transformers", batch_size=ctx.args.generation_batch_size,
        max_new_tokens=ctx.args.max_new_tokens, limit=ctx.args.questions, seed=ctx.args.seed)
    args.output_path.unlink(missing_ok=True)  # a previous run's answers would be resumed
    backend = TransformersBackend(str(model_dir), dtype="auto", seed=ctx.args.seed)
    reset_peak_memory(ctx.device)
    started = time.perf_counter()
    path = run(args, backend=backend)
    seconds = time.perf_counter() - started
    result.update(peak_memory(ctx.device))
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    result.update(answers_file=str(path), answers=len(records),
                  generated_tokens=backend.generated_tokens, generate_seconds=seconds,
                  tokens_per_second=backend.generated_tokens / seconds if seconds else None,
                  max_new_tokens=args.max_new_tokens, dtype=str(backend.model.dtype),
                  sample=[{"question_id": r["question_id"],
                           "turns": [t[:160] for t in r["choices"][0]["turns"]]}
                          for r in records[:2]])
    expected = {q.question_id: len(q.turns) for q in load_mt_bench(args.questions)[:args.limit]}
    wrong = [r.get("question_id") for r in records if set(r) != FASTCHAT_KEYS
             or r["model_id"] != MODEL_ID
             or len(r["choices"][0]["turns"]) != expected.get(r["question_id"])]
    if wrong or sorted(r["question_id"] for r in records) != sorted(expected):
        raise RuntimeError(f"{path} holds answers to {[r.get('question_id') for r in records]} "
                           f"(malformed: {wrong}); expected one FastChat record per question "
                           f"{sorted(expected)}, with an answer to every turn.")
