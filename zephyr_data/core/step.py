"""The step contract, in the style of datatrove: a small pure step with a stable name.

A step is called one way: ``step(batch) -> Outcome``. ``batch`` is a polars DataFrame of the
pipeline's working columns (one row per input row still alive); the step reads it and returns
what it decided, and changes nothing itself:

- ``drop``: per row, the reason the row leaves the pipeline (null keeps it); every reason is one
  of the step's ``reasons``, named constants that say what failed;
- ``detail``: per row, what matched (read only for the rows that drop; it goes to the dump);
- ``columns``: new values for working columns (every row), e.g. repaired messages;
- ``counters``: numbers the step wants recorded (``truecased_messages``...).

The runner applies outcomes: it counts rows in, rows dropped per reason and kept, merges the
counters, writes dropped rows to the dump, and hands the survivors to the next step. A step never
sees the run's statistics. A step's reasons are its name or start with it (``contaminated`` gives
``contaminated_mt_bench``), so a reason always says which step made it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl

INVALID_ROW = "invalid_row"  # a row that could not be parsed (with --on-bad-row drop)


@dataclass(frozen=True)
class Outcome:
    """What a step decided about a batch (see the module docstring)."""

    drop: pl.Series | None = None
    detail: pl.Series | None = None
    columns: Mapping[str, pl.Series] = field(default_factory=dict)
    counters: Mapping[str, int] = field(default_factory=dict)


class Step:
    """A named, pure processing step: ``step(batch) -> Outcome``. ``reasons`` lists every
    reason it may drop a row for (none for a step that only changes or counts)."""

    name: str = ""
    reasons: tuple[str, ...] = ()

    def __call__(self, batch: pl.DataFrame) -> Outcome:
        raise NotImplementedError


class Filter(Step):
    """A step that only drops rows, for one reason: its name.

    Subclasses implement ``details(batch)``: per row, why the row drops (a string), or null to
    keep it.
    """

    @property  # type: ignore[override]
    def reasons(self) -> tuple[str, ...]:
        return (self.name,)

    def details(self, batch: pl.DataFrame) -> pl.Series:
        raise NotImplementedError

    def __call__(self, batch: pl.DataFrame) -> Outcome:
        detail = self.details(batch)
        drop = pl.select(pl.when(detail.is_not_null()).then(pl.lit(self.name))
                         .otherwise(None).cast(pl.String)).to_series()
        return Outcome(drop=drop, detail=detail)


def details_where(mask: np.ndarray | pl.Series, texts: list[str] | str) -> pl.Series:
    """A per-row detail column: ``texts`` (one string, or one per row where ``mask`` holds)
    where ``mask`` holds, null elsewhere."""
    mask = mask.to_numpy() if isinstance(mask, pl.Series) else np.asarray(mask, dtype=bool)
    out = pl.Series([None] * len(mask), dtype=pl.String)
    hits = np.flatnonzero(mask)
    if not len(hits):
        return out
    values = [texts] * len(hits) if isinstance(texts, str) else texts
    if len(values) != len(hits):
        raise ValueError(f"{len(values)} details for {len(hits)} rows")
    return out.scatter(hits, pl.Series(values, dtype=pl.String))


def check_reason_names(step: Step) -> None:
    """A step's reasons are its name, or start with its name and an underscore."""
    bad = [r for r in step.reasons if r != step.name and not r.startswith(step.name + "_")]
    if bad or not step.name:
        raise ValueError(f"step {type(step).__name__} (name {step.name!r}) has reasons {bad} "
                         "that do not start with its name")
