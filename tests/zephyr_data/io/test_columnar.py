"""The columnar read of a work unit (``io/columnar.py`` and each pipeline's ``parse_unit``) gives
exactly the batch the row by row path gives, on real text and on every odd row; for a row the row
path would refuse, or one the columnar read cannot check, it gives up (None) so that the row path
names the file, line and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from benchmarks.synthetic import ultrachat_rows, ultrafeedback_rows, write_jsonl
from tests.support.ultrafeedback import completion, rated, raw_row
from zephyr_data.core.stats import Stats
from zephyr_data.io.readers import plan_units, read_unit, resolve_input
from zephyr_data.pipelines.ultrachat import UltraChatConfig, UltraChatPipeline
from zephyr_data.pipelines.ultrafeedback import UltraFeedbackConfig, UltraFeedbackPipeline
from zephyr_data.runner.chain import parse_rows


def pipelines() -> dict[str, Any]:
    return {"ultrachat": UltraChatPipeline(UltraChatConfig(output_dir="-")),
            "ultrafeedback": UltraFeedbackPipeline(UltraFeedbackConfig(output_dir="-"))}


def both_paths(pipeline: Any, path: Path, batch_size: int = 1000
               ) -> list[tuple[pl.DataFrame | None, pl.DataFrame]]:
    """For each unit of ``path``: the columnar batch (or None) and the row path's batch."""
    units = plan_units(resolve_input(str(path), sample=None, default_hub_id=None,
                                     revision=None, split=None), batch_size)
    pipeline.prepare(units)
    return [(pipeline.parse_unit(u), parse_rows(read_unit(u), pipeline.parse,
                                                pipeline.working_schema, Stats(), False, None))
            for u in units]


def assert_same(col: pl.DataFrame | None, row: pl.DataFrame) -> None:
    assert col is not None
    assert col.schema == row.schema
    assert col.equals(row)


@pytest.mark.parametrize("name", ["ultrachat", "ultrafeedback"])
def test_real_text_is_read_columnar_with_the_row_paths_batch(name, text_pool, tmp_path):
    rows = ultrachat_rows(text_pool, 600, 3, 0, 0) if name == "ultrachat" \
        else ultrafeedback_rows(text_pool, 600, 3)
    path = tmp_path / "rows.jsonl"
    write_jsonl(rows, path)
    pairs = both_paths(pipelines()[name], path, batch_size=250)
    assert len(pairs) > 1  # several units, each starting at its own line
    for col, row in pairs:
        assert_same(col, row)
        assert row["_ref"][0].startswith(f"{path}:")


def test_the_bundled_ultrafeedback_sample_is_read_columnar(tmp_path):
    from zephyr_data.pipelines.ultrafeedback import UltraFeedbackPipeline as P

    sample = Path(__import__("zephyr_data").__file__).parent / "samples" / P.sample_file
    (col, row), = both_paths(pipelines()["ultrafeedback"], sample, batch_size=10_000)
    assert_same(col, row)
    assert row.height > 100


def odd_rating(rating: Any) -> dict:
    row = raw_row("Prompt.", rated(5, 3))
    row["completions"][1]["annotations"]["honesty"]["Rating"] = rating
    return row


# Rows the row path reads, which the columnar read must read the same: nulls where the row path
# takes them as empty or unrated, missing aspects, no completions, extra fields.
ODD_BUT_FINE = {
    "not rated": odd_rating("N/A"),
    "null rating": odd_rating(None),
    "missing aspect": raw_row("P.", [completion("a", (5, None, 4, None)), completion("b")]),
    "no annotations": raw_row("P.", [{"response": "a"}, completion("b")]),
    "null annotations": raw_row("P.", [{"response": "a", "annotations": None}]),
    "null response": raw_row("P.", [{**completion("a"), "response": None}, completion("b")]),
    "no completions": raw_row("P.", []),
    "unicode": raw_row("Café — ça va? 日本語 \U0001f600", rated(4, 2)),
}
# Rows the row path refuses (or reads in a way the columnar read does not check): the unit
# goes back to the row path.
REFUSED = {
    "rating 5.0": odd_rating("5.0"),
    "rating with a space": odd_rating(" 4"),
    "integer rating": odd_rating(4),
    "null completion": raw_row("P.", [None, completion("b")]),
    "completion not an object": raw_row("P.", ["text", completion("b")]),
    "null instruction": {**raw_row("P.", rated(5, 3)), "instruction": None},
    "no source": {k: v for k, v in raw_row("P.", rated(5, 3)).items() if k != "source"},
    "numeric instruction": {**raw_row("P.", rated(5, 3)), "instruction": 7},
    "response a number": raw_row("P.", [{**completion("a"), "response": 3}]),
}


def write_lines(path: Path, rows: list[Any], extra: str = "") -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows) + extra,
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("case", list(ODD_BUT_FINE))
def test_odd_but_valid_ultrafeedback_rows_read_the_same(case, tmp_path):
    rows = [raw_row("First.", rated(5, 1)), ODD_BUT_FINE[case], raw_row("Last.", rated(2, 3))]
    (col, row), = both_paths(pipelines()["ultrafeedback"], write_lines(tmp_path / "r.jsonl",
                                                                         rows))
    assert_same(col, row)


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_row_the_row_path_refuses_sends_the_unit_back(case, tmp_path):
    rows = [raw_row("First.", rated(5, 1)), REFUSED[case]]
    pipeline = pipelines()["ultrafeedback"]
    units = plan_units(resolve_input(str(write_lines(tmp_path / "r.jsonl", rows)), sample=None,
                                     default_hub_id=None, revision=None, split=None), 100)
    pipeline.prepare(units)
    assert pipeline.parse_unit(units[0]) is None


@pytest.mark.parametrize("name, text", [
    ("lone surrogate", '{"id": "1", "data": ["a \\ud800 b", "c"]}'),
    ("invalid UTF-8", None),
    ("numeric id", '{"id": 1, "data": ["a", "b"]}'),
    ("null turn", '{"id": "1", "data": ["a", null]}'),
    ("not JSON", '{"id": "1", "data": ["a", "b"]'),
])
def test_ultrachat_units_the_columnar_read_cannot_check_go_row_by_row(name, text, tmp_path):
    good = '{"id": "0", "data": ["hello there", "hi"]}\n'
    path = tmp_path / "r.jsonl"
    if text is None:
        path.write_bytes(good.encode() + b'{"id": "1", "data": ["caf\xe9", "b"]}\n')
    else:
        path.write_text(good + text + "\n", encoding="utf-8")
    pipeline = pipelines()["ultrachat"]
    units = plan_units(resolve_input(str(path), sample=None, default_hub_id=None, revision=None,
                                     split=None), 100)
    assert pipeline.parse_unit(units[0]) is None


def test_other_shapes_and_scores_are_read_row_by_row(tmp_path):
    path = write_lines(tmp_path / "r.jsonl", [raw_row("P.", rated(5, 3))])
    units = plan_units(resolve_input(str(path), sample=None, default_hub_id=None,
                                     revision=None, split=None), 100)
    overall = UltraFeedbackPipeline(UltraFeedbackConfig(output_dir="-", score="overall"))
    overall.prepare(units)
    assert overall.parse_unit(units[0]) is None
    rated_rows = write_lines(tmp_path / "rated.jsonl",
                             [{"prompt": "P.", "completions": [{"response": "a", "score": 3}]}])
    units = plan_units(resolve_input(str(rated_rows), sample=None, default_hub_id=None,
                                     revision=None, split=None), 100)
    generic = UltraFeedbackPipeline(UltraFeedbackConfig(output_dir="-"))
    generic.prepare(units)
    assert generic.config.input_format == "rated"
    assert generic.parse_unit(units[0]) is None
