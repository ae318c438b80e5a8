"""Tiny local copies of the Open LLM Leaderboard datasets, in the ``--data-dir`` layout.

Rows have the columns of the Hub datasets lm-eval's tasks read (allenai/ai2_arc,
Rowan/hellaswag, cais/mmlu, truthfulqa/truthful_qa), few enough for a seconds-long run: enough
training rows for 25 (ARC) and 10 (HellaSwag) shots, MMLU's 5 dev rows per subject.
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets

from zephyr_train.evaluation.lm_tasks import ResolvedTask
from zephyr_train.evaluation.task_data import dataset_dir

_FACTS = [
    ("Which gas do green plants take in to make sugar?", "carbon dioxide",
     ["oxygen", "nitrogen", "helium"]),
    ("What makes the tides rise and fall?", "the pull of the Moon",
     ["the wind", "the rotation of Mars", "underwater volcanoes"]),
    ("Which number is prime?", "seven", ["nine", "twelve", "fifteen"]),
    ("What does a glacier carve as it moves?", "valleys", ["clouds", "coral", "sand dunes"]),
    ("Where does a honeybee store nectar?", "in wax cells", ["in the soil", "in its wings",
                                                              "under leaves"]),
    ("What melts rock under a volcano?", "heat from inside the Earth",
     ["sunlight", "rain water", "moonlight"]),
]


def _fact(i: int):
    question, right, wrong = _FACTS[i % len(_FACTS)]
    return f"{question} (item {i})", right, wrong


def arc_rows(n: int, offset: int = 0) -> list[dict]:
    rows = []
    for i in range(offset, offset + n):
        question, right, wrong = _fact(i)
        answer = i % 4
        texts = wrong[:answer] + [right] + wrong[answer:]
        rows.append({"id": f"Mercury_{i:05d}", "question": question,
                     "choices": {"text": texts, "label": ["A", "B", "C", "D"]},
                     "answerKey": "ABCD"[answer]})
    return rows


def hellaswag_rows(n: int, offset: int = 0) -> list[dict]:
    rows = []
    for i in range(offset, offset + n):
        _, right, wrong = _fact(i)
        label = i % 4
        endings = [f"talks about {w}." for w in wrong]
        endings.insert(label, f"explains {right} [step] with care.")
        rows.append({"ind": i, "activity_label": "Teaching science",
                     "ctx_a": f"A teacher stands at the board in lesson {i}.",
                     "ctx_b": "she", "ctx": f"A teacher stands at the board in lesson {i}. she",
                     "endings": endings, "source_id": f"wikihow~{i}", "split": "train",
                     "split_type": "indomain", "label": str(label)})
    return rows


def mmlu_rows(subject: str, n: int, offset: int = 0) -> list[dict]:
    rows = []
    for i in range(offset, offset + n):
        question, right, wrong = _fact(i)
        answer = (i + len(subject)) % 4
        rows.append({"question": question, "subject": subject,
                     "choices": wrong[:answer] + [right] + wrong[answer:], "answer": answer})
    return rows


def truthfulqa_rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        question, right, wrong = _fact(i)
        choices = [right.capitalize() + ".", f"It is {right}."] + [w.capitalize() + "."
                                                                   for w in wrong]
        rows.append({"question": question,
                     "mc1_targets": {"choices": [choices[0], *choices[2:]],
                                     "labels": [1, 0, 0, 0]},
                     "mc2_targets": {"choices": choices, "labels": [1, 1, 0, 0, 0]}})
    return rows


def _rows_for(dataset: str, config: str | None, split: str) -> list[dict]:
    fewshot = split in ("train", "dev")
    if dataset == "allenai/ai2_arc":
        return arc_rows(26, 100) if fewshot else arc_rows(3, 0 if split == "test" else 50)
    if dataset == "Rowan/hellaswag":
        return hellaswag_rows(12, 100) if fewshot else hellaswag_rows(3)
    if dataset == "cais/mmlu":
        return mmlu_rows(config, 5, 100) if fewshot else mmlu_rows(config, 2)
    if dataset == "truthfulqa/truthful_qa":
        return truthfulqa_rows(3)
    raise ValueError(f"no tiny rows for {dataset}")


def write_task_data(root: Path, resolved: list[ResolvedTask], fmt: str = "parquet") -> Path:
    """Every split every leaf task names, as ``.parquet`` (through ``datasets``) or ``.jsonl``."""
    for item in resolved:
        for leaf in item.leaves:
            folder = dataset_dir(root, leaf)
            folder.mkdir(parents=True, exist_ok=True)
            for split in leaf.splits:
                rows = _rows_for(leaf.dataset_path, leaf.dataset_name, split)
                if fmt == "parquet":
                    datasets.Dataset.from_list(rows).to_parquet(folder / f"{split}.parquet")
                else:
                    (folder / f"{split}.jsonl").write_text(
                        "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return root
