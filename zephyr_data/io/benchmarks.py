"""The prompts of the benchmarks Zephyr is evaluated on: one loader for decontamination (which
drops training rows that overlap them) and for ``zephyr_train`` (which answers them).

- MT-Bench: FastChat's ``question.jsonl`` (80 questions of 2 turns: ``question_id``,
  ``category``, ``turns``), on the Hub as ``HuggingFaceH4/mt_bench_prompts:raw/question.jsonl``.
- AlpacaEval: the 805 instructions of its evaluation set (``instruction``, ``dataset``), on the
  Hub as ``tatsu-lab/alpaca_eval:alpaca_eval.json``.
- TruthfulQA: the 817 questions of its generation task; the original ``TruthfulQA.csv``
  (``Question``) or the Hub's ``truthfulqa/truthful_qa`` parquet (``question``).

Each loads from a local file or, with no path, from the Hub (``hf_hub_download``: the cache when
offline; a token never shows in an error). A folder in the layout of ``../shared/data/benchmarks``
holds all three (``FILES``).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from .hubcalls import hub_call

BENCHMARKS = ("mt_bench", "alpaca_eval", "truthfulqa")
FILES = {"mt_bench": "mt_bench_question.jsonl",
         "alpaca_eval": "alpaca_eval_instructions.jsonl",
         "truthfulqa": "truthfulqa_TruthfulQA.csv"}
HUB_FILES = {"mt_bench": ("HuggingFaceH4/mt_bench_prompts", "raw/question.jsonl"),
             "alpaca_eval": ("tatsu-lab/alpaca_eval", "alpaca_eval.json"),
             "truthfulqa": ("truthfulqa/truthful_qa",
                            "generation/validation-00000-of-00001.parquet")}


class BenchmarkFileError(ConfigError, ValueError):
    """A benchmark file that is missing or not in its benchmark's format."""


@dataclass(frozen=True)
class MTBenchQuestion:
    question_id: int
    category: str
    turns: tuple[str, ...]


@dataclass(frozen=True)
class AlpacaEvalInstruction:
    instruction: str
    dataset: str


def hub_file(benchmark: str) -> Path:
    """The benchmark's file from the Hub (or the cache), downloaded once."""
    from huggingface_hub import hf_hub_download

    repo, filename = HUB_FILES[benchmark]

    def error(detail: str) -> BenchmarkFileError:
        return BenchmarkFileError(
            f"could not load the {benchmark} prompts from the Hub ({repo}: {filename}): "
            f"{detail}. Pass a local folder or file instead (as ../shared/data/benchmarks).")

    with hub_call(error):
        return Path(hf_hub_download(repo, filename, repo_type="dataset"))


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON Lines file, a JSON list, a CSV file or a parquet file."""
    if not path.is_file():
        raise BenchmarkFileError(f"{path}: no such file.")
    if path.suffix == ".csv":
        with open(path, encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    text = path.read_text(encoding="utf-8")
    try:
        if text.lstrip().startswith("["):
            records = json.loads(text)
        else:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as err:
        raise BenchmarkFileError(f"{path}: not valid JSON or JSON Lines ({err}).") from None
    if not all(isinstance(r, dict) for r in records):
        raise BenchmarkFileError(f"{path}: expected one JSON object per record.")
    return records


def _need(record: dict[str, Any], keys: Iterable[str], where: str, expected: str) -> Any:
    """The first of ``keys`` that ``record`` has (alternative names of one field)."""
    keys = tuple(keys)
    for key in keys:
        if key in record:
            return record[key]
    raise BenchmarkFileError(f"{where}: missing {list(keys[:1])} (has {sorted(record)}). "
                             f"Expected {expected}.")


def load_mt_bench(path: str | os.PathLike | None = None) -> list[MTBenchQuestion]:
    """FastChat's MT-Bench questions (``question_id``, ``category``, ``turns``)."""
    source = Path(path) if path else hub_file("mt_bench")
    expected = "FastChat's MT-Bench question.jsonl (question_id, category, turns)"
    questions = []
    for i, rec in enumerate(read_records(source), start=1):
        where = f"{source}, record {i}"
        qid = _need(rec, ("question_id",), where, expected)
        turns = _need(rec, ("turns",), where, expected)
        if isinstance(turns, str) or not turns or not all(isinstance(t, str) for t in turns):
            raise BenchmarkFileError(f"{where}: 'turns' must be a non-empty list of strings.")
        questions.append(MTBenchQuestion(int(qid), str(rec.get("category", "")), tuple(turns)))
    ids = [q.question_id for q in questions]
    if len(set(ids)) != len(ids):
        raise BenchmarkFileError(f"{source}: question_id values repeat; each must be unique.")
    return questions


def load_alpaca_eval(path: str | os.PathLike | None = None) -> list[AlpacaEvalInstruction]:
    """AlpacaEval's evaluation set (``instruction``, ``dataset``)."""
    source = Path(path) if path else hub_file("alpaca_eval")
    expected = "AlpacaEval's evaluation set (instruction, dataset)"
    return [AlpacaEvalInstruction(str(_need(rec, ("instruction",), f"{source}, record {i}",
                                            expected)), str(rec.get("dataset", "")))
            for i, rec in enumerate(read_records(source), start=1)]


def load_truthfulqa(path: str | os.PathLike | None = None) -> list[str]:
    """TruthfulQA's questions: ``Question`` in the original CSV, ``question`` on the Hub."""
    source = Path(path) if path else hub_file("truthfulqa")
    return [str(_need(rec, ("Question", "question"), f"{source}, record {i}",
                      "TruthfulQA.csv (Question) or truthfulqa/truthful_qa (question)"))
            for i, rec in enumerate(read_records(source), start=1)]


def check_folder(path: str | os.PathLike) -> Path:
    """A folder holding the three files of ``FILES``, or an error naming what it lacks."""
    folder = Path(path)
    missing = [name for name in FILES.values() if not (folder / name).is_file()]
    if missing:
        raise BenchmarkFileError(f"decontaminate={str(path)!r}: the folder lacks {missing}. It "
                                 f"must hold {list(FILES.values())}, as "
                                 "../shared/data/benchmarks does; or pass 'hub' to load the "
                                 "benchmarks from the Hub.")
    return folder
