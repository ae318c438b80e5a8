"""End-to-end builds: accounting, duplicates, splits, byte-identical output, card and manifest."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from pipelines.build_ultrafeedback import main
from tests.support.ultrafeedback import (
    completion,
    data_files,
    output_rows,
    pair,
    process,
    rated,
    raw_row,
    run_build,
    write_jsonl,
)

SPLITS = ["train_prefs", "test_prefs", "train_sft", "test_sft", "train_gen", "test_gen"]


def mixed_rows() -> list[dict]:
    """300 rows: 240 distinct prompts with 2 to 4 completions, 30 duplicates whose answers
    differ from the first copy, and 30 that the rules drop (5 per rule)."""
    rows = []
    for i in range(240):
        scores = [(i + k) % 5 + 1 for k in range(2 + i % 3)]
        rows.append(raw_row(f"Question {i}: explain topic {i * 7919 % 1000}.",
                            rated(*scores, prefix=f"reply to {i}:")))
    for i in range(0, 240, 8):  # same prompt, other answers
        rows.append(raw_row(f"Question {i}: explain topic {i * 7919 % 1000}.",
                            rated(4, 2, prefix=f"another reply to {i}:")))
    for i in range(5):
        rows += [raw_row(f"TruthfulQA {i}?", rated(5, 1), source="truthful_qa"),
                 raw_row(f"Lonely {i}", rated(5)),
                 raw_row(f"Empty {i}", [completion(""), *rated(3)]),
                 raw_row(f"Unrated {i}", [completion("x", ("N/A",) * 4), *rated(3)]),
                 raw_row(f"Tie {i}", rated(4, 4)),
                 raw_row(f"Blank {i}", [completion(" "), completion("\n")])]
    return rows


EXPECTED_DROPS = {"truthful_qa": 5, "too_few_completions": 5, "empty_response": 10,
                  "unrated": 5, "duplicate": 30}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("uf_inputs")
    rows = mixed_rows()
    shuffled = rows[:]
    random.Random(0).shuffle(shuffled)
    return write_jsonl(folder / "raw.jsonl", rows), write_jsonl(folder / "shuffled.jsonl",
                                                                shuffled)


@pytest.fixture(scope="module")
def base(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("uf_base") / "out"
    dump = out.parent / "dropped.jsonl"
    result = run_build(["--input", str(inputs[0]), "--output-dir", str(out), "--batch-size",
                        "64", "--test-size", "20", "--dump-dropped", str(dump)])
    return result, dump


def test_every_row_is_kept_or_dropped_with_a_reason(base):
    result, _ = base
    stats = result.stats
    assert stats.rows_in == 300
    assert dict(stats.dropped) == EXPECTED_DROPS
    assert stats.kept == 300 - sum(EXPECTED_DROPS.values()) == 245
    assert stats.counters["completions_removed_empty_response"] == 5 + 10
    assert stats.counters["completions_removed_unrated"] == 5
    assert stats.counters["pairs_with_tied_scores"] == 5
    manifest = json.loads((result.output_dir / "manifest.json").read_text())
    assert manifest["stats"]["dropped"] == EXPECTED_DROPS
    assert manifest["pipeline"] == "ultrafeedback"


def test_dump_lists_every_dropped_row_with_its_reason(base):
    _, dump = base
    lines = [json.loads(line) for line in dump.read_text(encoding="utf-8").splitlines()]
    assert Counter(line["reason"] for line in lines) == EXPECTED_DROPS
    assert all(line["ref"] and line["row"] for line in lines)


def test_splits_are_mirrors_and_test_size_is_exact(base):
    result, _ = base
    counts = {name: s["num_examples"] for name, s in result.splits.items()}
    assert list(counts) == SPLITS
    assert counts["test_prefs"] == 20 and counts["train_prefs"] == 225
    folder = result.output_dir
    for mirror, source in [("train_sft", "train_prefs"), ("train_gen", "train_prefs"),
                           ("test_sft", "test_prefs"), ("test_gen", "test_prefs")]:
        assert output_rows(folder, (mirror,)) == output_rows(folder, (source,))
    train = {r["prompt_id"] for r in output_rows(folder, ("train_prefs",))}
    test = [r["prompt_id"] for r in output_rows(folder, ("test_prefs",))]
    assert not train & set(test)
    assert max(int(p[:16], 16) for p in test) < min(int(p[:16], 16) for p in train)


def test_duplicates_keep_the_copy_with_the_smallest_content_hash(base):
    rows = {r["prompt"]: r for r in output_rows(base[0].output_dir)}
    assert len(rows) == 245
    copies = [r for r in mixed_rows() if r["instruction"].startswith("Question ")]
    records, _, _ = process(copies)
    by_prompt: dict[str, list[dict]] = {}
    for record in records.values():
        by_prompt.setdefault(record["prompt"], []).append(record)
    duplicated = {p: recs for p, recs in by_prompt.items() if len(recs) > 1}
    assert len(duplicated) == 30
    firsts = 0
    for prompt, recs in duplicated.items():
        smallest = min(recs, key=lambda r: r["_order_key"])
        assert pair(rows[prompt]) == pair(smallest), prompt
        firsts += smallest is recs[0]
    assert 0 < firsts < 30  # neither always the first copy nor always the second


def test_shuffled_input_other_workers_and_rerun_are_byte_identical(base, inputs, tmp_path):
    expected = data_files(base[0].output_dir)
    assert len(expected) == len(SPLITS)
    runs = {"shuffled": ["--input", str(inputs[1])],
            "two workers": ["--input", str(inputs[0]), "--num-proc", "2"],
            "rerun": ["--input", str(inputs[0])]}
    for name, argv in runs.items():
        result = run_build([*argv, "--output-dir", str(tmp_path / name), "--batch-size", "64",
                            "--test-size", "20"])
        assert data_files(tmp_path / name) == expected, name
        assert result.fingerprint == base[0].fingerprint


def test_variant_options_are_applied_and_recorded(inputs, tmp_path):
    out = tmp_path / "variant"
    result = run_build(["--input", str(inputs[0]), "--output-dir", str(out), "--rejected",
                        "lowest", "--drop-ties", "--seed", "7", "--test-size", "0"])
    config = result.manifest["config"]
    assert (config["rejected"], config["drop_ties"], config["seed"]) == ("lowest", True, 7)
    assert dict(result.stats.dropped) == {**EXPECTED_DROPS, "tie": 5}
    assert result.splits["test_prefs"]["num_examples"] == 0
    rows = output_rows(out)
    assert len(rows) == 240
    assert all(r["score_rejected"] < r["score_chosen"] for r in rows)
    by_prompt = {r["prompt"]: r for r in rows}
    for i in range(240):
        if i % 8:  # not duplicated: the rejected score is the row's lowest
            row = by_prompt[f"Question {i}: explain topic {i * 7919 % 1000}."]
            assert row["score_rejected"] == min((i + k) % 5 + 1 for k in range(2 + i % 3))
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "`--rejected lowest`" in card and "`tie`:" in card


def test_cli_sample_build(tmp_path, capsys):
    assert main(["--sample", "--output-dir", str(tmp_path / "s"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "split train_prefs" in out and "dropped: truthful_qa" in out
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    stats = manifest["stats"]
    # The numbers stated in the docstring of pipelines/build_ultrafeedback.py.
    assert (stats["rows_in"], stats["kept"]) == (131, 122)
    assert stats["dropped"] == {"duplicate": 2, "too_few_completions": 2, "truthful_qa": 5}
    counters = {k: v for k, v in stats["counters"].items() if not k.startswith("source:")}
    assert counters == {"completions_removed_empty_response": 3,
                        "completions_removed_unrated": 2,
                        "pairs_with_tied_scores": 2, "ratings_not_available": 28}
    sources = {k: v for k, v in stats["counters"].items() if k.startswith("source:")}
    assert sum(sources.values()) == stats["kept"] + stats["dropped"]["duplicate"]
    assert {name: s["num_examples"] for name, s in manifest["splits"].items()} == {
        "train_prefs": 110, "test_prefs": 12, "train_sft": 110, "test_sft": 12,
        "train_gen": 110, "test_gen": 12}
    assert manifest["input"]["description"] == "bundled sample ultrafeedback_sample.jsonl"
    card = (tmp_path / "s" / "README.md").read_text(encoding="utf-8")
    for split in SPLITS:
        assert f"data/{split}-*" in card
    assert "drawn uniformly at random" in card and "`truthful_qa`" in card


def test_default_input_is_the_fixed_hub_revision():
    from zephyr_data.pipelines.ultrafeedback import UltraFeedbackPipeline

    assert UltraFeedbackPipeline.default_hub_id == "openbmb/UltraFeedback"
    assert UltraFeedbackPipeline.default_revision == "40b436560ca83a8dba36114c22ab3c66e43f6d5e"
