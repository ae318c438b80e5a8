"""Model FLOPs per token and peak bf16 FLOP/s per GPU: one place for the plan (``plan.py``) and
the measured MFU of the GPU check (``gpu_check``).

Both come from TRL (``trl.trainer.utils``): ``compute_flops_per_token`` (3 x the forward's matrix
products: every layer's projections and MLP, the attention scores ``Q·Kᵀ`` and ``attn·V`` over the
full sequence as in PaLM/Megatron, and the LM head; the embedding lookup costs nothing) and
``get_peak_flops``, TorchTitan's table of dense peak FLOP/s by device name.
"""

from __future__ import annotations

from trl.trainer.utils import compute_flops_per_token, get_peak_flops

# The GPU kinds a plan can name: the device name CUDA reports for it, and its memory in GiB.
GPU_KINDS = {
    "a100-40gb": ("NVIDIA A100-SXM4-40GB", 40),
    "a100-80gb": ("NVIDIA A100-SXM4-80GB", 80),
    "h100-80gb": ("NVIDIA H100 80GB HBM3", 80),
    "h200": ("NVIDIA H200", 141),
    "a10-24gb": ("NVIDIA A10", 24),
    "l4-24gb": ("NVIDIA L4", 24),
    "rtx4090-24gb": ("NVIDIA GeForce RTX 4090", 24),
}
# Dense bf16 peaks (fp32 accumulation, vendor datasheets) of the kinds TRL's table lacks.
_MISSING_PEAKS = {"NVIDIA GeForce RTX 4090": 165e12}


def peak_bf16_flops(device_name: str) -> float | None:
    """Dense bf16 peak FLOP/s of one GPU, from its CUDA device name; None when unknown."""
    return get_peak_flops(device_name, "bfloat16") or _MISSING_PEAKS.get(device_name)


PEAK_BF16_FLOPS = {kind: peak_bf16_flops(name) for kind, (name, _) in GPU_KINDS.items()}
GPU_MEMORY_GIB = {kind: gib for kind, (_, gib) in GPU_KINDS.items()}


def training_flops_per_token(config, seq_len: int, *, reference_forward: bool = False) -> float:
    """Model FLOPs of one training token at ``seq_len``: forward and backward of the policy, plus
    (DPO) the forward of a frozen reference model, a third of the former."""
    flops = compute_flops_per_token(config, seq_len)
    return flops * 4 / 3 if reference_forward else float(flops)


def forward_flops_coefficients(config) -> tuple[float, float]:
    """``(a, b)`` such that one forward over a sequence of ``T`` tokens costs ``a·T + b·T²`` FLOPs.

    TRL's per-token cost is linear in the sequence length (the attention scores); this splits it
    so that a batch of sequences of different lengths is counted exactly.
    """
    at_zero = compute_flops_per_token(config, 0) / 3
    at_one = compute_flops_per_token(config, 1) / 3
    return at_zero, at_one - at_zero
