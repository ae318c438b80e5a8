"""The statistics of a build as tables: one set of rows (rows in, kept, dropped per reason,
counters, rows per split), rendered as Markdown (the card, the notebooks) or as text (the end of
a run)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Row = tuple[str, Any]


def split_rows(splits: Mapping[str, Mapping[str, int]]) -> list[Row]:
    return [(name, s["num_examples"]) for name, s in splits.items()]


def drop_rows(stats: Mapping[str, Any], code: bool = True) -> list[Row]:
    return [(f"`{k}`" if code else k, v) for k, v in sorted(stats["dropped"].items())]


def counter_rows(stats: Mapping[str, Any]) -> list[Row]:
    return [(k.replace("_", " "), v) for k, v in sorted(stats["counters"].items())]


def stats_rows(stats: Mapping[str, Any], splits: Mapping[str, Mapping[str, int]] | None = None,
               code: bool = True) -> list[Row]:
    """Every count of a run, in the order the tables show them."""
    rows: list[Row] = [("rows in", stats["rows_in"]), ("kept", stats["kept"])]
    rows += [(f"dropped: {k}", v) for k, v in drop_rows(stats, code)]
    rows += counter_rows(stats)
    rows += [(f"split {k}", v) for k, v in split_rows(splits or {})]
    return rows


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def markdown(rows: Sequence[Row], head: tuple[str, str], empty: str = "(none)") -> str:
    lines = [f"| {head[0]} | {head[1]} |", "|---|---:|"]
    lines += [f"| {a} | {_number(b)} |" for a, b in rows or [(empty, 0)]]
    return "\n".join(lines)


def text(rows: Sequence[Row]) -> str:
    width = max((len(label) for label, _ in rows), default=0)
    return "\n".join(f"{label:<{width}}  {_number(n):>10}" for label, n in rows)
