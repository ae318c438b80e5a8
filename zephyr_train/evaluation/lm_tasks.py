"""lm-evaluation-harness's own task definitions, resolved to the leaf tasks that read data.

A suite task is an lm-eval task (``arc_challenge``) or group (``mmlu``: 57 subject tasks under
four sub-groups). For each leaf we read what lm-eval's YAML says it loads (dataset id, config
name, splits) so that the offline files and the ``--prepare-data`` download match it.

To run, every task and group of the suite is re-registered from a folder of small YAML files
that ``include:`` lm-eval's own file and override only ``num_fewshot`` and, offline, where the
data comes from (``dataset_path: parquet|json`` with ``data_files``), which is how lm-eval's
task configs are meant to be extended. Prompts, preprocessing and metrics stay lm-eval's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from zephyr_train.configs import RecipeError
from zephyr_train.evaluation.suite import SuiteTask

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeafTask:
    """An lm-eval task that loads a dataset: where from, and which splits its config names."""

    name: str
    yaml_path: Path
    dataset_path: str
    dataset_name: str | None
    dataset_kwargs: dict[str, Any]
    splits: tuple[str, ...]
    fewshot_split: str | None   # where few-shot examples come from (lm-eval's Task.fewshot_docs)
    eval_split: str             # the split that is scored
    shots: int


@dataclass
class ResolvedTask:
    """A suite task with its lm-eval leaves and the groups between them."""

    task: SuiteTask
    kind: str                                  # "task" or "group"
    yaml_path: Path
    metrics: tuple[str, ...]                   # what lm-eval's config computes (or aggregates)
    leaves: list[LeafTask] = field(default_factory=list)
    groups: dict[str, Path] = field(default_factory=dict)


def lm_eval_version() -> str:
    from importlib.metadata import version

    return version("lm_eval")


def lm_eval_tasks_dir() -> Path:
    import lm_eval.tasks

    return Path(lm_eval.tasks.__file__).parent


def _index(task_dirs: list[Path]) -> dict:
    from lm_eval.tasks import TaskManager

    return TaskManager(include_defaults=False, include_path=[str(d) for d in task_dirs]).task_index


def _split_keys(cfg: dict) -> tuple[tuple[str, ...], str | None, str | None]:
    train, val, test = cfg.get("training_split"), cfg.get("validation_split"), cfg.get("test_split")
    fewshot = cfg.get("fewshot_split") or (cfg.get("fewshot_config") or {}).get("split")
    splits = tuple(dict.fromkeys(s for s in (train, val, test, fewshot) if s))
    # lm-eval scores the test split when there is one, else validation; few-shot examples come
    # from fewshot_split, else the training split, else validation (Task.fewshot_docs).
    return splits, fewshot or train or val or test, test or val


def _leaf(name: str, entry, shots: int) -> LeafTask:
    cfg = entry.cfg or {}
    if not cfg.get("dataset_path"):
        raise RecipeError(f"lm-eval task {name} ({entry.yaml_path}) names no dataset_path; it "
                          "cannot be run from local files.")
    splits, fewshot, evaluated = _split_keys(cfg)
    kwargs = {k: v for k, v in (cfg.get("dataset_kwargs") or {}).items()
              if k != "trust_remote_code"}
    return LeafTask(name=name, yaml_path=Path(entry.yaml_path), dataset_path=cfg["dataset_path"],
                    dataset_name=cfg.get("dataset_name"), dataset_kwargs=kwargs, splits=splits,
                    fewshot_split=fewshot if shots else None, eval_split=evaluated, shots=shots)


def _walk(index: dict, name: str, shots: int, out: ResolvedTask) -> None:
    entry = index.get(name)
    if entry is None:
        raise RecipeError(f"lm-eval has no task, group or tag {name!r} (needed by "
                          f"{out.task.name}).")
    kind = entry.kind.name
    if kind == "TAG":
        for member in sorted(entry.tags):
            _walk(index, member, shots, out)
    elif kind == "GROUP":
        out.groups[name] = Path(entry.yaml_path)
        for item in entry.cfg.get("task") or []:
            child = item if isinstance(item, str) else (item.get("task") or item.get("group"))
            if not isinstance(child, str) or (isinstance(item, dict) and len(item) > 1):
                raise RecipeError(f"lm-eval group {name} ({entry.yaml_path}) has an inline "
                                  f"member {item!r}, which this runner cannot redirect.")
            _walk(index, child, shots, out)
    elif kind == "TASK":
        out.leaves.append(_leaf(name, entry, shots))
    else:
        raise RecipeError(f"lm-eval task {name} ({entry.yaml_path}) is a Python task ({kind}); "
                          "only YAML tasks can be redirected to local files.")


def resolve(tasks: tuple[SuiteTask, ...]) -> list[ResolvedTask]:
    """Each suite task with its leaves, read from the installed lm-eval's YAML files."""
    root = lm_eval_tasks_dir()
    index = _index([root / d for t in tasks for d in t.lm_eval_dirs if (root / d).is_dir()])
    if any(t.name not in index for t in tasks):
        index = _index([root])  # a task moved in this lm-eval version: index every folder
    resolved = []
    for task in tasks:
        entry = index.get(task.name)
        if entry is None:
            raise RecipeError(f"The installed lm-eval has no task {task.name!r}; the suite needs "
                              'lm-eval>=0.4.13 (pip install -e ".[eval]").')
        cfg = entry.cfg or {}
        if entry.kind.name == "GROUP":
            metrics = tuple(m["metric"] for m in cfg.get("aggregate_metric_list") or [])
        else:
            metrics = tuple(m["metric"] for m in cfg.get("metric_list") or [])
        if task.metric not in metrics:
            raise RecipeError(f"lm-eval's {task.name} ({entry.yaml_path}) computes "
                              f"{list(metrics)}, not {task.metric!r}.")
        out = ResolvedTask(task, entry.kind.name.lower(), Path(entry.yaml_path), metrics)
        _walk(index, task.name, task.shots, out)
        resolved.append(out)
    return resolved


def write_task_overrides(resolved: list[ResolvedTask], folder: Path,
                         data_files: dict[str, tuple[str, dict[str, str]]] | None) -> Path:
    """One YAML per task and group, each including lm-eval's file. ``data_files`` maps a leaf
    task to ``(builder, {split: file})``; without it the data comes from the Hub as usual."""
    folder.mkdir(parents=True, exist_ok=True)
    for item in resolved:
        for group, path in item.groups.items():
            _dump(folder / f"group_{group}.yaml", {"include": str(path), "group": group})
        for leaf in item.leaves:
            cfg: dict[str, Any] = {"include": str(leaf.yaml_path), "task": leaf.name,
                                   "num_fewshot": leaf.shots}
            if data_files is not None:
                builder, files = data_files[leaf.name]
                cfg.update(dataset_path=builder, dataset_name=None,
                           dataset_kwargs={"data_files": files})
            _dump(folder / f"task_{leaf.name}.yaml", cfg)
    return folder


def _dump(path: Path, cfg: dict) -> None:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")


def task_manager(folder: Path):
    """An lm-eval TaskManager that knows only the overriding YAML files."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_defaults=False, include_path=str(folder))
