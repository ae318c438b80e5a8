"""The real published preference rows, turned back into raw rows with their published scores,
go through the pipeline; where the two scores differ, our "chosen" is the published "chosen"."""

from __future__ import annotations

from tests.support.ultrafeedback import (
    chosen_second,
    output_rows,
    published,
    raw_from_argilla,
    raw_from_trl,
    run_build,
    write_jsonl,
)
from zephyr_data.core.ids import prompt_id


def build_published(tmp_path, raw_rows, *options):
    path = write_jsonl(tmp_path / "raw.jsonl", raw_rows)
    result = run_build(["--input", str(path), "--output-dir", str(tmp_path / "out"),
                        "--num-proc", "1", *options])
    return result, {r["prompt"]: r for r in output_rows(tmp_path / "out")}


def check_against_published(rows, ours, score_keys):
    """Every published row that we kept: same pair where the scores differ; the first listed
    as "chosen" where they tie (the documented tie-break). Returns (differ, tie) counts."""
    differ = tie = 0
    for row in rows:
        if row["prompt"] not in ours:
            continue
        mine = ours[row["prompt"]]
        score_chosen, score_rejected = (row["metadata"][k] for k in score_keys)
        assert mine["prompt_id"] == prompt_id(row["prompt"])
        assert (mine["score_chosen"], mine["score_rejected"]) == (score_chosen, score_rejected)
        answers = (mine["chosen"][1]["content"], mine["rejected"][1]["content"])
        if score_chosen != score_rejected:
            differ += 1
            assert answers == (row["chosen"], row["rejected"]), row["prompt"][:80]
        else:
            tie += 1
            first = (row["rejected"], row["chosen"]) if chosen_second(row["prompt"]) \
                else (row["chosen"], row["rejected"])
            assert answers == first, row["prompt"][:80]
    return differ, tie


def test_trl_binarized_rows_with_overall_scores(tmp_path):
    rows = published("trl_binarized_sample1000.jsonl")
    result, ours = build_published(tmp_path, [raw_from_trl(r) for r in rows],
                                   "--score", "overall", "--test-size", "50")
    empty = sum(not r["chosen"].strip() or not r["rejected"].strip() for r in rows)
    assert empty == 2  # the shared README's "2 empty responses"
    assert result.stats.rows_in == 1000
    assert dict(result.stats.dropped) == {"empty_response": empty}
    assert result.stats.kept == len(ours) == 1000 - empty
    assert result.splits["test_prefs"]["num_examples"] == 50
    differ, tie = check_against_published(rows, ours, ("score_chosen", "score_rejected"))
    assert (differ, tie) == (887, 111)  # the README's 111 real score ties, none of them empty
    # The published "chosen" is listed second in about half the rows: a pipeline that just
    # took the first completion would fail above.
    assert 400 < sum(chosen_second(r["prompt"]) for r in rows) < 600


def test_argilla_rows_with_mean_of_ratings(tmp_path):
    rows = published("argilla_style_sample1000.jsonl")
    raw = [raw_from_argilla(r, i) for i, r in enumerate(rows)]
    result, ours = build_published(tmp_path, raw)
    assert (result.stats.rows_in, result.stats.kept) == (1000, 1000)
    not_available = sum(a["Rating"] == "N/A" for r in raw for c in r["completions"]
                        for a in c["annotations"].values())
    assert not_available > 250  # the "N/A" rule is exercised on real scores
    assert result.stats.counters["ratings_not_available"] == not_available
    differ, tie = check_against_published(rows, ours, ("rating_chosen", "rating_rejected"))
    assert (differ, tie) == (1000, 0)
