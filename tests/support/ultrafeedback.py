"""Helpers for the UltraFeedback tests: raw rows built by hand, in-process and end-to-end runs,
and raw rows rebuilt from the real published preference rows in ``../shared/data``.

"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.support.chat_shapes import write_jsonl  # noqa: F401 (tests import it from here)
from tests.support.paths import SHARED_DATA
from zephyr_data.core.config import make_config, parse_config
from zephyr_data.core.stats import Stats
from zephyr_data.pipelines.formats.rated import ASPECTS
from zephyr_data.pipelines.ultrafeedback import UltraFeedbackConfig, UltraFeedbackPipeline
from zephyr_data.runner.build import BuildResult, build
from zephyr_data.runner.map import map_rows

PUBLISHED = SHARED_DATA / "ultrafeedback"

Rating = int | float | str | None  # None: the aspect is missing from the annotations


def completion(response: str, ratings: tuple[Rating, ...] = (5, 5, 5, 5),
               overall: Any = 8.0, model: str = "gpt-4") -> dict[str, Any]:
    """A raw completion; each aspect rating is written as UltraFeedback does, a string."""
    annotations = {aspect: {"Rating": str(r), "Rationale": f"{aspect} rationale."}
                   for aspect, r in zip(ASPECTS, ratings, strict=True) if r is not None}
    return {"annotations": annotations, "critique": "A critique.",
            "custom_system_prompt": "You are a helpful assistant.", "fine-grained_score": 4.0,
            "model": model, "overall_score": overall, "principle": "helpfulness",
            "response": response}


def raw_row(instruction: str, completions: list[dict[str, Any]],
            source: str = "evol_instruct") -> dict[str, Any]:
    return {"source": source, "instruction": instruction,
            "models": [c.get("model") for c in completions if isinstance(c, dict)],
            "completions": completions, "correct_answers": ["None"],
            "incorrect_answers": ["None"]}


def rated(*scores: float | str, prefix: str = "answer") -> list[dict[str, Any]]:
    """Completions ``answer 0``, ``answer 1``, ... whose four ratings all equal each score."""
    return [completion(f"{prefix} {i}", (s, s, s, s)) for i, s in enumerate(scores)]


def config(**values: Any) -> UltraFeedbackConfig:
    return make_config(UltraFeedbackConfig, {"output_dir": "unused", "progress": False,
                                             "decontaminate": "off", **values}, "test")


class Drop(NamedTuple):
    reason: str
    detail: str | None


def process(rows: list[Any], **values: Any) -> tuple[dict[str, dict], dict[str, Drop], Stats]:
    """Run rows through parse and the steps in-process, as a work unit of the map stage does
    (no files, no workers).

    Returns the output records and the drops, both by row ref (``row0``, ``row1``, ...), and
    the stats (without the rows-per-source counters). Global stages (duplicates, splits) are
    not run.
    """
    pipeline = UltraFeedbackPipeline(config(**values))
    stats = Stats()
    lines: list[str] = []
    refs = [(f"row{i}", row) for i, row in enumerate(rows)]
    frame = map_rows(pipeline, pipeline.steps(), refs, stats, lines.append)
    records = {record["_ref"]: record for record in frame.to_dicts()}
    drops = {d["ref"]: Drop(d["reason"], d["detail"]) for d in map(json.loads, lines)}
    for key in [k for k in stats.counters if k.startswith("source:")]:
        del stats.counters[key]  # rows per source: checked in test_ultrafeedback_build.py
    return records, drops, stats


def pair(record: dict[str, Any]) -> tuple[str, str, float, float]:
    """(chosen answer, rejected answer, score_chosen, score_rejected) of an output record."""
    return (record["chosen"][1]["content"], record["rejected"][1]["content"],
            record["score_chosen"], record["score_rejected"])


def run_build(argv: list[str]) -> BuildResult:
    """Build from command-line style options, quietly (no decontamination unless asked)."""
    if "--decontaminate" not in argv:
        argv = [*argv, "--decontaminate", "off"]
    cfg = parse_config(UltraFeedbackConfig, [*argv, "--no-progress"], "test", "test")
    return build(UltraFeedbackPipeline(cfg), command=["test", *argv])


def data_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "data").glob("*.parquet"))}


def output_rows(folder: Path, splits: tuple[str, ...] = ("train_prefs", "test_prefs")
                ) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for split in splits:
        for path in sorted((folder / "data").glob(f"{split}-*.parquet")):
            rows.extend(pq.read_table(path).to_pylist())
    return rows


# ------------------------------------------------------------------ the real published rows


def published(name: str) -> list[dict[str, Any]]:
    path = PUBLISHED / name
    if not path.is_file():
        pytest.skip(f"{path} is not there: the shared real data sits beside the checkout.")
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def chosen_second(prompt: str) -> bool:
    """Put the published "chosen" second in about half the rows, fixed by the prompt."""
    return hashlib.sha256(prompt.encode()).digest()[0] % 2 == 1


def ordered(prompt: str, chosen: dict, rejected: dict) -> list[dict[str, Any]]:
    return [rejected, chosen] if chosen_second(prompt) else [chosen, rejected]


def raw_from_trl(row: dict[str, Any]) -> dict[str, Any]:
    """A ``trl-lib/ultrafeedback_binarized`` row as raw UltraFeedback, for ``--score overall``:
    two completions whose ``overall_score`` is the published score."""
    meta = row["metadata"]
    chosen = completion(row["chosen"], overall=meta["score_chosen"], model="published-chosen")
    rejected = completion(row["rejected"], overall=meta["score_rejected"],
                          model="published-rejected")
    return raw_row(row["prompt"], ordered(row["prompt"], chosen, rejected), source="sharegpt")


def ratings_with_mean(score: float, with_na: bool) -> tuple[Rating, ...]:
    """Four aspect ratings (1..5) whose mean, "N/A" excluded, is ``score``."""
    if with_na and float(score).is_integer():
        return (int(score), "N/A", int(score), int(score))
    total = round(score * 4)
    assert total == score * 4, f"{score} is not a mean of four integer ratings"
    base, extra = divmod(total, 4)
    return tuple(base + 1 if i < extra else base for i in range(4))


def raw_from_argilla(row: dict[str, Any], index: int) -> dict[str, Any]:
    """An Argilla-style row as raw UltraFeedback, for ``--score mean``: two completions whose
    aspect ratings average to the published rating (some with an "N/A" aspect)."""
    meta = row["metadata"]
    chosen = completion(row["chosen"], ratings_with_mean(meta["rating_chosen"], index % 2 == 0),
                        model=meta["chosen_model"])
    rejected = completion(row["rejected"],
                          ratings_with_mean(meta["rating_rejected"], index % 3 == 0),
                          model=meta["rejected_model"])
    return raw_row(row["prompt"], ordered(row["prompt"], chosen, rejected),
                   source=meta["source"])
