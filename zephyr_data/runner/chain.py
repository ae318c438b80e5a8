"""Parse rows and run a batch through a pipeline's steps: the one place steps are called, and
where every row is counted.

Each step gets the surviving rows and returns an ``Outcome``; here the rows it drops leave the
batch (counted under their reason, and written to the dump), its new columns replace the old
ones and its counters are added to the run's. A row leaves at the first step that drops it, so
it is counted once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import polars as pl

from ..core.errors import InputError
from ..core.stats import Stats
from ..core.step import INVALID_ROW, Outcome, Step

Dump = Callable[[str], None]


def dump_line(reason: str, detail: str | None, ref: str, row: Any) -> str:
    """One line of a ``--dump-dropped`` file."""
    return json.dumps({"reason": reason, "detail": detail, "ref": ref, "row": row},
                      ensure_ascii=False, default=str) + "\n"


def dump_rows(dump: Dump, rows: pl.DataFrame, reasons: list[str],
              details: list[str | None]) -> None:
    for record, reason, detail in zip(rows.to_dicts(), reasons, details):
        ref = record.get("_ref", "")
        row = {k: v for k, v in record.items() if not k.startswith("_")}
        dump(dump_line(reason, detail, ref, row))


def parse_rows(rows: Iterable[tuple[str, Any]], parse: Callable[[str, Any], dict[str, Any]],
               schema: dict[str, pl.DataType], stats: Stats, drop_bad: bool,
               dump: Dump | None) -> pl.DataFrame:
    """The working batch of raw ``(ref, row)`` pairs; a row that cannot be parsed (an
    ``InputError``, or the error a reader yields in its place) stops the run or, with
    ``drop_bad``, is counted as ``invalid_row``."""
    parsed = []
    for ref, raw in rows:
        stats.rows_in += 1
        try:
            if isinstance(raw, InputError):
                raise raw
            parsed.append({**parse(ref, raw), "_ref": ref})
        except InputError as err:
            if not drop_bad:
                raise
            stats.dropped[INVALID_ROW] += 1
            if dump is not None:
                dump(dump_line(INVALID_ROW, str(err), ref,
                               None if isinstance(raw, InputError) else raw))
    return pl.DataFrame(parsed, schema={**schema, "_ref": pl.String})


def check_outcome(step: Step, out: Outcome, rows: int) -> None:
    """A step's outcome fits its batch and names only reasons the step declares."""
    for name, series in [("drop", out.drop), ("detail", out.detail), *out.columns.items()]:
        if series is not None and len(series) != rows:
            raise RuntimeError(f"step {step.name!r} returned {len(series)} values for "
                               f"{name!r}, for a batch of {rows} rows")
    if out.drop is not None:
        unknown = set(out.drop.drop_nulls().unique().to_list()) - set(step.reasons)
        if unknown:
            raise RuntimeError(f"step {step.name!r} dropped rows for {sorted(unknown)}, "
                               f"which are not among its reasons {list(step.reasons)}")


def run_steps(batch: pl.DataFrame, steps: list[Step], stats: Stats,
              dump: Dump | None) -> pl.DataFrame:
    """The rows of ``batch`` that pass every step, as the steps left them."""
    for step in steps:
        if batch.height == 0:
            break
        out = step(batch)
        check_outcome(step, out, batch.height)
        keep = None
        if out.drop is not None and out.drop.null_count() < batch.height:
            keep = out.drop.is_null()
            reasons = out.drop.filter(~keep)
            counts = reasons.value_counts()
            stats.add(dropped=dict(zip(counts[counts.columns[0]].to_list(),
                                       counts["count"].to_list())))
            if dump is not None:
                detail = out.detail.filter(~keep).to_list() if out.detail is not None \
                    else [None] * len(reasons)
                dump_rows(dump, batch.filter(~keep), reasons.to_list(), detail)
        if out.columns:
            batch = batch.with_columns(**dict(out.columns))
        if keep is not None:
            batch = batch.filter(keep)
        stats.add(counters=out.counters)
    return batch
