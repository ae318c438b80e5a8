"""The rules that drop dialogues in the Zephyr recipe's UltraChat filtering, by role.

Rules on the roles: ``tool_turn`` (a tool or function result, or an assistant message that
calls a tool: the H4 schema has no such turns) and ``roles_not_alternating`` (after any leading
system turns, user and assistant must alternate starting with user). Both always run: without
them the output would break the schema. Structural defects, counted over user and assistant
turns (system turns are not part of the exchange): ``empty_dialogue``, ``no_assistant_turn``,
``odd_turn_count`` (the last user turn has no answer), ``empty_turn`` (any turn, system
included). Persona answers: one :class:`PersonaAnswer` per rule of the filters file
(``as_an_ai``, ``no_personal_experience``, ...), matched in assistant turns only (a system
turn is an instruction, not an answer). The persona patterns run column-wise in polars (Rust
regex, case-insensitive) over every assistant turn of a batch at once, and Python's ``re`` finds
the matched text of the few rows that drop, so patterns must work in both.
"""

from __future__ import annotations

import re

import numpy as np
import polars as pl

from ..core.messages import ASSISTANT, SYSTEM, USER, WHITESPACE, FlatList, flatten
from ..core.step import Filter, details_where

TOOL_ROLES = ("tool", "tool_call")  # formats.chat's names for tool results and tool calls


def _exchange(flat: FlatList) -> np.ndarray:
    """User and assistant turns per row (system and tool turns left out)."""
    return flat.per_row(flat.role.is_in([USER, ASSISTANT]).to_numpy())


class EmptyDialogue(Filter):
    name = "empty_dialogue"

    def details(self, batch: pl.DataFrame) -> pl.Series:
        flat = flatten(batch["messages"])
        empty = (_exchange(flat) == 0) & (flat.per_row(flat.role.is_in(TOOL_ROLES)
                                                       .to_numpy()) == 0)
        texts = ["no turns" if flat.lengths[r] == 0 else "only system turns"
                 for r in np.flatnonzero(empty)]
        return details_where(empty, texts)


class ToolTurn(Filter):
    """A tool or function turn: the H4 schema (and the Zephyr recipe) has no place for it."""

    name = "tool_turn"

    def details(self, batch: pl.DataFrame) -> pl.Series:
        flat = flatten(batch["messages"])
        first = flat.first_per_row(flat.role.is_in(TOOL_ROLES).to_numpy())
        rows = first >= 0
        return details_where(rows, [
            f"turn {flat.turn[i]}: " + ("an assistant message that calls a tool"
                                        if flat.role[int(i)] == "tool_call" else
                                        "a tool or function result") for i in first[rows]])


class RolesNotAlternating(Filter):
    """After any leading system turns, user and assistant alternate, starting with user (so a
    dialogue with no user turn drops here, when ``empty_dialogue`` did not run before)."""

    name = "roles_not_alternating"

    def details(self, batch: pl.DataFrame) -> pl.Series:
        flat = flatten(batch["messages"])
        roles = flat.role.to_numpy()
        others = np.cumsum(roles != SYSTEM)  # turns that are not system ones, so far
        before = np.concatenate([[0], others])[flat.offsets[:-1]]  # ... before each row
        leading = (roles == SYSTEM) & (others == np.repeat(before, flat.lengths))
        # position among the turns after the leading system turns: 0, 1, 2, ...
        exchange_pos = flat.turn - np.repeat(flat.per_row(leading), flat.lengths)
        expected = np.where(exchange_pos % 2 == 0, USER, ASSISTANT)
        bad = ~leading & (roles != expected) & ~np.isin(roles, TOOL_ROLES)
        first = flat.first_per_row(bad)
        no_user = (first < 0) & (flat.per_row(roles == USER) == 0)  # nothing but system turns
        texts = []
        for row, i in enumerate(first.tolist()):
            if no_user[row]:
                texts.append("no user turn")
                continue
            if i < 0:
                continue
            role, turn = roles[i], flat.turn[i]
            if role == SYSTEM:
                texts.append(f"turn {turn}: a system turn after the conversation started")
            elif exchange_pos[i] == 0:
                texts.append(f"turn {turn}: the first turn after the system turns is {role!r}, "
                             "not 'user'" if turn else f"turn 0: starts with {role!r}, not 'user'")
            else:
                texts.append(f"turn {turn}: {role!r} follows {roles[i - 1]!r}")
        return details_where((first >= 0) | no_user, texts)


class NoAssistantTurn(Filter):
    name = "no_assistant_turn"

    def details(self, batch: pl.DataFrame) -> pl.Series:
        flat = flatten(batch["messages"])
        users = flat.per_row((flat.role == USER).to_numpy())
        none = (flat.per_row((flat.role == ASSISTANT).to_numpy()) == 0) & (users > 0)
        return details_where(none, ["only a user turn" if users[r] == 1 else
                                    f"{users[r]} user turns and no answer"
                                    for r in np.flatnonzero(none)])


class OddTurnCount(Filter):
    name = "odd_turn_count"

    def details(self, batch: pl.DataFrame) -> pl.Series:
        turns = _exchange(flatten(batch["messages"]))
        odd = turns % 2 == 1
        return details_where(odd, [f"{n} turns: the last user turn has no answer"
                                   for n in turns[odd].tolist()])


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
    cls.name: cls for cls in (EmptyDialogue, ToolTurn, RolesNotAlternating, NoAssistantTurn,
                              OddTurnCount, EmptyTurn)}
REQUIRED = (ToolTurn.name, RolesNotAlternating.name)  # always run: the schema needs them


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
