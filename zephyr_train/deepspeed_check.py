"""Check a run's batch arithmetic with DeepSpeed's own config validation, without GPUs."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import yaml


class _DataParallelGroup:
    """The smallest ``mpu`` DeepSpeedConfig accepts: a data-parallel world of ``size`` ranks."""

    def __init__(self, size: int):
        self.size = size

    def get_data_parallel_world_size(self) -> int:
        return self.size

    def get_data_parallel_rank(self) -> int:
        return 0

    def get_model_parallel_world_size(self) -> int:
        return 1

    def get_model_parallel_rank(self) -> int:
        return 0


def deepspeed_dict(accelerate_config: Path, *, micro_batch: int, grad_accum: int,
                   world_size: int) -> dict:
    """The DeepSpeed config that an accelerate DeepSpeed YAML and a recipe's batch amount to."""
    with open(accelerate_config) as f:
        acc = yaml.safe_load(f)
    if acc.get("distributed_type") != "DEEPSPEED":
        raise ValueError(
            f"{accelerate_config} has distributed_type={acc.get('distributed_type')!r}, not "
            "'DEEPSPEED'; pass a DeepSpeed accelerate config such as accelerate_configs/zero3.yaml."
        )
    ds = acc.get("deepspeed_config", {})
    precision = acc.get("mixed_precision", "no")
    return {
        "train_batch_size": micro_batch * grad_accum * world_size,
        "train_micro_batch_size_per_gpu": micro_batch,
        "gradient_accumulation_steps": grad_accum,
        "zero_optimization": {
            "stage": ds.get("zero_stage", 3),
            "offload_optimizer": {"device": ds.get("offload_optimizer_device", "none")},
            "offload_param": {"device": ds.get("offload_param_device", "none")},
            "stage3_gather_16bit_weights_on_model_save": ds.get("zero3_save_16bit_model", False),
        },
        "bf16": {"enabled": precision == "bf16"},
        "fp16": {"enabled": precision == "fp16"},
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_with_deepspeed(config: dict, world_size: int):
    """Run ``deepspeed.runtime.config.DeepSpeedConfig`` on ``config`` as if ``world_size`` ranks
    trained data-parallel. Raises DeepSpeed's own AssertionError when the batch sizes disagree.

    DeepSpeedConfig reads the rank from deepspeed.comm, so a one-process gloo group is started
    if none exists, and torn down again so that a later Trainer in this process does not mistake
    it for a distributed launch.
    """
    import deepspeed
    import deepspeed.comm as dist
    import torch.distributed
    from deepspeed.runtime.config import DeepSpeedConfig

    if dist.is_initialized():
        return DeepSpeedConfig(dict(config), mpu=_DataParallelGroup(world_size))
    saved = {k: os.environ.get(k) for k in
             ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK")}
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()), RANK="0",
                      WORLD_SIZE="1", LOCAL_RANK="0")
    try:
        deepspeed.init_distributed(dist_backend="gloo", auto_mpi_discovery=False, verbose=False)
        return DeepSpeedConfig(dict(config), mpu=_DataParallelGroup(world_size))
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
