"""List columns taken apart and put back together: conversations (``list<struct<content,
role>>``) and other lists of structs (UltraFeedback's completions).

Steps work on every element of a batch at once: :func:`flatten` gives the fields of all
elements as flat columns, with the row and position of each, so a regex or a Python repair runs
over one column; :meth:`FlatList.rebuild` puts changed fields, or a subset of the elements, back
into a list column of the same shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import polars as pl
import pyarrow as pa

from .schema import ROLES

SYSTEM, USER, ASSISTANT = ROLES
MESSAGE = pl.Struct({"content": pl.String, "role": pl.String})
MESSAGES = pl.List(MESSAGE)
# Every character Python's str.strip() and str.split() treat as white space (Rust's notion of
# white space leaves out a few control characters that Python includes).
WHITESPACE = "".join(chr(i) for i in range(0x110000) if chr(i).isspace())


def parity_role(turn: int) -> str:
    """The role of turn ``turn`` in a dialogue that alternates user, assistant, user, ..."""
    return USER if turn % 2 == 0 else ASSISTANT


@dataclass(frozen=True)
class FlatList:
    """Every element of a list-of-structs column, in row order."""

    offsets: np.ndarray  # int64, rows + 1: row r holds elements offsets[r]:offsets[r + 1]
    fields: pl.DataFrame  # one column per struct field, one row per element
    dtype: pl.DataType  # the list column's type

    @property
    def rows(self) -> int:
        return len(self.offsets) - 1

    @property
    def content(self) -> pl.Series:
        return self.fields["content"]

    @property
    def role(self) -> pl.Series:
        return self.fields["role"]

    @cached_property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @cached_property
    def row(self) -> np.ndarray:
        """The row of each element."""
        return np.repeat(np.arange(self.rows), self.lengths)

    @cached_property
    def turn(self) -> np.ndarray:
        """The position of each element in its list, from 0."""
        return np.arange(len(self.fields)) - np.repeat(self.offsets[:-1], self.lengths)

    def per_row(self, mask: np.ndarray) -> np.ndarray:
        """How many elements of each row ``mask`` holds for."""
        return np.bincount(self.row[mask], minlength=self.rows)

    def first_per_row(self, mask: np.ndarray) -> np.ndarray:
        """For each row, the index of its first element where ``mask`` holds, or -1."""
        first = np.full(self.rows, len(mask), dtype=np.int64)
        hits = np.flatnonzero(mask)
        np.minimum.at(first, self.row[hits], hits)
        first[first == len(mask)] = -1
        return first

    def rebuild(self, columns: Mapping[str, pl.Series] | None = None,
                keep: np.ndarray | None = None) -> pl.Series:
        """The list column with ``columns`` replacing (or adding) fields, keeping the elements
        where ``keep`` holds (all by default)."""
        fields = self.fields.with_columns(**dict(columns or {}))
        offsets = self.offsets
        if keep is not None:
            fields = fields.filter(pl.Series(keep))
            offsets = np.concatenate([[0], np.cumsum(self.per_row(keep))])
        values = fields.to_arrow().to_struct_array() if fields.width else None
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        lists = pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), values)
        dtype = self.dtype if not columns or set(columns) <= set(self.fields.columns) \
            else pl.List(pl.Struct(fields.schema))
        return pl.Series(lists).cast(dtype)


def flatten(column: pl.Series) -> FlatList:
    """Take a list-of-structs column apart (a null list counts as empty)."""
    dtype = column.dtype
    lists = column.fill_null([]).rechunk().to_arrow()
    if isinstance(lists, pa.ChunkedArray):
        lists = lists.combine_chunks()
    offsets = np.asarray(lists.offsets, dtype=np.int64)
    offsets = offsets - offsets[0]
    values = lists.flatten()
    fields = pl.from_arrow(pa.Table.from_struct_array(values)) if len(values) else \
        pl.DataFrame(schema=dtype.inner.to_schema())  # type: ignore[union-attr]
    return FlatList(offsets, fields, dtype)


def from_turns(turns: list[list[str]]) -> pl.Series:
    """A conversation column from lists of turns that alternate user and assistant."""
    return pl.Series([[{"content": t, "role": parity_role(i)} for i, t in enumerate(row)]
                      for row in turns], dtype=MESSAGES)
