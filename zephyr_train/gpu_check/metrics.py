"""What the check measures: tokens and model FLOPs of every forward, the time of every optimizer
step, and peak memory.

Tokens and FLOPs are read from the inputs of each forward call (a forward pre-hook), so packed
SFT rows, padded DPO pairs and the DPO reference model are all counted as they really ran:
a sequence of ``T`` real tokens costs ``a·T + b·T²`` forward FLOPs (``flops.py``), a training
forward three times that (forward and backward), a reference forward once. Padding is not
counted; gradient-checkpointing recomputation is not either (model FLOPs, not hardware FLOPs).
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass

import torch
from transformers import TrainerCallback

from zephyr_train.flops import forward_flops_coefficients

GIB = 2**30


def _sequence_lengths(input_ids: torch.Tensor, kwargs: dict) -> torch.Tensor:
    """Real tokens of each sequence in a forward call's batch (float64, on the batch's device)."""
    cu_seq_lens = kwargs.get("cu_seq_lens_q")
    if cu_seq_lens is not None:  # padding-free: one row of several documents
        return cu_seq_lens.diff().to(torch.float64)
    mask = kwargs.get("attention_mask")
    if isinstance(mask, torch.Tensor) and mask.dim() == 2:
        return mask.sum(-1).to(torch.float64)
    batch, length = input_ids.shape[0], input_ids.shape[-1]
    return torch.full((batch,), float(length), dtype=torch.float64, device=input_ids.device)


class FlopCounter:
    """Training tokens and model FLOPs of the forwards of the attached models, accumulated on
    the device (no synchronisation per call) until :meth:`take`."""

    def __init__(self, config):
        self.linear, self.quadratic = forward_flops_coefficients(config)
        self._handles = []
        self._total: torch.Tensor | None = None

    def attach(self, module: torch.nn.Module, *, reference: bool = False) -> None:
        """Count ``module``'s forwards: the trained policy's (with gradients) as training tokens
        at 3x forward FLOPs, or a frozen reference model's at 1x and no tokens."""
        def hook(mod, args, kwargs):
            input_ids = kwargs.get("input_ids", args[0] if args else None)
            if not isinstance(input_ids, torch.Tensor):
                return
            training = torch.is_grad_enabled() and mod.training
            if not (reference or training):
                return  # e.g. a metrics-only forward of the policy: not model FLOPs
            lengths = _sequence_lengths(input_ids, kwargs)
            forward = self.linear * lengths.sum() + self.quadratic * (lengths * lengths).sum()
            tokens = lengths.sum() if training and not reference else torch.zeros_like(forward)
            flops = forward * (3 if training and not reference else 1)
            step = torch.stack([tokens, flops])
            self._total = step if self._total is None else self._total + step.to(self._total)

        self._handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))

    def take(self) -> tuple[int, float]:
        """(training tokens, model FLOPs) since the last call; reads the device once."""
        total, self._total = self._total, None
        if total is None:
            return 0, 0.0
        tokens, flops = total.tolist()
        return int(round(tokens)), flops

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


@dataclass
class StepRecord:
    seconds: float
    tokens: int
    flops: float


class StepTimer(TrainerCallback):
    """Wall time of every optimizer step (data, forward, backward, optimizer, logging), with the
    tokens and FLOPs the :class:`FlopCounter` saw in it. The device is synchronised at each step
    end so that a step's time is its own."""

    def __init__(self, counter: FlopCounter, device: torch.device):
        self.counter = counter
        self.device = device
        self.steps: list[StepRecord] = []
        self._last = None

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def on_train_begin(self, args, state, control, **kwargs):
        self.counter.take()
        self._last = self._now()

    def on_step_end(self, args, state, control, **kwargs):
        now = self._now()
        tokens, flops = self.counter.take()
        self.steps.append(StepRecord(now - self._last, tokens, flops))
        self._last = now


def throughput(steps: list[StepRecord], *, warmup: int, peak_flops: float | None,
               world_size: int = 1) -> dict:
    """Tokens/s per GPU and MFU over the steps after ``warmup``."""
    measured = steps[warmup:]
    seconds = sum(s.seconds for s in measured)
    tokens = sum(s.tokens for s in measured)
    flops = sum(s.flops for s in measured)
    if not measured or seconds <= 0:
        return {"steps_measured": 0, "tokens_per_second_per_gpu": None, "mfu": None}
    achieved = flops / seconds / world_size
    return {
        "steps_measured": len(measured),
        "first_step_measured": warmup + 1,
        "seconds_measured": seconds,
        "tokens_measured": tokens,
        "tokens_per_second_per_gpu": tokens / seconds / world_size,
        "model_tflops_per_second_per_gpu": achieved / 1e12,
        "mfu": achieved / peak_flops if peak_flops else None,
        "tokens_per_step": tokens / len(measured),
        "seconds_per_step": seconds / len(measured),
    }


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> dict:
    """Peak GPU memory since the last reset (allocated by tensors, and reserved by PyTorch's
    caching allocator), and the process's peak resident host memory so far, in GiB."""
    host = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB  # Linux: KiB
    if device.type != "cuda":
        return {"peak_gpu_memory_gib": None, "peak_gpu_memory_reserved_gib": None,
                "peak_host_memory_gib": host}
    return {"peak_gpu_memory_gib": torch.cuda.max_memory_allocated(device) / GIB,
            "peak_gpu_memory_reserved_gib": torch.cuda.max_memory_reserved(device) / GIB,
            "peak_host_memory_gib": host}
