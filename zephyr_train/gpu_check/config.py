"""The GPU check's arguments. The defaults are the check sized for one H200; the packaged preset
``gpu_check/dry_run`` shrinks everything for a CPU dry run."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from zephyr_train.configs import RecipeError
from zephyr_train.plan import KNOWN_ARCHITECTURES

BASE_ARCHITECTURE = "mistralai/Mistral-7B-v0.1"


@dataclass
class GPUCheckArguments:
    """What the check trains, how much, and where it reads and writes."""

    bundle: str = field(
        default=".whl/gpu_check",
        metadata={"help": "Folder made by `python -m zephyr_train.gpu_check.pack`: the sample "
                  "builds (parquet), the Mistral tokenizer and the MT-Bench questions."})
    output_dir: str = field(
        default="outputs/gpu_check",
        metadata={"help": "Where gpu_check.json and the MT-Bench answers go."})
    checkpoint_dir: str | None = field(
        default=None,
        metadata={"help": "Where the SFT and DPO checkpoints go (default: a temporary folder, "
                  "removed at the end)."})
    device: str = field(default="cuda", metadata={"help": "cuda, or cpu for a dry run."})
    num_hidden_layers: int = field(
        default=4, metadata={"help": "Layers of the Mistral-7B-shaped model (7B has 32)."})
    random_init_config: dict | str | None = field(
        default=None,
        metadata={"help": "MistralConfig arguments (JSON) replacing the Mistral-7B shape "
                  "(hidden 4096, 32 heads, 8 KV heads, MLP 14336, vocabulary 32000)."})
    dtype: str = field(
        default="float32",
        metadata={"help": "Weights (and optimizer) dtype; with bf16=true the matrix products "
                  "run in bf16 under autocast (mixed precision)."})
    attn_implementation: str = field(
        default="flash_attention_2",
        metadata={"help": "flash_attention_2 (sdpa when flash-attn is missing), sdpa or eager."})
    bf16: bool = field(default=True, metadata={"help": "bf16 mixed precision."})
    activation_checkpointing: bool = field(
        default=True, metadata={"help": "Gradient checkpointing, as the zephyr-7b recipes."})

    sft_recipe: str = field(default="zephyr-7b/sft", metadata={"help": "SFT recipe to run."})
    sft_steps: int = field(default=30, metadata={"help": "SFT optimizer steps."})
    sft_per_device_batch: int = field(default=8, metadata={"help": "Packed sequences per "
                                                           "micro-batch."})
    sft_global_batch: int = field(default=16, metadata={"help": "Packed sequences per step."})
    max_length: int = field(default=2048, metadata={"help": "SFT packing length."})
    sft_learning_rate: float = field(
        default=1e-4, metadata={"help": "Above the recipe's 2e-5, so that 30 steps from random "
                                "weights move the loss visibly."})

    dpo_recipe: str = field(default="zephyr-7b/dpo", metadata={"help": "DPO recipe to run."})
    dpo_steps: int = field(default=10, metadata={"help": "DPO optimizer steps."})
    dpo_per_device_batch: int = field(default=16, metadata={"help": "Pairs per micro-batch."})
    dpo_global_batch: int = field(default=32, metadata={"help": "Pairs per step (the recipe's)."})
    dpo_max_length: int = field(default=1024, metadata={"help": "DPO max_length (the recipe's)."})
    dpo_learning_rate: float = field(default=5e-6, metadata={"help": "DPO learning rate."})

    timing_warmup_steps: int = field(
        default=3, metadata={"help": "First steps of each run left out of tokens/s and MFU "
                             "(CUDA and kernel warm-up)."})
    questions: int = field(
        default=8, metadata={"help": "MT-Bench questions to answer (the bundle holds the first "
                             "of each category)."})
    max_new_tokens: int = field(default=128, metadata={"help": "Tokens per answer turn, at most."})
    generation_batch_size: int = field(default=8, metadata={"help": "Questions per generate."})
    peak_tflops: float | None = field(
        default=None, metadata={"help": "Peak bf16 TFLOP/s of the device for MFU (default: TRL's "
                                "table by CUDA device name)."})
    seed: int = field(default=42, metadata={"help": "Seed of the weights, data order and "
                                            "sampling."})
    estimate: bool = field(
        default=False, metadata={"help": "Only print the expected time of the check on the GPU "
                                 "kind of --estimate_gpu and exit."})
    estimate_gpu: str = field(default="h200", metadata={"help": "GPU kind for --estimate."})
    estimate_mfu: float = field(default=0.30, metadata={"help": "MFU assumed by --estimate."})

    def __post_init__(self):
        if isinstance(self.random_init_config, str):
            try:
                self.random_init_config = json.loads(self.random_init_config)
            except json.JSONDecodeError as err:
                raise RecipeError(
                    f"random_init_config={self.random_init_config!r} is not JSON; pass an object "
                    'such as \'{"hidden_size": 64, ...}\'.') from err
        if self.device not in ("cuda", "cpu"):
            raise RecipeError(f"device={self.device!r} must be 'cuda' (the check) or 'cpu' (a dry "
                              "run, e.g. --config gpu_check/dry_run).")
        for part in ("sft", "dpo"):
            per_device = getattr(self, f"{part}_per_device_batch")
            total = getattr(self, f"{part}_global_batch")
            if per_device < 1 or total % per_device:
                raise RecipeError(
                    f"{part}_global_batch={total} must be a multiple of {part}_per_device_batch="
                    f"{per_device} (one process: accumulation = global / per-device batch).")
            steps = getattr(self, f"{part}_steps")
            if steps <= self.timing_warmup_steps:
                raise RecipeError(
                    f"{part}_steps={steps} leaves no step to time after timing_warmup_steps="
                    f"{self.timing_warmup_steps}; use more steps or fewer warm-up steps.")
        if self.timing_warmup_steps < 0:
            raise RecipeError(f"timing_warmup_steps={self.timing_warmup_steps} must be >= 0.")
        if self.peak_tflops is not None and self.peak_tflops <= 0:
            raise RecipeError(f"peak_tflops={self.peak_tflops} must be positive (TFLOP/s).")
        if not 0 < self.estimate_mfu <= 1:
            raise RecipeError(f"estimate_mfu={self.estimate_mfu} must be in (0, 1], e.g. 0.3.")

    @property
    def model_config(self) -> dict:
        """MistralConfig arguments: Mistral-7B's shape with ``num_hidden_layers`` layers."""
        if self.random_init_config is not None:
            return dict(self.random_init_config)
        return dict(KNOWN_ARCHITECTURES[BASE_ARCHITECTURE],
                    num_hidden_layers=self.num_hidden_layers)

    @property
    def json_path(self) -> Path:
        return Path(self.output_dir) / "gpu_check.json"

    def rows_needed(self, part: str) -> int:
        """Training rows (packed sequences, or pairs) the part consumes."""
        return getattr(self, f"{part}_steps") * getattr(self, f"{part}_global_batch")

    def copies_needed(self, part: str, rows_per_copy: float) -> int:
        """Copies of the sample for one epoch to cover every step (the samples are small)."""
        return max(1, math.ceil(self.rows_needed(part) / max(rows_per_copy, 1e-9)))
