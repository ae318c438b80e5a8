"""Running one step the way the runner does, on a small batch built by hand."""

from __future__ import annotations

from typing import Any

import polars as pl

from zephyr_data.core.messages import from_turns
from zephyr_data.core.stats import Stats
from zephyr_data.core.step import Step
from zephyr_data.runner.chain import check_outcome, run_steps


def dialogues(*turns: list[str]) -> pl.DataFrame:
    """A batch of dialogues (user, assistant, ...), one per argument."""
    return pl.DataFrame({"messages": from_turns(list(turns)),
                         "_ref": [f"row{i}" for i in range(len(turns))]})


def decide(step: Step, batch: pl.DataFrame) -> list[tuple[str, str] | None]:
    """Per row of ``batch``: ``(reason, detail)`` if ``step`` drops it, else None."""
    out = step(batch)
    check_outcome(step, out, batch.height)
    if out.drop is None:
        return [None] * batch.height
    details = out.detail.to_list() if out.detail is not None else [None] * batch.height
    return [None if r is None else (r, d) for r, d in zip(out.drop.to_list(), details)]


def run(step: Step, batch: pl.DataFrame) -> tuple[list[dict[str, Any]], Stats]:
    """The rows that pass ``step`` (as dicts) and the counts the runner records."""
    stats = Stats(rows_in=batch.height)
    kept = run_steps(batch, [step], stats, None)
    return kept.to_dicts(), stats
