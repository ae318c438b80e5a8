"""Scores from the judges' own result files: FastChat's MT-Bench and alpaca_eval's AlpacaEval.

* MT-Bench: FastChat's ``data/mt_bench/model_judgment/gpt-4_single.jsonl`` (``gen_judgment.py``,
  single-answer grading), one judgment a line: ``question_id``, ``model``, ``judge``,
  ``score`` (1-10, -1 when the judge gave none), ``turn``. A model's score is the mean over
  both turns of its scores other than -1, as FastChat's ``show_result.py`` prints it.
* AlpacaEval: alpaca_eval writes ``leaderboard.csv`` (one row per model, the model's name in the
  first, unnamed column; ``win_rate`` in percent) and ``annotations.json`` (a list of
  ``{..., "generator_2": model, "preference": 1..2}``; 1 the reference wins, 2 the model, 1.5 or
  0 a draw) beside the model outputs, under the annotator's name. From annotations the win rate
  is ``100 * mean(preference - 1)`` over valid preferences, as alpaca_eval computes it.

Scores are keyed by model name: the ``--model_id`` the answers were generated with.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from zephyr_train.configs import RecipeError


@dataclass(frozen=True)
class JudgeScore:
    value: float
    count: int      # judgments (MT-Bench) or annotated instructions (AlpacaEval)


def mt_bench_scores(paths: list[str | os.PathLike]) -> dict[str, JudgeScore]:
    scores: dict[str, JudgeScore] = {}
    for path in map(Path, paths):
        per_model: dict[str, list[float]] = {}
        for number, record in _jsonl(path, "--mt-bench"):
            if "model_1" in record:
                raise RecipeError(f"--mt-bench {path}: line {number} is a pairwise judgment "
                                  "(model_1/model_2); pass the single-answer grading file, "
                                  "model_judgment/gpt-4_single.jsonl.")
            missing = [k for k in ("model", "score", "turn") if k not in record]
            if missing:
                raise RecipeError(f"--mt-bench {path}: line {number} lacks {missing} (has "
                                  f"{sorted(record)}); expected FastChat's "
                                  "model_judgment/gpt-4_single.jsonl.")
            if record["score"] != -1:
                per_model.setdefault(record["model"], []).append(float(record["score"]))
        for model, values in per_model.items():
            scores[model] = JudgeScore(sum(values) / len(values), len(values))
    return scores


def alpaca_eval_scores(paths: list[str | os.PathLike]) -> dict[str, JudgeScore]:
    scores: dict[str, JudgeScore] = {}
    for path in map(Path, paths):
        if path.suffix == ".csv":
            scores.update(_leaderboard_csv(path))
        elif path.suffix == ".json":
            scores.update(_annotations_json(path))
        else:
            raise RecipeError(f"--alpaca-eval {path}: expected alpaca_eval's leaderboard.csv or "
                              "annotations.json.")
    return scores


def _leaderboard_csv(path: Path) -> dict[str, JudgeScore]:
    _exists(path, "--alpaca-eval")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header = rows[0] if rows else []
    if "win_rate" not in header:
        raise RecipeError(f"--alpaca-eval {path} has no win_rate column (header: {header}); "
                          "expected the leaderboard.csv alpaca_eval writes.")
    rate, total = header.index("win_rate"), header.index("n_total") if "n_total" in header else None
    out = {}
    for row in rows[1:]:
        if row and row[rate]:
            count = int(float(row[total])) if total is not None and row[total] else 0
            out[row[0]] = JudgeScore(float(row[rate]), count)
    return out


def _annotations_json(path: Path) -> dict[str, JudgeScore]:
    _exists(path, "--alpaca-eval")
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise RecipeError(f"--alpaca-eval {path} is not JSON ({err}).") from err
    if not isinstance(records, list) or not all(
            isinstance(r, dict) and "preference" in r and "generator_2" in r for r in records):
        raise RecipeError(f"--alpaca-eval {path} is not alpaca_eval's annotations.json (a list "
                          "of records with generator_2 and preference).")
    per_model: dict[str, list[float]] = {}
    for record in records:
        preference = record["preference"]
        if preference is None or (isinstance(preference, float) and math.isnan(preference)):
            continue
        preference = 1.5 if preference == 0 else float(preference)  # 0: an old draw
        if 1 <= preference <= 2:
            per_model.setdefault(record["generator_2"], []).append(preference - 1)
    return {model: JudgeScore(100 * sum(v) / len(v), len(v))
            for model, v in per_model.items()}


def _exists(path: Path, option: str) -> None:
    if not path.is_file():
        raise RecipeError(f"{option} {path}: no such file.")


def _jsonl(path: Path, option: str):
    _exists(path, option)
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise RecipeError(f"{option} {path}: line {number} is not JSON ({err}).") from err
            if not isinstance(record, dict):
                raise RecipeError(f"{option} {path}: line {number} is not a JSON object.")
            yield number, record
