"""Curation is idempotent: building from our own output (or from a parquet file in the format of
HuggingFaceH4/ultrachat_200k) gives back the same rows; a second pass drops nothing and
truecases nothing."""

from __future__ import annotations

import json

import datasets

from tests.support.chat_shapes import output_rows, real_dialogues, run_build, write_shape
from zephyr_data.core.ids import prompt_id
from zephyr_data.core.schema import ultrachat_features

SPLITS = ["train_sft", "test_sft"]


def assert_second_pass_changes_nothing(first, second):
    assert second.fingerprint == first.fingerprint  # byte for byte the same data files
    assert second.stats.rows_in == first.stats.kept
    assert second.stats.dropped == {}
    assert not any(k.startswith("truecased") for k in second.stats.counters)


def test_rebuilding_the_sample_build_changes_nothing(ultrachat_sample, tmp_path):
    folder, _ = ultrachat_sample
    first = json.loads((folder / "manifest.json").read_text())
    assert first["fingerprint"].startswith("b35fbec3cacb1908")  # the bundled sample's
    second = run_build(folder, tmp_path / "again", input_split=SPLITS)
    assert second.fingerprint == first["fingerprint"]
    assert second.stats.rows_in == first["stats"]["kept"] and second.stats.dropped == {}
    assert not any(k.startswith("truecased") for k in second.stats.counters)
    assert output_rows(tmp_path / "again") == output_rows(folder)
    assert second.manifest["input"]["splits"] == SPLITS
    assert [f["name"] for f in second.manifest["input"]["files"]] == \
        ["train_sft-00000-of-00001.parquet", "test_sft-00000-of-00001.parquet"]


def test_rebuilding_real_dialogues_with_system_turns_changes_nothing(shared_data, tmp_path):
    dialogues = real_dialogues(shared_data, 150, seed=1)
    inp = write_shape(tmp_path / "chat.jsonl", "messages", dialogues)
    first = run_build(inp, tmp_path / "first")
    assert first.stats.counters["truecased_messages"] > 0  # the first pass repaired some
    second = run_build(tmp_path / "first", tmp_path / "second", input_split=SPLITS)
    assert_second_pass_changes_nothing(first, second)
    rows = output_rows(tmp_path / "second")
    assert rows == output_rows(tmp_path / "first")
    assert sum(m[0]["role"] == "system" for _, m in rows) > 50


def test_an_ultrachat_200k_parquet_builds(shared_data, tmp_path):
    """Rows in the features HuggingFaceH4/ultrachat_200k publishes (prompt, prompt_id,
    messages), written by datasets; already curated, so nothing changes."""
    source = run_build(write_shape(tmp_path / "raw.jsonl", "ultrachat",
                                   real_dialogues(shared_data, 150, seed=2)), tmp_path / "src")
    rows = [{"prompt": m[0]["content"], "prompt_id": prompt_id(m[0]["content"]), "messages": m}
            for _, m in output_rows(tmp_path / "src")]
    (tmp_path / "h4" / "data").mkdir(parents=True)
    datasets.Dataset.from_list(rows, features=ultrachat_features()).to_parquet(
        tmp_path / "h4" / "data" / "train_sft-00000-of-00001.parquet")
    built = run_build(tmp_path / "h4" / "data" / "train_sft-00000-of-00001.parquet",
                      tmp_path / "out")
    assert built.manifest["config"]["input_format"] == "messages"
    assert built.stats.dropped == {} and built.stats.kept == len(rows)
    assert sorted(pid for pid, _ in output_rows(tmp_path / "out")) == \
        sorted(r["prompt_id"] for r in rows)
    assert_second_pass_changes_nothing(source, built)
