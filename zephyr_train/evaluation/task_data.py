"""Offline task data: the ``--data-dir`` layout, its check, and ``--prepare-data``.

Layout: one file per split of every dataset the tasks load, under the dataset's Hub id and
config name exactly as lm-eval's task YAML names them (``default`` when it names no config)::

    DATA_DIR/allenai/ai2_arc/ARC-Challenge/{train,validation,test}.parquet
    DATA_DIR/Rowan/hellaswag/default/{train,validation}.parquet
    DATA_DIR/cais/mmlu/{abstract_algebra,...}/{dev,test}.parquet     (57 subjects)
    DATA_DIR/truthfulqa/truthful_qa/multiple_choice/validation.parquet

Each split may be ``.parquet`` or ``.jsonl`` (one JSON object a line), with the columns of the
Hub dataset; lm-eval's own preprocessing runs on them as it would on the download.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from zephyr_train.configs import RecipeError
from zephyr_train.evaluation.lm_tasks import LeafTask, ResolvedTask, lm_eval_version

logger = logging.getLogger(__name__)
FORMATS = {".parquet": "parquet", ".jsonl": "json"}
PREPARE_HINT = ("Write it on a machine with network with `python -m zephyr_train.evaluate "
                "--prepare-data DIR` (see the README, 'Offline task data').")


def dataset_dir(data_dir: Path, leaf: LeafTask) -> Path:
    return data_dir / leaf.dataset_path / (leaf.dataset_name or "default")


@dataclass(frozen=True)
class LeafFiles:
    builder: str                 # datasets builder: "parquet" or "json"
    files: dict[str, str]        # split -> absolute path
    rows: dict[str, int]


def _rows(path: Path) -> int:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_metadata(path).num_rows
    count = 0
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            if count == 0 and not isinstance(json.loads(line), dict):
                raise ValueError(f"line {number} is not a JSON object")
            count += 1
    return count


def _find(folder: Path, split: str) -> Path | None:
    found = [folder / f"{split}{ext}" for ext in FORMATS if (folder / f"{split}{ext}").is_file()]
    return found[0] if found else None


def check_data_dir(data_dir: str | os.PathLike,
                   resolved: list[ResolvedTask]) -> dict[str, LeafFiles]:
    """The local files of every leaf task, or one error listing everything that is missing or
    unreadable, per suite task, before any model is loaded."""
    root = Path(data_dir).expanduser().resolve()
    if not root.is_dir():
        raise RecipeError(f"--data-dir {data_dir} is not a directory. {PREPARE_HINT}")
    found: dict[str, LeafFiles] = {}
    problems: list[str] = []
    for item in resolved:
        missing, bad = [], []
        for leaf in item.leaves:
            folder = dataset_dir(root, leaf)
            paths = {split: _find(folder, split) for split in leaf.splits}
            absent = [s for s, p in paths.items() if p is None]
            if absent:
                names = absent[0] if len(absent) == 1 else "{" + ",".join(absent) + "}"
                missing.append(f"{folder.relative_to(root)}/{names}.parquet (or .jsonl)"
                               + (f" for {leaf.name}" if item.kind == "group" else ""))
                continue
            kinds = {p.suffix for p in paths.values()}
            if len(kinds) > 1:
                bad.append(f"{folder.relative_to(root)} mixes {sorted(kinds)}; use one format")
                continue
            rows = {}
            for split, path in paths.items():
                try:
                    rows[split] = _rows(path)
                except Exception as err:  # noqa: BLE001 - any unreadable file is reported
                    bad.append(f"{path} cannot be read ({type(err).__name__}: {err})")
            if len(rows) < len(paths):
                continue
            if rows[leaf.eval_split] == 0:
                bad.append(f"{paths[leaf.eval_split]} has no rows to score")
            if leaf.fewshot_split and rows[leaf.fewshot_split] < leaf.shots + (
                    leaf.fewshot_split == leaf.eval_split):
                bad.append(f"{paths[leaf.fewshot_split]} has {rows[leaf.fewshot_split]} rows, "
                           f"fewer than the {leaf.shots} few-shot examples {leaf.name} draws")
            found[leaf.name] = LeafFiles(FORMATS[next(iter(kinds))],
                                         {s: str(p) for s, p in paths.items()}, rows)
        if missing:
            shown = "; ".join(missing[:4]) + (f"; and {len(missing) - 4} more"
                                              if len(missing) > 4 else "")
            what = (f"{len(missing)} of the {len(item.leaves)} tasks of the group lack"
                    if item.kind == "group" else "lacks")
            problems.append(f"{item.task.name}: {what} {shown}")
        problems += [f"{item.task.name}: {b}" for b in bad]
    if problems:
        raise RecipeError(f"--data-dir {root} is missing task data:\n  " + "\n  ".join(problems)
                          + f"\n{PREPARE_HINT}")
    return found


def prepare_data(out_dir: str | os.PathLike, resolved: list[ResolvedTask]) -> Path:
    """Download every dataset the tasks load, as lm-eval loads it (same id, config and
    ``dataset_kwargs``), and write the splits its configs name in the ``--data-dir`` layout.
    Files already there are kept, so an interrupted run can be repeated."""
    import datasets

    root = Path(out_dir).expanduser().resolve()
    sources: dict[tuple, list[LeafTask]] = {}
    for item in resolved:
        for leaf in item.leaves:
            key = (leaf.dataset_path, leaf.dataset_name,
                   json.dumps(leaf.dataset_kwargs, sort_keys=True))
            sources.setdefault(key, []).append(leaf)
    manifest = []
    for number, ((path, name, _), leaves) in enumerate(sources.items(), start=1):
        folder = dataset_dir(root, leaves[0])
        splits = list(dict.fromkeys(s for leaf in leaves for s in leaf.splits))
        targets = {s: folder / f"{s}.parquet" for s in splits}
        label = path + (f" ({name})" if name else "")
        if not all(t.is_file() for t in targets.values()):
            logger.info("[%d/%d] %s: downloading splits %s", number, len(sources), label, splits)
            try:
                loaded = datasets.load_dataset(path, name, **leaves[0].dataset_kwargs)
            except Exception as err:
                raise RecipeError(f"Could not load the Hub dataset {label} that lm-eval's "
                                  f"{leaves[0].name} reads ({type(err).__name__}: {err}). Check "
                                  "the network and, for a gated dataset, `hf auth login`.") from err
            absent = [s for s in splits if s not in loaded]
            if absent:
                raise RecipeError(f"The Hub dataset {label} has splits {list(loaded)}, not "
                                  f"{absent}, which lm-eval's {leaves[0].name} names.")
            folder.mkdir(parents=True, exist_ok=True)
            for split, target in targets.items():
                tmp = target.with_suffix(".parquet.tmp")
                loaded[split].to_parquet(tmp)
                os.replace(tmp, target)
        manifest += [{"dataset": path, "config": name, "split": s,
                      "file": str(t.relative_to(root)), "rows": _rows(t),
                      "tasks": [leaf.name for leaf in leaves]} for s, t in targets.items()]
    record = {"lm_eval_version": lm_eval_version(),
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "tasks": [item.task.name for item in resolved], "files": manifest}
    (root / "manifest.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    logger.info("Wrote %d files for %d datasets under %s", len(manifest), len(sources), root)
    return root
