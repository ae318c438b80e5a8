"""List-of-struct columns taken apart and put back (``core.messages``): exact offsets, rows and
turns, and round trips through ``flatten``/``rebuild`` for every shape a batch can hold."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from zephyr_data.core.messages import (
    ASSISTANT,
    MESSAGES,
    USER,
    WHITESPACE,
    flatten,
    from_turns,
    parity_role,
)


def msg(content, role=USER):
    return {"content": content, "role": role}


ROWS = [[msg("a"), msg("b", ASSISTANT)], [], None, [msg("c")], [msg("d"), msg("e", ASSISTANT),
                                                                 msg("f")]]


def column(rows=ROWS) -> pl.Series:
    return pl.Series("messages", rows, dtype=MESSAGES)


def as_lists(series: pl.Series) -> list:
    return series.to_list()


def expected(rows=ROWS) -> list:
    return [row or [] for row in rows]  # a null list comes back empty


def test_flatten_gives_offsets_rows_and_turns():
    flat = flatten(column())
    assert flat.offsets.tolist() == [0, 2, 2, 2, 3, 6]
    assert flat.rows == 5
    assert flat.content.to_list() == list("abcdef")
    assert flat.role.to_list() == [USER, ASSISTANT, USER, USER, ASSISTANT, USER]
    assert flat.lengths.tolist() == [2, 0, 0, 1, 3]
    assert flat.row.tolist() == [0, 0, 3, 4, 4, 4]
    assert flat.turn.tolist() == [0, 1, 0, 0, 1, 2]


def test_rebuild_round_trips_with_empty_and_null_lists():
    rebuilt = flatten(column()).rebuild()
    assert rebuilt.dtype == MESSAGES
    assert as_lists(rebuilt) == expected()


@pytest.mark.parametrize("rows", [[], [[]], [None], [None, []], [[msg("x")]]],
                         ids=["no rows", "one empty", "one null", "null and empty", "one"])
def test_round_trip_of_small_columns(rows):
    flat = flatten(column(rows))
    assert flat.rows == len(rows)
    assert flat.offsets.tolist() == [0, *np.cumsum([len(r or []) for r in rows]).tolist()]
    rebuilt = flat.rebuild()
    assert rebuilt.dtype == MESSAGES
    assert as_lists(rebuilt) == expected(rows)
    keep = np.zeros(len(flat.fields), dtype=bool)
    assert as_lists(flat.rebuild(keep=keep)) == [[] for _ in rows]


def test_slices_and_chunked_columns_flatten_from_their_own_start():
    full = column()
    part = full.slice(3, 2)  # the offsets of a slice do not start at 0
    flat = flatten(part)
    assert flat.offsets.tolist() == [0, 1, 4]
    assert flat.content.to_list() == list("cdef")
    assert as_lists(flat.rebuild()) == expected()[3:]
    chunked = pl.concat([full.slice(0, 2), full.slice(3, 2)], rechunk=False)
    assert chunked.n_chunks() == 2
    flat = flatten(chunked)
    assert flat.offsets.tolist() == [0, 2, 2, 3, 6]
    assert as_lists(flat.rebuild()) == expected(ROWS[:2] + ROWS[3:])


def test_rebuild_with_a_keep_mask_drops_elements_and_keeps_rows():
    flat = flatten(column())
    keep = np.array([True, False, False, True, False, True])  # a, -b, -c, d, -e, f
    rebuilt = flat.rebuild(keep=keep)
    assert as_lists(rebuilt) == [[msg("a")], [], [], [], [msg("d"), msg("f")]]
    assert rebuilt.dtype == MESSAGES


def test_rebuild_replaces_a_field_and_adds_one():
    flat = flatten(column())
    upper = flat.content.str.to_uppercase()
    replaced = flat.rebuild({"content": upper})
    assert replaced.dtype == MESSAGES
    assert [[m["content"] for m in row] for row in replaced.to_list()] == \
        [["A", "B"], [], [], ["C"], ["D", "E", "F"]]
    added = flat.rebuild({"turn": pl.Series(flat.turn)}, keep=flat.turn > 0)
    assert added.dtype == pl.List(pl.Struct({"content": pl.String, "role": pl.String,
                                             "turn": pl.Int64}))
    assert added.to_list() == [[{**msg("b", ASSISTANT), "turn": 1}], [], [], [],
                               [{**msg("e", ASSISTANT), "turn": 1}, {**msg("f"), "turn": 2}]]


def test_per_row_and_first_per_row():
    flat = flatten(column())
    mask = np.array([False, True, True, False, True, True])  # b; c; e, f
    assert flat.per_row(mask).tolist() == [1, 0, 0, 1, 2]
    assert flat.first_per_row(mask).tolist() == [1, -1, -1, 2, 4]
    assert flat.first_per_row(np.zeros(6, dtype=bool)).tolist() == [-1] * 5
    assert flat.first_per_row(np.ones(6, dtype=bool)).tolist() == [0, -1, -1, 2, 3]
    empty = flatten(column([[], None]))
    assert empty.first_per_row(np.zeros(0, dtype=bool)).tolist() == [-1, -1]
    assert empty.per_row(np.zeros(0, dtype=bool)).tolist() == [0, 0]


def test_other_lists_of_structs_flatten_too():
    dtype = pl.List(pl.Struct({"response": pl.String, "score": pl.Float64}))
    col = pl.Series("completions", [[{"response": "x", "score": 1.5}], None,
                                    [{"response": "y", "score": None}]], dtype=dtype)
    flat = flatten(col)
    assert flat.fields.columns == ["response", "score"]
    assert flat.fields["score"].to_list() == [1.5, None]
    rebuilt = flat.rebuild({"score": flat.fields["score"].fill_null(0.0)})
    assert rebuilt.dtype == dtype
    assert rebuilt.to_list() == [[{"response": "x", "score": 1.5}], [],
                                 [{"response": "y", "score": 0.0}]]


def test_parity_role_and_from_turns():
    assert [parity_role(i) for i in range(4)] == [USER, ASSISTANT, USER, ASSISTANT]
    col = from_turns([["q", "a", "q2"], []])
    assert col.dtype == MESSAGES
    assert col.to_list() == [[msg("q"), msg("a", ASSISTANT), msg("q2")], []]


def test_whitespace_is_pythons():
    assert all(ch.isspace() for ch in WHITESPACE)
    # Python counts the information separators \x1c-\x1f as white space; Rust does not.
    assert {"\x1c", "\x1f", "\x85", "\u3000", " ", "\t"} <= set(WHITESPACE)
    assert "\u200b" not in WHITESPACE and "\ufeff" not in WHITESPACE
    assert len(WHITESPACE) == len(set(WHITESPACE)) == 29
