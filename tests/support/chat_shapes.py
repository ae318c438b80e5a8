"""Real dialogues from ``../shared/data`` written in every chat shape ``build_ultrachat``
reads: ultrachat, messages (TRL/OpenAI/H4), ShareGPT and Alpaca; and builds of them.

No raw multi-turn chat data is public outside the Hub, so a dialogue is made of real rounds:
each round a real prompt and its real chosen answer from the two UltraFeedback samples; about
a third of the dialogues have one round (those are also written as Alpaca rows), the others two
or three.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from zephyr_data.core.config import make_config
from zephyr_data.pipelines.ultrachat import UltraChatConfig, UltraChatPipeline
from zephyr_data.runner.build import BuildResult, build

SAMPLES = ("trl_binarized_sample1000.jsonl", "argilla_style_sample1000.jsonl")
# Real system prompts (of the kind UltraFeedback's completions were generated with).
SYSTEMS = ("You are a helpful assistant.",
           "You are an AI assistant. Provide a detailed answer so the user does not need to "
           "search elsewhere to understand it.",
           "Answer as concisely as you can, and say so when you are not sure.")
Dialogue = list[str]  # user, assistant, user, assistant, ...


def real_rounds(shared_data: Path) -> list[tuple[str, str]]:
    """(prompt, chosen answer) of every row of the two samples, in file order."""
    rounds = []
    for name in SAMPLES:
        with open(shared_data / "ultrafeedback" / name, encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                chosen = row["chosen"]
                rounds.append((row["prompt"], chosen[-1]["content"] if isinstance(chosen, list)
                               else chosen))
    return rounds


def real_dialogues(shared_data: Path, n: int = 500, seed: int = 0) -> list[Dialogue]:
    """``n`` distinct dialogues of 1 to 3 real rounds, deterministic from ``seed``."""
    rounds = real_rounds(shared_data)
    rng = random.Random(seed)
    rng.shuffle(rounds)
    dialogues, seen, used = [], set(), 0
    while len(dialogues) < n:
        k = 1 if len(dialogues) % 3 == 0 else 2 + len(dialogues) % 2
        turns = [text for pair in rounds[used:used + k] for text in pair]
        used += k
        if tuple(turns) not in seen:
            seen.add(tuple(turns))
            dialogues.append(turns)
    return dialogues


def role(i: int) -> str:
    return "user" if i % 2 == 0 else "assistant"


def system_of(i: int) -> str | None:
    """The system prompt added to dialogue ``i`` in the messages shape: every other one."""
    return SYSTEMS[i % len(SYSTEMS)] if i % 2 == 1 else None


def as_ultrachat(i: int, turns: Dialogue) -> dict[str, Any]:
    return {"id": str(i), "data": turns}


def as_messages(i: int, turns: Dialogue) -> dict[str, Any]:
    system = system_of(i)
    head = [{"role": "system", "content": system}] if system else []
    return {"messages": head + [{"role": role(t), "content": c} for t, c in enumerate(turns)]}


def as_sharegpt(i: int, turns: Dialogue) -> dict[str, Any]:
    names = {"user": "human", "assistant": "gpt"}
    return {"id": f"sharegpt-{i}",
            "conversations": [{"from": names[role(t)], "value": c} for t, c in enumerate(turns)]}


def as_alpaca(i: int, turns: Dialogue) -> dict[str, Any]:
    assert len(turns) == 2, "Alpaca rows hold one exchange"
    return {"instruction": turns[0], "input": "", "output": turns[1]}


SHAPES = {"ultrachat": as_ultrachat, "messages": as_messages, "sharegpt": as_sharegpt,
          "alpaca": as_alpaca}


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write((row if isinstance(row, str) else json.dumps(row, ensure_ascii=False))
                     + "\n")
    return path


def write_shape(path: Path, shape: str, dialogues: list[Dialogue]) -> Path:
    """The dialogues as rows of ``shape`` (Alpaca: the one-round dialogues only)."""
    rows = [SHAPES[shape](i, d) for i, d in enumerate(dialogues)
            if shape != "alpaca" or len(d) == 2]
    return write_jsonl(path, rows)


def run_build(inp: Path | str, out: Path, **options: Any) -> BuildResult:
    """build_ultrachat in-process, quietly, without decontamination unless asked."""
    values = {"input": str(inp), "output_dir": str(out), "progress": False,
              "decontaminate": "off", **options}
    return build(UltraChatPipeline(make_config(UltraChatConfig, values, "test")))


def output_rows(folder: Path) -> list[tuple[str, list[dict[str, str]]]]:
    """(prompt_id, messages) of every row of train_sft, then test_sft, as written."""
    import pyarrow.parquet as pq

    rows = []
    for split in ("train_sft", "test_sft"):
        for path in sorted((folder / "data").glob(f"{split}-*.parquet")):
            rows += [(r["prompt_id"], r["messages"]) for r in pq.read_table(path).to_pylist()]
    return rows


def without_system(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    return [m for m in messages if m["role"] != "system"]
