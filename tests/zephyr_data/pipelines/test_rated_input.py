"""build_ultrafeedback on a generic rated-completions shape (``--input-format rated``): a
prompt, a list of completions and a score each (a number, or aspect ratings that are averaged),
binarized as raw UltraFeedback is; field options; bad shapes."""

from __future__ import annotations

import json
import logging

import pytest

from tests.support.ultrafeedback import (
    data_files,
    ordered,
    output_rows,
    published,
    raw_from_argilla,
    run_build,
    write_jsonl,
)
from zephyr_data.core.errors import ConfigError, InputError


def rated_from_argilla(row: dict) -> dict:
    """An Argilla-style row as a generic rated row: each completion scored with its published
    rating, in the same order as ``raw_from_argilla`` lists them."""
    meta = row["metadata"]
    chosen = {"response": row["chosen"], "score": meta["rating_chosen"]}
    rejected = {"response": row["rejected"], "score": meta["rating_rejected"]}
    return {"prompt": row["prompt"], "source": meta["source"],
            "completions": ordered(row["prompt"], chosen, rejected)}


def test_rated_rows_binarize_as_raw_ultrafeedback_does(tmp_path, caplog):
    rows = published("argilla_style_sample1000.jsonl")
    raw = write_jsonl(tmp_path / "raw.jsonl", [raw_from_argilla(r, i) for i, r in enumerate(rows)])
    rated = write_jsonl(tmp_path / "rated.jsonl", [rated_from_argilla(r) for r in rows])
    first = run_build(["--input", str(raw), "--output-dir", str(tmp_path / "raw")])
    with caplog.at_level(logging.INFO, logger="zephyr_data"):
        second = run_build(["--input", str(rated), "--output-dir", str(tmp_path / "rated")])
    assert "--input-format auto: reading rated rows" in caplog.text
    assert second.manifest["config"]["input_format"] == "rated"
    assert first.stats.kept > 900 and first.stats.dropped == second.stats.dropped
    # the same pairs, scores and splits: byte for byte, in both configs
    assert data_files(tmp_path / "rated") == data_files(tmp_path / "raw")
    assert second.fingerprint == first.fingerprint
    card = (tmp_path / "rated" / "README.md").read_text()
    assert "each completion is scored by its `score` (`--input-format rated`" in card


def test_aspect_ratings_and_other_field_names(tmp_path, responses, prompts):
    rows = [{"question": prompts[i],
             "answers": [{"text": responses[2 * i], "ratings": {"helpfulness": 5, "honesty": 4}},
                         {"text": responses[2 * i + 1], "ratings": {
                             "helpfulness": {"Rating": 2}, "honesty": "N/A", "style": None}},
                         {"text": "", "ratings": {"helpfulness": 5}},
                         {"text": "unrated", "ratings": {}}]}
            for i in range(40)]
    inp = write_jsonl(tmp_path / "rated.jsonl", rows)
    result = run_build(["--input", str(inp), "--output-dir", str(tmp_path / "out"),
                        "--input-format", "rated", "--prompt-field", "question",
                        "--completions-field", "answers", "--response-field", "text",
                        "--score-field", "ratings", "--test-size", "4"])
    assert result.stats.kept == 40
    assert result.stats.counters["completions_removed_empty_response"] == 40
    assert result.stats.counters["completions_removed_unrated"] == 40
    out = {r["prompt"]: r for r in output_rows(tmp_path / "out")}
    for i in range(40):
        pair = out[prompts[i]]
        assert pair["chosen"] == [{"content": prompts[i], "role": "user"},
                                  {"content": responses[2 * i], "role": "assistant"}]
        assert pair["rejected"][1]["content"] == responses[2 * i + 1]
        assert (pair["score_chosen"], pair["score_rejected"]) == (4.5, 2.0)


@pytest.mark.parametrize("score,field,problem", [
    ("4", "completions[1].score", "expected a number, an object of aspect ratings or "
                                  "null/\"N/A\", found str: '4'"),
    (True, "completions[1].score", "found bool"),
    ({"helpfulness": "high"}, "completions[1].score.helpfulness", "found str: 'high'"),
])
def test_a_bad_score_names_file_line_and_field(tmp_path, score, field, problem):
    rows = [{"prompt": "Q?", "completions": [{"response": "a", "score": 1},
                                             {"response": "b", "score": score}]}]
    inp = write_jsonl(tmp_path / "rated.jsonl", rows)
    with pytest.raises(InputError) as info:
        run_build(["--input", str(inp), "--output-dir", str(tmp_path / "out")])
    assert (info.value.where, info.value.field) == (f"{inp}:1", field)
    assert problem in str(info.value)


def test_mixed_and_unknown_shapes_name_file_line_and_keys(tmp_path):
    raw = published("argilla_style_sample1000.jsonl")[:2]
    inp = write_jsonl(tmp_path / "mixed.jsonl", [raw_from_argilla(raw[0], 0),
                                                 rated_from_argilla(raw[1])])
    with pytest.raises(InputError) as info:
        run_build(["--input", str(inp), "--output-dir", str(tmp_path / "out")])
    assert (info.value.where, info.value.field) == (f"{inp}:2", "instruction")
    assert "the row has keys ['completions', 'prompt', 'source']: it looks like the 'rated' " \
        "shape, but the build reads 'ultrafeedback' rows" in str(info.value)
    inp = write_jsonl(tmp_path / "odd.jsonl", [json.dumps({"query": "Q?", "answers": []})])
    with pytest.raises(InputError, match="cannot tell the input format from the keys of the "
                                         r"first row: \['answers', 'query'\]") as info:
        run_build(["--input", str(inp), "--output-dir", str(tmp_path / "out")])
    assert info.value.where == f"{inp}:1"
    with pytest.raises(ConfigError, match="score='overall' reads raw UltraFeedback"):
        run_build(["--input", str(inp), "--output-dir", str(tmp_path / "out"),
                   "--input-format", "rated", "--score", "overall"])
