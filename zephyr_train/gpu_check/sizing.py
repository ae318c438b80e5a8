"""How long the check should take on a GPU: the model FLOPs of its tokens at a stated MFU, plus
the fixed costs around them (stated assumptions, to be replaced by measured figures)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from transformers import MistralConfig

from zephyr_train.flops import GPU_KINDS, PEAK_BF16_FLOPS, training_flops_per_token
from zephyr_train.gpu_check.config import GPUCheckArguments

# Assumptions for the parts that are not matrix products (seconds unless said otherwise).
WHEEL_INSTALL_S = 20.0    # pip --no-index --no-deps --no-compile: 5 wheels, 14.7 MiB
STARTUP_S = 30.0          # imports of torch/transformers/trl/datasets, CUDA context, cuBLAS
# TRL's chat template, tokenization and packing; measured on 2 busy CPU cores (2026-12-01):
# 2,581 conversations in 11.6 s, 330 pairs in 4.5 s (model building included).
SFT_PREPARE_S_PER_1K_ROWS = 5.0
DPO_PREPARE_S_PER_1K_PAIRS = 15.0
DISK_BYTES_PER_S = 0.5e9  # checkpoint writes and reads
DECODE_STEP_S = 0.02      # one token of batched model.generate (Python-bound at 4 layers)
MT_BENCH_TEMPERATURE_GROUPS = 3  # FastChat: 0.7, 0.0 and 0.1; one generate call per group
# The bundled sample builds, with the Mistral tokenizer and the Zephyr template.
SAMPLE_SFT_ROWS, SAMPLE_SFT_TOKENS, SAMPLE_DPO_PAIRS = 89, 35_161, 110


@dataclass
class Row:
    what: str
    seconds: float
    how: str


def estimate(args: GPUCheckArguments, *, gpu: str, mfu: float) -> list[Row]:
    """Expected seconds of each stage of the check on one ``gpu`` at ``mfu``; DPO and generation
    are upper bounds (every pair at max_length, every answer at max_new_tokens)."""
    from zephyr_train.plan import count_parameters

    config = MistralConfig(**args.model_config)
    params, _ = count_parameters(config)
    rate = PEAK_BF16_FLOPS[gpu] * mfu
    sft_tokens = args.rows_needed("sft") * args.max_length
    sft_flops = sft_tokens * training_flops_per_token(config, args.max_length)
    dpo_tokens = args.rows_needed("dpo") * 2 * args.dpo_max_length
    dpo_flops = dpo_tokens * training_flops_per_token(config, args.dpo_max_length,
                                                      reference_forward=True)
    sft_rows = SAMPLE_SFT_ROWS * (args.copies_needed("sft", SAMPLE_SFT_TOKENS / args.max_length)
                                  + 1)
    dpo_pairs = SAMPLE_DPO_PAIRS * args.copies_needed("dpo", SAMPLE_DPO_PAIRS)
    checkpoint = 2 * params  # bf16
    groups = min(args.questions, MT_BENCH_TEMPERATURE_GROUPS)
    calls = 2 * max(groups, math.ceil(args.questions / args.generation_batch_size))
    decode_steps = calls * args.max_new_tokens
    return [
        Row("install wheels", WHEEL_INSTALL_S, "assumed"),
        Row("start-up", STARTUP_S, "assumed: imports, CUDA context"),
        Row("SFT data", sft_rows / 1000 * SFT_PREPARE_S_PER_1K_ROWS,
            f"{sft_rows:,} conversations tokenized and packed"),
        Row("SFT training", sft_flops / rate,
            f"{sft_tokens:,} tokens x {sft_flops / sft_tokens / 1e9:.2f} GFLOP at {mfu:.0%} MFU"),
        Row("SFT save", checkpoint / DISK_BYTES_PER_S, f"{checkpoint / 1e9:.1f} GB bf16"),
        Row("DPO data and load", dpo_pairs / 1000 * DPO_PREPARE_S_PER_1K_PAIRS
            + 2 * checkpoint / DISK_BYTES_PER_S, f"{dpo_pairs} pairs; policy and reference"),
        Row("DPO training", dpo_flops / rate,
            f"<= {dpo_tokens:,} tokens x {dpo_flops / dpo_tokens / 1e9:.2f} GFLOP at {mfu:.0%} "
            "MFU"),
        Row("DPO save and load", 2 * checkpoint / DISK_BYTES_PER_S, "for generation"),
        Row("generation", decode_steps * DECODE_STEP_S,
            f"<= {decode_steps:,} decode steps x {DECODE_STEP_S * 1000:.0f} ms"),
    ]


def format_estimate(args: GPUCheckArguments, *, gpu: str, mfu: float) -> str:
    rows = estimate(args, gpu=gpu, mfu=mfu)
    total = sum(r.seconds for r in rows)
    lines = [f"Expected time of the check on one {GPU_KINDS[gpu][0]} (peak "
             f"{PEAK_BF16_FLOPS[gpu] / 1e12:.0f} TFLOP/s bf16) at {mfu:.0%} MFU:"]
    lines += [f"  {r.what:<20}{r.seconds:>7.1f} s  {r.how}" for r in rows]
    lines.append(f"  {'total':<20}{total:>7.1f} s  ({total / 60:.1f} min)")
    return "\n".join(lines)
