"""Pipeline steps and the counts they leave behind, in the style of datatrove.

A step is a small object with a stable ``name``. ``apply`` takes one row (a dict) and returns
the row, possibly changed, or a :class:`Drop` whose ``reason`` is the step's name. The runner
counts rows in, kept and dropped per reason in a :class:`Stats`, and stats from several workers
merge by addition, so the totals do not depend on how the work was split.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Drop:
    """A row leaves the pipeline: ``reason`` is a stable name, ``detail`` says what matched."""

    reason: str
    detail: str = ""


@dataclass
class Stats:
    """Counts of one run or one worker's share of it; ``merge`` adds another one in."""

    rows_in: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    counters: Counter = field(default_factory=Counter)

    def merge(self, other: Stats) -> Stats:
        self.rows_in += other.rows_in
        self.kept += other.kept
        self.dropped.update(other.dropped)
        self.counters.update(other.counters)
        return self

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def check_accounting(self) -> None:
        """Every row that came in was kept or dropped with a reason."""
        if self.rows_in != self.kept + self.dropped_total:
            raise AssertionError(f"rows in ({self.rows_in}) != kept ({self.kept}) + dropped "
                                 f"({self.dropped_total}): {dict(self.dropped)}")

    def to_dict(self) -> dict[str, Any]:
        return {"rows_in": self.rows_in, "kept": self.kept,
                "dropped": dict(sorted(self.dropped.items())),
                "dropped_total": self.dropped_total,
                "counters": dict(sorted(self.counters.items()))}


class Step:
    """A named, pure processing step.

    ``apply`` handles one row. ``apply_batch`` handles the rows of a work unit at once and by
    default calls ``apply`` on each; a step overrides it to do columnar work (e.g. a regex over
    every message with polars) and must give the same results as ``apply`` row by row.
    """

    name: str = "step"

    def apply(self, row: dict[str, Any], stats: Stats) -> dict[str, Any] | Drop:
        raise NotImplementedError

    def apply_batch(self, rows: list[dict[str, Any]], stats: Stats) -> list[dict[str, Any] | Drop]:
        return [self.apply(row, stats) for row in rows]


class Filter(Step):
    """A step that keeps or drops: ``check`` returns None to keep, or a detail to drop."""

    def check(self, row: dict[str, Any]) -> str | None:
        raise NotImplementedError

    def apply(self, row: dict[str, Any], stats: Stats) -> dict[str, Any] | Drop:
        detail = self.check(row)
        return row if detail is None else Drop(self.name, detail)


def run_steps(rows: Iterable[tuple[str, Any]], parse: Callable[[str, Any], dict | Drop],
              steps: list[Step], stats: Stats,
              on_drop: Callable[[str, Any, Drop], None]) -> list[dict[str, Any]]:
    """Parse each ``(ref, raw)`` row of a batch and run the batch through ``steps``.

    Returns the rows that pass; each dropped row goes to ``on_drop(ref, row, drop)`` and is
    counted under its reason. A row leaves at the first step that drops it, so a row is counted
    once. ``stats.kept`` is left to the caller, since later global stages (deduplication,
    sampling) may still drop rows.
    """
    alive: list[dict[str, Any]] = []
    refs: list[str] = []
    for ref, raw in rows:
        stats.rows_in += 1
        row = parse(ref, raw)
        if isinstance(row, Drop):
            stats.dropped[row.reason] += 1
            on_drop(ref, raw, row)
        else:
            alive.append(row)
            refs.append(ref)
    for step in steps:
        if not alive:
            break
        results = step.apply_batch(alive, stats)
        survivors, survivor_refs = [], []
        for ref, row, result in zip(refs, alive, results):
            if isinstance(result, Drop):
                stats.dropped[result.reason] += 1
                on_drop(ref, row, result)
            else:
                survivors.append(result)
                survivor_refs.append(ref)
        alive, refs = survivors, survivor_refs
    return alive
