"""Parsing and the step chain (``runner.chain``): where every row is counted, dropped rows are
dumped and step outcomes are checked, on real steps and small hand-made ones."""

from __future__ import annotations

import json
from datetime import date

import polars as pl
import pytest

from zephyr_data.core.config import make_config
from zephyr_data.core.errors import InputError
from zephyr_data.core.messages import MESSAGES, flatten
from zephyr_data.core.stats import Stats
from zephyr_data.core.step import INVALID_ROW, Filter, Outcome, Step, details_where
from zephyr_data.pipelines.ultrachat import UltraChatConfig, UltraChatPipeline
from zephyr_data.runner.chain import check_outcome, dump_line, parse_rows, run_steps
from zephyr_data.steps.chat_rules import EmptyTurn, OddTurnCount, PersonaAnswer

SCHEMA = UltraChatPipeline.working_schema
PIPELINE = UltraChatPipeline(make_config(UltraChatConfig, {"output_dir": "unused",
                                                           "decontaminate": "off"}, "test"))


def raw(*turns: str, id: str = "x") -> dict:
    return {"id": id, "data": list(turns)}


def parse(rows, drop_bad=False):
    stats, lines = Stats(), []
    batch = parse_rows(rows, PIPELINE.parse, SCHEMA, stats, drop_bad, lines.append)
    return batch, stats, [json.loads(line) for line in lines]


# --------------------------------------------------------------------------- parse_rows

GOOD = [("f:1", raw("Hi", "Hello", id="a")), ("f:2", raw("Q", "A", "Q2", "A2", id="b"))]
NOT_A_ROW = ("f:3", ["not", "an", "object"])
READER_ERROR = ("f:4", InputError("f:4", None, "malformed JSON: Expecting value at column 1."))


def test_parse_rows_gives_the_working_columns_and_the_ref():
    batch, stats, dumped = parse(GOOD)
    assert batch.schema == pl.Schema({"id": pl.String, "messages": MESSAGES, "_ref": pl.String})
    assert batch["_ref"].to_list() == ["f:1", "f:2"]
    assert batch["id"].to_list() == ["a", "b"]
    assert batch["messages"][1].to_list() == [
        {"content": "Q", "role": "user"}, {"content": "A", "role": "assistant"},
        {"content": "Q2", "role": "user"}, {"content": "A2", "role": "assistant"}]
    assert (stats.rows_in, stats.dropped, dumped) == (2, {}, [])


def test_parse_rows_of_nothing_is_an_empty_batch_with_the_schema():
    batch, stats, _ = parse([])
    assert batch.height == 0 and stats.rows_in == 0
    assert batch.schema == pl.Schema({"id": pl.String, "messages": MESSAGES, "_ref": pl.String})


@pytest.mark.parametrize("bad, where", [(NOT_A_ROW, "f:3"), (READER_ERROR, "f:4")],
                         ids=["parse error", "reader error"])
def test_a_bad_row_stops_the_run_without_drop(bad, where):
    with pytest.raises(InputError) as caught:
        parse([*GOOD, bad])
    assert caught.value.where == where
    if bad is READER_ERROR:
        assert caught.value is READER_ERROR[1]  # the reader's own error, as it was


def test_with_drop_bad_rows_are_counted_and_dumped_as_invalid_row():
    batch, stats, dumped = parse([GOOD[0], NOT_A_ROW, READER_ERROR, GOOD[1]], drop_bad=True)
    assert batch["_ref"].to_list() == ["f:1", "f:2"]
    assert stats.rows_in == 4
    assert stats.dropped == {INVALID_ROW: 2}
    assert [(d["reason"], d["ref"], d["row"]) for d in dumped] == [
        (INVALID_ROW, "f:3", ["not", "an", "object"]),  # the raw row, as read
        (INVALID_ROW, "f:4", None)]  # a line that did not parse has no row
    assert dumped[0]["detail"].startswith("f:3: expected a JSON object, found list.\n"
                                          "  How to fix: the shapes read are")
    assert dumped[1]["detail"] == str(READER_ERROR[1])


def test_dump_line_is_one_json_line_in_utf8():
    line = dump_line("too_long", "é", "f:1", {"id": "x\ny", "day": date(2026, 12, 1)})
    assert line.endswith("\n") and line.count("\n") == 1
    assert "é" in line  # not \u00e9
    assert json.loads(line) == {"reason": "too_long", "detail": "é", "ref": "f:1",
                                "row": {"id": "x\ny", "day": "2026-12-01"}}  # parquet dates


# --------------------------------------------------------------------------- run_steps


class Shout(Step):
    """Upper-cases every message; drops a dialogue whose first turn says 'refuse'."""

    name = "shout"
    reasons = ("shout_refused",)

    def __call__(self, batch: pl.DataFrame) -> Outcome:
        flat = flatten(batch["messages"])
        first = batch["messages"].list.first().struct.field("content")
        refuse = first.str.contains("refuse").fill_null(False)
        changed = int((flat.content != flat.content.str.to_uppercase()).sum())
        return Outcome(drop=pl.select(pl.when(refuse).then(pl.lit("shout_refused"))
                                      .otherwise(None).cast(pl.String)).to_series(),
                       detail=details_where(refuse, "said refuse"),
                       columns={"messages": flat.rebuild(
                           {"content": flat.content.str.to_uppercase()})},
                       counters={"shouted_messages": changed, "shout_never": 0})


class NotShouted(Filter):
    """Drops a dialogue that holds a lower-case letter."""

    name = "not_shouted"

    def details(self, batch: pl.DataFrame) -> pl.Series:
        flat = flatten(batch["messages"])
        lower = flat.per_row(flat.content.str.contains("[a-z]").to_numpy()) > 0
        return details_where(lower, "lower case")


def batch_of(*dialogues: list[str]) -> pl.DataFrame:
    return parse([(f"f:{i + 1}", raw(*d, id=str(i))) for i, d in enumerate(dialogues)])[0]


def run(batch: pl.DataFrame, steps: list[Step]):
    stats, lines = Stats(rows_in=batch.height), []
    kept = run_steps(batch, steps, stats, lines.append)
    return kept, stats, [json.loads(line) for line in lines]


def test_a_row_leaves_at_the_first_step_that_drops_it():
    batch = batch_of(["Q", "A", ""],             # odd and empty: counted once, as odd
                     ["Q", "   "],               # empty turn
                     ["Q", "As an AI, no."],     # persona
                     ["Q", "Fine."])
    steps = [OddTurnCount(), EmptyTurn(), PersonaAnswer("as_an_ai", ["as an ai"])]
    kept, stats, dumped = run(batch, steps)
    assert kept["_ref"].to_list() == ["f:4"]
    assert stats.dropped == {"odd_turn_count": 1, "empty_turn": 1, "as_an_ai": 1}
    stats.kept = kept.height
    stats.check_accounting()
    assert [(d["reason"], d["ref"], d["detail"]) for d in dumped] == [
        ("odd_turn_count", "f:1", "3 turns: the last user turn has no answer"),
        ("empty_turn", "f:2", "turn 1 (assistant) is empty or white space"),
        ("as_an_ai", "f:3", "turn 1: 'As an AI'")]


def test_dumped_rows_are_the_rows_as_the_step_saw_them_without_internal_columns():
    batch = batch_of(["Q", "A", "x"], ["refuse this", "ok"])
    batch = batch.with_columns(_internal=pl.lit(1))
    _, _, dumped = run(batch, [OddTurnCount(), Shout()])
    assert dumped == [
        {"reason": "odd_turn_count", "detail": "3 turns: the last user turn has no answer",
         "ref": "f:1", "row": {"id": "0", "messages": [
             {"content": "Q", "role": "user"}, {"content": "A", "role": "assistant"},
             {"content": "x", "role": "user"}]}},
        {"reason": "shout_refused", "detail": "said refuse", "ref": "f:2",
         "row": {"id": "1", "messages": [{"content": "refuse this", "role": "user"},
                                         {"content": "ok", "role": "assistant"}]}}]


def test_new_columns_replace_the_old_ones_for_the_next_steps():
    batch = batch_of(["Hello", "World"], ["refuse", "no"], ["QQ", "AA"])
    kept, stats, dumped = run(batch, [Shout(), NotShouted()])
    assert kept["messages"].to_list() == [
        [{"content": "HELLO", "role": "user"}, {"content": "WORLD", "role": "assistant"}],
        [{"content": "QQ", "role": "user"}, {"content": "AA", "role": "assistant"}]]
    assert stats.dropped == {"shout_refused": 1}  # NotShouted saw the upper-cased rows
    assert [d["reason"] for d in dumped] == ["shout_refused"]
    _, alone, _ = run(batch, [NotShouted()])
    assert alone.dropped == {"not_shouted": 2}


def test_counters_are_merged_across_batches_and_zeros_left_out():
    stats = Stats()
    for batch in (batch_of(["Hello", "World"], ["QQ", "AA"]), batch_of(["a", "b"])):
        stats.rows_in += batch.height
        run_steps(batch, [Shout()], stats, None)
    assert stats.counters == {"shouted_messages": 4}  # Hello, World, a, b
    assert stats.dropped == {}


def test_a_step_that_keeps_everything_records_no_drop():
    batch = batch_of(["Q", "A"], ["Q2", "A2"])
    kept, stats, dumped = run(batch, [OddTurnCount(), EmptyTurn()])
    assert kept.equals(batch)
    assert (stats.dropped, dumped) == ({}, [])


class Exploding(Step):
    name = "exploding"

    def __call__(self, batch: pl.DataFrame) -> Outcome:
        raise AssertionError("a step must not be called once no row is left")


def test_steps_are_not_called_once_no_row_is_left():
    kept, stats, _ = run(batch_of(["Q"]), [OddTurnCount(), Exploding()])
    assert kept.height == 0 and stats.dropped == {"odd_turn_count": 1}
    kept, _, _ = run(batch_of(), [Exploding()])
    assert kept.height == 0


# --------------------------------------------------------------------------- check_outcome


class Returning(Step):
    """A step that returns a fixed outcome, to check what the runner accepts."""

    name = "fixed"
    reasons = ("fixed", "fixed_other")

    def __init__(self, outcome: Outcome):
        self.outcome = outcome

    def __call__(self, batch: pl.DataFrame) -> Outcome:
        return self.outcome


def strings(*values):
    return pl.Series(list(values), dtype=pl.String)


def test_an_outcome_that_fits_passes():
    check_outcome(Returning(Outcome()), Outcome(), 3)
    good = Outcome(drop=strings(None, "fixed_other", "fixed"), detail=strings(None, "a", "b"),
                   columns={"id": strings("a", "b", "c")}, counters={"n": 1})
    check_outcome(Returning(good), good, 3)


def test_a_reason_the_step_does_not_declare_is_an_error_naming_the_step():
    out = Outcome(drop=strings(None, "other_reason", "fixed"))
    with pytest.raises(RuntimeError, match=r"step 'fixed' dropped rows for \['other_reason'\], "
                       r"which are not among its reasons \['fixed', 'fixed_other'\]"):
        check_outcome(Returning(out), out, 3)
    with pytest.raises(RuntimeError, match="step 'fixed' dropped rows for"):
        run(batch_of(["a", "b"], ["c", "d"], ["e", "f"]), [Returning(out)])


@pytest.mark.parametrize("out, name", [
    (Outcome(columns={"messages": pl.Series([[]] * 2, dtype=MESSAGES)}), "messages"),
    (Outcome(drop=strings("fixed")), "drop"),
    (Outcome(drop=strings(None, None, None), detail=strings("x")), "detail"),
], ids=["column", "drop", "detail"])
def test_a_column_of_the_wrong_length_is_an_error_naming_the_step(out, name):
    message = f"step 'fixed' returned .* values for '{name}', for a batch of 3 rows"
    with pytest.raises(RuntimeError, match=message):
        check_outcome(Returning(out), out, 3)
    with pytest.raises(RuntimeError, match=message):
        run(batch_of(["a", "b"], ["c", "d"], ["e", "f"]), [Returning(out)])
