"""Conversation columns (``list<struct<content, role>>``) taken apart and put back together.

Steps work on every message of a batch at once: :func:`flatten` gives the contents and roles
of all messages as two flat columns, with the row and turn of each, so a regex or a Python
repair runs over one column; :meth:`FlatMessages.rebuild` puts changed contents, or a subset
of the messages, back into a list column of the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import polars as pl
import pyarrow as pa

ROLES = ("system", "user", "assistant")
SYSTEM, USER, ASSISTANT = ROLES
MESSAGE = pl.Struct({"content": pl.String, "role": pl.String})
MESSAGES = pl.List(MESSAGE)
# Every character Python's str.strip() and str.split() treat as white space (Rust's notion of
# white space leaves out a few control characters that Python includes).
WHITESPACE = "".join(chr(i) for i in range(0x110000) if chr(i).isspace())


def parity_role(turn: int) -> str:
    """The role of turn ``turn`` in a dialogue that alternates user, assistant, user, ..."""
    return USER if turn % 2 == 0 else ASSISTANT


def parity_roles(n: int) -> list[str]:
    return [USER if t % 2 == 0 else ASSISTANT for t in range(n)]


@dataclass(frozen=True)
class FlatMessages:
    """Every message of a conversation column, in row order."""

    offsets: np.ndarray  # int64, rows + 1: row r holds messages offsets[r]:offsets[r + 1]
    content: pl.Series
    role: pl.Series

    @property
    def rows(self) -> int:
        return len(self.offsets) - 1

    @cached_property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @cached_property
    def row(self) -> np.ndarray:
        """The row of each message."""
        return np.repeat(np.arange(self.rows), self.lengths)

    @cached_property
    def turn(self) -> np.ndarray:
        """The position of each message in its conversation, from 0."""
        return np.arange(len(self.content)) - np.repeat(self.offsets[:-1], self.lengths)

    def first_per_row(self, mask: np.ndarray) -> np.ndarray:
        """For each row, the index of its first message where ``mask`` holds, or -1."""
        first = np.full(self.rows, len(mask), dtype=np.int64)
        hits = np.flatnonzero(mask)
        np.minimum.at(first, self.row[hits], hits)
        first[first == len(mask)] = -1
        return first

    def rebuild(self, content: pl.Series | None = None,
                keep: np.ndarray | None = None) -> pl.Series:
        """The list column with ``content`` in place of the contents, keeping the messages
        where ``keep`` holds (all by default)."""
        content = self.content if content is None else content
        role = self.role
        offsets = self.offsets
        if keep is not None:
            content, role = content.filter(pl.Series(keep)), role.filter(pl.Series(keep))
            lengths = np.bincount(self.row[keep], minlength=self.rows)
            offsets = np.concatenate([[0], np.cumsum(lengths)])
        values = pa.StructArray.from_arrays([content.to_arrow(), role.to_arrow()],
                                            names=["content", "role"])
        lists = pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), values)
        return pl.Series(lists).cast(MESSAGES)


def flatten(column: pl.Series) -> FlatMessages:
    """Take a ``list<struct<content, role>>`` column apart (a null list counts as empty)."""
    lists = column.fill_null([]).cast(MESSAGES).rechunk().to_arrow()
    if isinstance(lists, pa.ChunkedArray):
        lists = lists.combine_chunks()
    offsets = np.asarray(lists.offsets, dtype=np.int64)
    values = lists.flatten()
    offsets = offsets - offsets[0]
    content = pl.Series(values.field("content")).cast(pl.String)
    role = pl.Series(values.field("role")).cast(pl.String)
    return FlatMessages(offsets, content, role)


def from_turns(turns: list[list[str]]) -> pl.Series:
    """A conversation column from lists of turns that alternate user and assistant."""
    return pl.Series([[{"content": t, "role": parity_role(i)} for i, t in enumerate(row)]
                      for row in turns], dtype=MESSAGES)
