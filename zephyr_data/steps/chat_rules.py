"""The rules that drop dialogues in the Zephyr recipe's UltraChat filtering.

Structural defects (``empty_dialogue``, ``no_assistant_turn``, ``odd_turn_count``,
``empty_turn``) and persona answers (one :class:`PersonaAnswer` per rule of the filters file:
``as_an_ai``, ``no_personal_experience``, ...), each a filter on the ``messages`` column. The
persona patterns run column-wise in polars (Rust regex, case-insensitive) over every assistant
turn of a batch at once, and Python's ``re`` finds the matched text of the few rows that drop,
so patterns must work in both.
"""

from __future__ import annotations

import re

import numpy as np
import polars as pl

from ..core.messages import ASSISTANT, WHITESPACE, flatten
from ..core.step import Filter, details_where


class EmptyDialogue(Filter):
    name = "empty_dialogue"

    def details(self, batch: pl.DataFrame) -> pl.Series:
        return details_where(batch["messages"].list.len().fill_null(0) == 0, "no turns")


class NoAssistantTurn(Filter):
    name = "no_assistant_turn"

    def details(self, batch: pl.DataFrame) -> pl.Series:
        return details_where(batch["messages"].list.len().fill_null(0) < 2, "only a user turn")


class OddTurnCount(Filter):
    name = "odd_turn_count"

    def details(self, batch: pl.DataFrame) -> pl.Series:
        lengths = batch["messages"].list.len().fill_null(0)
        odd = (lengths % 2 == 1).to_numpy()
        return details_where(odd, [f"{n} turns: the last user turn has no answer"
                                   for n in lengths.filter(pl.Series(odd)).to_list()])


class EmptyTurn(Filter):
    name = "empty_turn"

    def details(self, batch: pl.DataFrame) -> pl.Series:
        flat = flatten(batch["messages"])
        empty = (flat.content.str.strip_chars(WHITESPACE).str.len_bytes() == 0).to_numpy()
        first = flat.first_per_row(empty)
        rows = first >= 0
        return details_where(rows, [f"turn {flat.turn[i]} ({flat.role[int(i)]}) is empty or "
                                    "white space" for i in first[rows]])


STRUCTURAL: dict[str, type[Filter]] = {
    cls.name: cls for cls in (EmptyDialogue, NoAssistantTurn, OddTurnCount, EmptyTurn)}


class PersonaAnswer(Filter):
    """Drops a dialogue when one of its assistant turns matches one of the rule's patterns."""

    def __init__(self, name: str, patterns: list[str]):
        self.name = name
        self.source = "|".join(f"(?:{p})" for p in patterns)
        self.pattern = re.compile(self.source, re.IGNORECASE)

    def details(self, batch: pl.DataFrame) -> pl.Series:
        flat = flatten(batch["messages"])
        assistant = (flat.role == ASSISTANT).to_numpy()
        hit = np.zeros(len(assistant), dtype=bool)
        if assistant.any():
            turns = flat.content.filter(pl.Series(assistant))
            hit[np.flatnonzero(assistant)] = turns.str.contains("(?i)" + self.source).to_numpy()
        first = flat.first_per_row(hit)
        rows = first >= 0
        texts = []
        for i in first[rows].tolist():
            text = flat.content[i]
            m = self.pattern.search(text)
            texts.append(f"turn {flat.turn[i]}: {(m.group() if m else text[:60])!r}")
        return details_where(rows, texts)
