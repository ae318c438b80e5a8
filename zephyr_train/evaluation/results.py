"""The results file: lm-eval's own results plus our summary, and reading it back (--compare).

``{output_dir}/{model_id}.json``::

    {"format": "zephyr-eval-results/1",
     "summary": {"suite", "model", "model_id", "revision", "model_sha" (Hub commit),
                 "model_files_sha256" (local folder), "lm_eval_version", "chat_template": false,
                 "limit", "batch_size", "dtype", "data_dir", "date",
                 "tasks": {task: {"shots", "metric", "score", "stderr", "examples"}}},
     "lm_eval": {... what lm_eval.simple_evaluate returned, without per-sample logs ...}}

Scores are fractions as lm-eval reports them; the table shows percentages.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from zephyr_data.core.ids import sha256_file
from zephyr_train.configs import RecipeError
from zephyr_train.evaluation.lm_tasks import ResolvedTask, lm_eval_version

logger = logging.getLogger(__name__)
RESULTS_FORMAT = "zephyr-eval-results/1"
# What from_pretrained reads: the weights, the config and the tokenizer (a PEFT adapter's too).
MODEL_FILES = ("config.json", "generation_config.json", "*.safetensors", "*.safetensors.index.json",
               "pytorch_model*.bin", "tokenizer.json", "tokenizer.model", "tokenizer_config.json",
               "special_tokens_map.json", "chat_template.jinja", "adapter_config.json",
               "adapter_model.bin")


def model_files_sha256(folder: str | os.PathLike) -> tuple[str, list[str]]:
    """One SHA-256 over the names and contents of a local model's files, and their names."""
    names = sorted(p.name for p in Path(folder).iterdir()
                   if p.is_file() and any(fnmatch(p.name, pat) for pat in MODEL_FILES))
    digest = hashlib.sha256()
    for name in names:
        digest.update(f"{name}\0{sha256_file(Path(folder) / name)}\n".encode())
    return digest.hexdigest(), names


def hub_commit(repo_id: str, revision: str) -> str | None:
    """The commit a Hub model id resolved to, from the local cache the run downloaded into."""
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    return Path(cached).parent.name if isinstance(cached, str) else None


def _metric(block: dict, name: str) -> Any:
    return block.get(f"{name},none", block.get(name))


def summarize(resolved: list[ResolvedTask], lm_results: dict, *, suite: str, model: str,
              model_id: str, revision: str, limit: int | None, batch_size: int | str,
              dtype: str, data_dir: str | None, base_model: str | None = None) -> dict:
    """Our record of the run; ``base_model`` is the model a PEFT adapter ``model`` sits on."""
    results = lm_results["results"]
    tasks = {}
    for item in resolved:
        name, block = item.task.name, results.get(item.task.name, {})
        score = _metric(block, item.task.metric)
        if score is None:
            raise RecipeError(f"lm-eval returned no {item.task.metric!r} for {name} (it returned "
                              f"{sorted(block)}).")
        samples = lm_results.get("n-samples", {})
        examples = sum(samples.get(leaf.name, {}).get("effective", 0) for leaf in item.leaves)
        entry = {"shots": item.task.shots, "metric": item.task.metric_label,
                 "lm_eval_metric": item.task.metric, "score": float(score),
                 "stderr": _float(_metric(block, f"{item.task.metric}_stderr")),
                 "examples": examples}
        if item.kind == "group":  # the Open LLM Leaderboard v1 averaged MMLU's subjects
            leaf_scores = [_metric(results.get(leaf.name, {}), item.task.metric)
                           for leaf in item.leaves]
            if all(s is not None for s in leaf_scores):
                entry["subtask_mean"] = sum(map(float, leaf_scores)) / len(leaf_scores)
        tasks[name] = entry
    local = Path(model).expanduser().is_dir()
    if local:
        logger.info("Hashing the model files of %s (SHA-256, each weight file read once)", model)
    files_sha, files = model_files_sha256(model) if local else (None, [])
    config = lm_results.get("config", {})
    return {
        "suite": suite, "model": model, "base_model": base_model, "model_id": model_id,
        "revision": revision,
        "model_sha": None if local else (config.get("model_sha") or hub_commit(model, revision)),
        "model_files_sha256": files_sha, "model_files": files,
        "lm_eval_version": lm_eval_version(), "chat_template": False, "limit": limit,
        "batch_size": batch_size, "dtype": dtype, "data_dir": data_dir,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "tasks": tasks,
    }


def _float(value) -> float | None:
    return None if value is None or value == "N/A" else float(value)


def write_results(path: str | os.PathLike, summary: dict, lm_results: dict) -> Path:
    from lm_eval.utils import handle_non_serializable

    lm = {k: v for k, v in lm_results.items() if k != "samples"}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps({"format": RESULTS_FORMAT, "summary": summary, "lm_eval": lm},
                              indent=2, default=handle_non_serializable) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_samples(path: str | os.PathLike, lm_results: dict) -> Path:
    """lm-eval's per-example log (prompt, choices, log-likelihoods, metrics), one JSON line per
    example and task, in the order lm-eval scored them."""
    from lm_eval.utils import handle_non_serializable

    path = Path(path)
    with open(path, "w", encoding="utf-8") as f:
        for task, samples in sorted(lm_results.get("samples", {}).items()):
            for sample in samples:
                f.write(json.dumps({"task": task, **sample}, default=handle_non_serializable,
                                   ensure_ascii=False) + "\n")
    return path


@dataclass(frozen=True)
class ModelResults:
    """One column of the table."""

    model_id: str
    summary: dict
    path: Path | None = None

    def percent(self, task: str) -> float | None:
        entry = self.summary["tasks"].get(task)
        return None if entry is None else 100 * entry["score"]


def load_results(path: str | os.PathLike) -> ModelResults:
    """A results file written by ``python -m zephyr_train.evaluate``, checked."""
    path = Path(path)
    hint = ("Pass the .json files that `python -m zephyr_train.evaluate --model ...` wrote "
            "(under --output_dir, default outputs/eval/leaderboard).")
    if not path.is_file():
        raise RecipeError(f"--compare {path}: no such file. {hint}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RecipeError(f"--compare {path} is not JSON ({err}), so not a results file. "
                          f"{hint}") from err
    if not isinstance(data, dict) or data.get("format") != RESULTS_FORMAT:
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        looks = (" It looks like lm-eval's own results file; run the suite through "
                 "zephyr_train.evaluate so that shots and model are recorded."
                 if isinstance(data, dict) and "results" in data and "config" in data else "")
        raise RecipeError(f"--compare {path} is not a results file: expected \"format\": "
                          f"\"{RESULTS_FORMAT}\" with a summary, found {keys}.{looks} {hint}")
    summary = data.get("summary")
    tasks = summary.get("tasks") if isinstance(summary, dict) else None
    bad = not isinstance(tasks, dict) or not summary.get("model_id") or any(
        not isinstance(t, dict) or not isinstance(t.get("score"), (int, float))
        or not isinstance(t.get("shots"), int) for t in tasks.values())
    if bad:
        raise RecipeError(f"--compare {path} has a damaged summary (it needs model_id and, per "
                          f"task, a numeric score and shots). {hint}")
    return ModelResults(summary["model_id"], summary, path)
