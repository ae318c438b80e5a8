"""Trainer callbacks."""

from __future__ import annotations

import json
from pathlib import Path

from transformers import TrainerCallback


class ZeroPartitionReport(TrainerCallback):
    """At the start of training, write ``zero_partition_rank{R}.json`` to ``output_dir``: how many
    parameter elements this rank holds (ZeRO-3 partitions) against the model's total."""

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        local = total = 0
        partitioned = True
        for param in model.parameters():
            if hasattr(param, "ds_tensor"):
                local += param.ds_tensor.numel()
                total += param.ds_numel
            else:
                partitioned = False
                local += param.numel()
                total += param.numel()
        out = Path(args.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        report = {"rank": args.process_index, "world_size": args.world_size,
                  "local_numel": local, "total_numel": total, "zero3_partitioned": partitioned}
        (out / f"zero_partition_rank{args.process_index}.json").write_text(json.dumps(report))
