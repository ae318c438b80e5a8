"""MT-Bench and AlpacaEval: questions in, answer files out, in the formats their judges read.

* MT-Bench answers: FastChat's ``data/mt_bench/model_answer/{model_id}.jsonl``, one JSON object a
  line: ``question_id``, ``answer_id``, ``model_id``, ``choices: [{index, turns}]``, ``tstamp``.
* AlpacaEval outputs: ``model_outputs.json``, a JSON list of ``{instruction, output, generator,
  dataset}`` in the order of the evaluation set.

Both writers resume a partial file: finished items are kept, the rest is generated.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# FastChat (fastchat/llm_judge/common.py): sampling temperature per MT-Bench category; 0 = greedy.
MT_BENCH_TEMPERATURE = {
    "writing": 0.7, "roleplay": 0.7,
    "extraction": 0.0, "math": 0.0, "coding": 0.0, "reasoning": 0.0,
    "stem": 0.1, "humanities": 0.1,
    "arena-hard-200": 0.0,
}
MT_BENCH_DEFAULT_TEMPERATURE = 0.7  # FastChat's value for a category not in the table
MT_BENCH_HUB = ("HuggingFaceH4/mt_bench_prompts", "raw/question.jsonl")  # FastChat's question file
ALPACA_EVAL_HUB = ("tatsu-lab/alpaca_eval", "alpaca_eval.json")
_SHORTUUID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def answer_id() -> str:
    """A 22-character id from shortuuid's alphabet, like FastChat's ``shortuuid.uuid()``."""
    return "".join(secrets.choice(_SHORTUUID_ALPHABET) for _ in range(22))


def mt_bench_temperature(category: str) -> float:
    return MT_BENCH_TEMPERATURE.get(category, MT_BENCH_DEFAULT_TEMPERATURE)


@dataclass(frozen=True)
class MTBenchQuestion:
    question_id: int
    category: str
    turns: tuple[str, ...]


@dataclass(frozen=True)
class AlpacaEvalInstruction:
    instruction: str
    dataset: str


def _read_records(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        records = json.loads(text)
        if not isinstance(records, list):
            raise ValueError(f"{path} holds a JSON {type(records).__name__}; expected a list.")
        return records
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _hub_file(repo_and_file: tuple[str, str]) -> Path:
    from huggingface_hub import hf_hub_download

    repo, filename = repo_and_file
    return Path(hf_hub_download(repo, filename, repo_type="dataset"))


def _require(record: dict, keys: Iterable[str], where: str, line: int, example: str) -> None:
    missing = [k for k in keys if k not in record]
    if missing:
        raise ValueError(
            f"{where}, record {line}: missing {missing} (has {sorted(record)}). Expected "
            f"{example}."
        )


def load_mt_bench(path: str | os.PathLike | None = None) -> list[MTBenchQuestion]:
    """FastChat's ``question.jsonl`` (80 questions, 2 turns), from ``path`` or the Hub."""
    source = Path(path) if path else _hub_file(MT_BENCH_HUB)
    questions = []
    for i, rec in enumerate(_read_records(source), start=1):
        _require(rec, ("question_id", "category", "turns"), str(source), i,
                 "FastChat's MT-Bench question.jsonl (question_id, category, turns)")
        if not rec["turns"] or not all(isinstance(t, str) for t in rec["turns"]):
            raise ValueError(f"{source}, record {i}: 'turns' must be a non-empty list of strings.")
        questions.append(MTBenchQuestion(int(rec["question_id"]), rec["category"],
                                         tuple(rec["turns"])))
    ids = [q.question_id for q in questions]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{source}: question_id values repeat; each must be unique.")
    return questions


def load_alpaca_eval(path: str | os.PathLike | None = None) -> list[AlpacaEvalInstruction]:
    """AlpacaEval's 805 instructions (``instruction``, ``dataset``), from ``path`` or the Hub."""
    source = Path(path) if path else _hub_file(ALPACA_EVAL_HUB)
    items = []
    for i, rec in enumerate(_read_records(source), start=1):
        _require(rec, ("instruction", "dataset"), str(source), i,
                 "AlpacaEval's evaluation set (instruction, dataset)")
        items.append(AlpacaEvalInstruction(rec["instruction"], rec["dataset"]))
    return items


# ---------------------------------------------------------------------------- MT-Bench answers


class MTBenchAnswerFile:
    """FastChat ``model_answer`` JSONL, appended one finished question at a time."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def load(self) -> dict[int, dict]:
        """Finished answers by question id. A line cut short by an interruption is dropped and
        the file rewritten without it."""
        if not self.path.exists():
            return {}
        done: dict[int, dict] = {}
        lines = self.path.read_text(encoding="utf-8").splitlines()
        broken = False
        for line in lines:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                qid = int(rec["question_id"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                broken = True
                continue
            done.setdefault(qid, rec)
        if broken:
            self._write(done.values())
        return done

    def append(self, record: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def finalize(self) -> list[dict]:
        """Sort by question id and drop duplicates, as FastChat's ``reorg_answer_file`` does."""
        records = sorted(self.load().values(), key=lambda r: r["question_id"])
        self._write(records)
        return records

    def _write(self, records: Iterable[dict]) -> None:
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for rec in records:
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        os.replace(tmp, self.path)


# ------------------------------------------------------------------------- AlpacaEval outputs


class AlpacaEvalOutputFile:
    """``model_outputs.json``: rewritten atomically after every batch, so that an interrupted
    run leaves a valid file holding the finished prefix of the evaluation set."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def load(self, items: list[AlpacaEvalInstruction], generator: str) -> list[dict]:
        if not self.path.exists():
            return []
        try:
            records = json.loads(self.path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(
                f"{self.path} is not valid JSON ({err}); it was not written by this tool. Move "
                "it away to start afresh."
            ) from err
        for i, rec in enumerate(records):
            if i >= len(items) or rec.get("instruction") != items[i].instruction:
                raise ValueError(
                    f"{self.path} entry {i} does not match the evaluation set's instruction "
                    f"{i}; the file belongs to another question set. Move it away or pass "
                    "another output file."
                )
            if rec.get("generator") != generator:
                raise ValueError(
                    f"{self.path} entry {i} was generated by {rec.get('generator')!r}, not "
                    f"{generator!r}. Pass the matching --model_id or another output file."
                )
        return records

    def save(self, records: list[dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(records, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(tmp, self.path)
