"""Running lm-evaluation-harness (``lm_eval.simple_evaluate``) on a suite."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from zephyr_train.configs import RecipeError
from zephyr_train.evaluation.lm_tasks import ResolvedTask, task_manager, write_task_overrides
from zephyr_train.evaluation.task_data import LeafFiles

logger = logging.getLogger(__name__)
INSTALL_HINT = 'pip install -e ".[eval]"'


class LmEvalMissing(RecipeError):
    """lm-evaluation-harness is not installed."""


def require_lm_eval():
    try:
        import lm_eval
    except ImportError as err:
        raise LmEvalMissing("lm-evaluation-harness (lm-eval) is not installed; install it with: "
                            f"{INSTALL_HINT}") from err
    return lm_eval


def model_args(model: str, revision: str, dtype: str) -> dict[str, Any]:
    """lm-eval's ``hf`` model arguments; a PEFT adapter folder (adapter_config.json, no
    config.json) is evaluated on top of the base model it names."""
    args: dict[str, Any] = {"pretrained": model, "revision": revision, "dtype": dtype}
    folder = Path(model).expanduser()
    adapter = folder / "adapter_config.json"
    if folder.is_dir() and adapter.is_file() and not (folder / "config.json").is_file():
        base = json.loads(adapter.read_text(encoding="utf-8")).get("base_model_name_or_path")
        if not base:
            raise RecipeError(f"{adapter} names no base_model_name_or_path, so the base model of "
                              "this adapter is unknown.")
        args.update(pretrained=base, peft=str(folder), tokenizer=str(folder))
    return args


def batch_size_arg(value: str) -> int | str:
    if value == "auto" or value.startswith("auto:"):
        return value
    try:
        size = int(value)
    except ValueError:
        size = 0
    if size < 1:
        raise RecipeError(f"--batch-size {value!r} must be a positive integer or 'auto'.")
    return size


def run_lm_eval(resolved: list[ResolvedTask], *, model_args: dict[str, Any],
                batch_size: int | str, limit: int | None, device: str | None,
                data_files: dict[str, LeafFiles] | None, log_samples: bool = False) -> dict | None:
    """lm-eval's results dict (``None`` on ranks other than 0 of a distributed launch).

    The chat template is off (``apply_chat_template=False``), as on the Open LLM Leaderboard;
    seeds are lm-eval's defaults, so a run repeats."""
    lm_eval = require_lm_eval()
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    files = None if data_files is None else {name: (f.builder, f.files)
                                             for name, f in data_files.items()}
    with tempfile.TemporaryDirectory(prefix="zephyr-eval-tasks-") as tmp:
        manager = task_manager(write_task_overrides(resolved, Path(tmp), files))
        return lm_eval.simple_evaluate(
            model="hf", model_args=model_args, tasks=[r.task.name for r in resolved],
            batch_size=batch_size, device=device, limit=limit, task_manager=manager,
            apply_chat_template=False, log_samples=log_samples,
        )
