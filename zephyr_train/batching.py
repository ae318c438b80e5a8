"""Global batch arithmetic: recipes state the global batch; accumulation follows from the
world size."""

from __future__ import annotations

import os
from dataclasses import dataclass


def launch_world_size() -> int:
    """Processes of this launch, as set by ``accelerate launch``/``torchrun`` (1 otherwise)."""
    value = os.environ.get("WORLD_SIZE", "1")
    try:
        world_size = int(value)
    except ValueError as err:
        raise ValueError(
            f"WORLD_SIZE={value!r} is not an integer. It is set by the launcher (accelerate, "
            "torchrun); unset it for a single-process run."
        ) from err
    if world_size < 1:
        raise ValueError(f"WORLD_SIZE={world_size} must be at least 1.")
    return world_size


def derive_gradient_accumulation(global_batch_size: int, per_device_batch_size: int,
                                 world_size: int) -> int:
    """Gradient accumulation steps so that per-device batch x world size x accumulation = global.

    Raises:
        ValueError: naming the numbers when the global batch does not divide evenly.
    """
    for name, value in (("global_batch_size", global_batch_size),
                        ("per_device_train_batch_size", per_device_batch_size),
                        ("world size", world_size)):
        if value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}.")
    per_micro_step = per_device_batch_size * world_size
    if global_batch_size % per_micro_step:
        lower = max(per_micro_step, global_batch_size // per_micro_step * per_micro_step)
        raise ValueError(
            f"global_batch_size={global_batch_size} does not divide evenly into "
            f"per_device_train_batch_size={per_device_batch_size} x world size {world_size} = "
            f"{per_micro_step} sequences per micro-step, so no whole number of gradient "
            f"accumulation steps gives it. Use a global batch that is a multiple of "
            f"{per_micro_step} (e.g. {lower} or {lower + per_micro_step}), or change "
            f"per_device_train_batch_size or the number of processes."
        )
    return global_batch_size // per_micro_step


def apply_global_batch(args, world_size: int | None = None) -> None:
    """Set ``args.gradient_accumulation_steps`` from ``args.global_batch_size`` (if set).

    Must run before ``TrainingArguments.__post_init__`` so DeepSpeed's config sees the value.
    """
    if args.global_batch_size is None:
        return
    world_size = launch_world_size() if world_size is None else world_size
    derived = derive_gradient_accumulation(
        args.global_batch_size, args.per_device_train_batch_size, world_size
    )
    stated = args.gradient_accumulation_steps
    if stated not in (1, derived):
        raise ValueError(
            f"gradient_accumulation_steps={stated} contradicts global_batch_size="
            f"{args.global_batch_size}: with per_device_train_batch_size="
            f"{args.per_device_train_batch_size} and world size {world_size} the accumulation "
            f"must be {derived}. Remove gradient_accumulation_steps from the recipe; it is derived."
        )
    args.gradient_accumulation_steps = derived


@dataclass
class StepShape:
    """What every plan states about a run's data and batch, and what follows from it:
    sequences and tokens per optimizer step (DPO runs a chosen and a rejected sequence per
    pair)."""

    task: str
    recipe: str
    per_device_batch: int
    global_batch: int
    max_length: int
    packing: bool
    train_examples: int
    train_examples_source: str
    sequences_per_epoch: int
    steps_per_epoch: int
    total_params: int

    @property
    def sequences_per_step(self) -> int:
        return self.global_batch * (2 if self.task == "dpo" else 1)

    @property
    def tokens_per_step(self) -> int:
        """Exact for packed SFT; an upper bound (every sequence at max_length) otherwise."""
        return self.sequences_per_step * self.max_length
