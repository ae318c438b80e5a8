"""Binarization on hand-built raw rows: exact chosen, rejected and scores, or the exact drop."""

from __future__ import annotations

import hashlib

import pytest

from tests.support.ultrafeedback import completion, pair, process, rated, raw_row
from zephyr_data.core.ids import prompt_id
from zephyr_data.steps.binarize import pick_chosen, pick_rejected


def one(row, **values):
    """The single output record of ``row``, checking that it was kept."""
    records, drops, stats = process([row], **values)
    assert not drops, drops
    assert stats.rows_in == 1
    return records["row0"], stats


def dropped(row, **values):
    records, drops, stats = process([row], **values)
    assert not records
    assert stats.dropped_total == stats.rows_in == 1
    return drops["row0"], stats


# ------------------------------------------------------------------ choosing


def test_clear_winner_with_four_completions():
    record, stats = one(raw_row("Name a prime.", rated(3, 5, 2, 4)), rejected="lowest")
    assert pair(record) == ("answer 1", "answer 2", 5.0, 2.0)
    assert "pairs_with_tied_scores" not in stats.counters


def test_random_rejected_is_one_of_the_others_and_fixed_by_seed_and_prompt():
    row = raw_row("Name a prime.", rated(3, 5, 2, 4))
    record, _ = one(row)
    # Pinned: with this prompt, seed 42 draws answer 0, seed 2 answer 3 and seed 3 answer 2.
    assert pair(record) == ("answer 1", "answer 0", 5.0, 3.0)
    record, _ = one(row, seed=2)
    assert pair(record) == ("answer 1", "answer 3", 5.0, 4.0)
    record, _ = one(row, seed=3)
    assert pair(record) == ("answer 1", "answer 2", 5.0, 2.0)


def test_output_schema_of_one_pair():
    prompt = "how can i develop a habit of drawing daily"
    record, _ = one(raw_row(prompt, rated(2, 4)))
    assert record["prompt_id"] == ("086b3e24f29b8956a01059f79c56db35d118a06fb6b844b095737d0427"
                                   "95cd43")  # train_prefs row 0 of the H4 dataset
    assert record["chosen"] == [{"content": prompt, "role": "user"},
                                {"content": "answer 1", "role": "assistant"}]
    assert record["rejected"] == [{"content": prompt, "role": "user"},
                                  {"content": "answer 0", "role": "assistant"}]
    assert record["messages"] == record["chosen"]
    assert isinstance(record["score_chosen"], float)
    assert record["_dedup_key"] == record["prompt_id"]


def test_mean_of_unequal_ratings():
    row = raw_row("Q", [completion("a", (5, 4, 4, 4)), completion("b", (4, 4, 3, 3))])
    record, _ = one(row)
    assert pair(record) == ("a", "b", 4.25, 3.5)


def test_ties_for_first_place_go_to_the_first_listed():
    row = raw_row("Q", rated(4, 5, 5, 3))
    record, stats = one(row, rejected="lowest")
    assert pair(record) == ("answer 1", "answer 3", 5.0, 3.0)
    # Seed 42 draws the other top answer here: a kept pair with tied scores.
    record, stats = one(row)
    assert pair(record) == ("answer 1", "answer 2", 5.0, 5.0)
    assert stats.counters["pairs_with_tied_scores"] == 1


def test_all_equal_scores_take_the_first_two_with_lowest():
    record, stats = one(raw_row("Q", rated(4, 4, 4)), rejected="lowest")
    assert pair(record) == ("answer 0", "answer 1", 4.0, 4.0)
    assert stats.counters["pairs_with_tied_scores"] == 1


def test_drop_ties():
    drop, _ = dropped(raw_row("Q", rated(5, 5)), drop_ties=True)
    assert (drop.reason, drop.detail) == ("tie", "chosen and rejected both score 5")
    record, _ = one(raw_row("Q", rated(5, 4)), drop_ties=True)
    assert pair(record) == ("answer 0", "answer 1", 5.0, 4.0)


def test_overall_score():
    row = raw_row("Q", [completion("a", overall=7.5), completion("b", overall=9),
                        completion("c", overall=3.0)])
    record, _ = one(row, score="overall", rejected="lowest")
    assert pair(record) == ("b", "c", 9.0, 3.0)


# ------------------------------------------------------------------ "N/A" and unrated


def test_na_ratings_are_left_out_of_the_mean():
    row = raw_row("Q", [completion("a", (5, "N/A", "N/A", 4)),
                        completion("b", (3, 3, 3, 3)),
                        completion("c", ("N/A",) * 4),
                        completion("d", (2, None, None, None))])  # None: aspect missing
    record, stats = one(row, rejected="lowest")
    assert pair(record) == ("a", "d", 4.5, 2.0)
    assert stats.counters["completions_removed_unrated"] == 1
    assert stats.counters["ratings_not_available"] == 2 + 4 + 3


def test_completion_without_annotations_is_unrated():
    bare = completion("c", (5, 5, 5, 5))
    del bare["annotations"]
    record, stats = one(raw_row("Q", [*rated(2, 4), bare]))
    assert pair(record) == ("answer 1", "answer 0", 4.0, 2.0)
    assert stats.counters["completions_removed_unrated"] == 1


def test_row_left_with_one_rated_completion_is_dropped_as_unrated():
    row = raw_row("Q", [completion("a", (5, 5, 5, 5)), completion("b", ("N/A",) * 4)])
    drop, stats = dropped(row)
    assert (drop.reason, drop.detail) == ("unrated", "1 of 2 completions removed, 1 left")
    assert stats.counters["completions_removed_unrated"] == 1


def test_overall_na_is_unrated():
    row = raw_row("Q", [completion("a", overall="N/A"), completion("b", overall=6),
                        completion("c", overall=None)])
    drop, stats = dropped(row, score="overall")
    assert drop.reason == "unrated"
    assert stats.counters["completions_removed_unrated"] == 2


# ------------------------------------------------------------------ completion counts


def test_two_completions():
    record, _ = one(raw_row("Q", rated(2, 3)))
    assert pair(record) == ("answer 1", "answer 0", 3.0, 2.0)


def test_three_completions():
    row = raw_row("Q", rated(1, 4, 2))
    record, _ = one(row, rejected="lowest")
    assert pair(record) == ("answer 1", "answer 0", 4.0, 1.0)
    record, _ = one(row)  # pinned draw for seed 42 and this prompt
    assert pair(record) == ("answer 1", "answer 2", 4.0, 2.0)


@pytest.mark.parametrize("n", [0, 1])
def test_fewer_than_two_completions(n):
    drop, _ = dropped(raw_row("Q", rated(*[5] * n)))
    assert (drop.reason, drop.detail) == ("too_few_completions", f"{n} completion(s) in the row")


# ------------------------------------------------------------------ empty responses


def test_empty_response_removes_the_completion_not_the_row():
    row = raw_row("Q", [completion("", (5, 5, 5, 5)), *rated(3, 4, prefix="kept")])
    record, stats = one(row)
    assert pair(record) == ("kept 1", "kept 0", 4.0, 3.0)
    assert stats.counters["completions_removed_empty_response"] == 1


@pytest.mark.parametrize("empty", ["", " \n\t", None])
def test_row_left_with_one_answer_is_dropped_as_empty_response(empty):
    row = raw_row("Q", [completion("fine", (3, 3, 3, 3)), completion(empty, (5, 5, 5, 5))])
    drop, stats = dropped(row)
    assert (drop.reason, drop.detail) == ("empty_response", "1 of 2 completions removed, 1 left")
    assert stats.counters["completions_removed_empty_response"] == 1


def test_empty_is_counted_before_unrated():
    row = raw_row("Q", [completion("", ("N/A",) * 4), *rated(1, 2)])
    _, stats = one(row)
    assert stats.counters == {"completions_removed_empty_response": 1}


# ------------------------------------------------------------------ sources and accounting


def test_truthful_qa_is_dropped_first():
    drop, _ = dropped(raw_row("Is the Earth flat?", rated(5), source="truthful_qa"))
    assert drop.reason == "truthful_qa"


@pytest.mark.parametrize("prompt", ["", "  \n"])
def test_empty_prompt(prompt):
    drop, _ = dropped(raw_row(prompt, rated(5, 1)))
    assert drop.reason == "empty_prompt"


def test_every_row_is_accounted_for():
    rows = [raw_row("a", rated(5, 4)), raw_row("b", rated(5), source="truthful_qa"),
            raw_row("c", rated(5)), raw_row("d", [completion(""), *rated(3)]),
            raw_row("e", [completion("x", ("N/A",) * 4), *rated(3)]),
            raw_row("f", rated(5, 5)), "not a row", raw_row(" ", rated(5, 4))]
    records, drops, stats = process(rows, drop_ties=True, on_bad_row="drop")
    assert sorted(records) == ["row0"]
    assert {ref: d.reason for ref, d in drops.items()} == {
        "row1": "truthful_qa", "row2": "too_few_completions", "row3": "empty_response",
        "row4": "unrated", "row5": "tie", "row6": "invalid_row", "row7": "empty_prompt"}
    stats.kept = len(records)
    stats.check_accounting()


# ------------------------------------------------------------------ the pure pickers


def test_pick_chosen_and_lowest():
    assert pick_chosen([1.0, 3.0, 3.0, 2.0]) == 1
    assert pick_rejected([1.0, 3.0, 1.0, 2.0], 1, "lowest", 0, "x") == 0


def test_random_pick_depends_only_on_seed_and_prompt_id():
    pid = prompt_id("Q")
    picks = {pick_rejected([5.0, 1.0, 1.0, 1.0], 0, "random", 42, pid) for _ in range(5)}
    assert len(picks) == 1
    drawn = {pick_rejected([5.0, 1.0, 1.0, 1.0], 0, "random", 42,
                           hashlib.sha256(str(i).encode()).hexdigest()) for i in range(60)}
    assert drawn == {1, 2, 3}
