"""The UltraChat pipeline end to end on the bundled sample: schema, counts, splits, dumps,
determinism and atomic writes."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import datasets
import pytest

from pipelines.build_ultrachat import main
from zephyr_data.core.ids import prompt_id
from zephyr_data.core.schema import ultrachat_features
from zephyr_data.io.readers import sample_path

# The features HuggingFaceH4/ultrachat_200k publishes, written out by hand.
H4_ULTRACHAT_FEATURES = {
    "prompt": {"dtype": "string", "_type": "Value"},
    "prompt_id": {"dtype": "string", "_type": "Value"},
    "messages": {"feature": {"content": {"dtype": "string", "_type": "Value"},
                             "role": {"dtype": "string", "_type": "Value"}},
                 "_type": "List"},
}
SPLITS = ["train_sft", "test_sft", "train_gen", "test_gen"]
# What the bundled sample holds, case by case (see zephyr_data/samples/).
SAMPLE_DROPS = {"as_an_ai": 7, "duplicate": 3, "empty_dialogue": 2, "empty_turn": 4,
                "no_assistant_turn": 2, "no_emotions": 3, "no_opinions": 2,
                "no_personal_experience": 3, "odd_turn_count": 2}


def build(tmp_path: Path, name: str, *args: str) -> Path:
    out = tmp_path / name
    assert main(["--output-dir", str(out), "--no-progress", "--decontaminate", "off", *args]) == 0
    return out


@pytest.fixture(scope="module")
def sample_build(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("uc")
    return build(tmp, "out", "--sample", "--dump-dropped", str(tmp / "dropped.jsonl"))


def parquet_bytes(folder: Path) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in sorted((folder / "data").glob("*.parquet"))}
    return {**files, "truecased.jsonl": (folder / "truecased.jsonl").read_bytes()}


def test_loads_with_the_h4_features(sample_build):
    ds = datasets.load_dataset(str(sample_build))
    assert list(ds) == SPLITS
    for split in SPLITS:
        assert ds[split].features.to_dict() == H4_ULTRACHAT_FEATURES
        assert ds[split].features == ultrachat_features()
    row = ds["train_sft"][0]
    assert row["prompt"] == row["messages"][0]["content"]
    assert row["prompt_id"] == prompt_id(row["prompt"])
    assert [m["role"] for m in row["messages"]][:2] == ["user", "assistant"]


def test_every_row_is_accounted_for(sample_build):
    manifest = json.loads((sample_build / "manifest.json").read_text())
    stats = manifest["stats"]
    assert stats["rows_in"] == 125
    assert stats["rows_in"] == stats["kept"] + sum(stats["dropped"].values())
    assert stats["dropped"] == SAMPLE_DROPS
    splits = manifest["splits"]
    assert splits["train_sft"]["num_examples"] + splits["test_sft"]["num_examples"] \
        == stats["kept"]
    assert splits["train_gen"] == splits["train_sft"]
    assert stats["counters"]["truecased_dialogues"] == 16  # the README says so
    assert stats["counters"]["truecased_messages"] == 29


def test_dump_holds_every_dropped_row_with_its_reason(sample_build):
    lines = (sample_build.parent / "dropped.jsonl").read_text().splitlines()
    reasons = Counter(json.loads(line)["reason"] for line in lines)
    assert reasons == SAMPLE_DROPS
    first = json.loads(lines[0])
    assert first["ref"].startswith(str(sample_path("ultrachat_sample.jsonl")))
    assert first["detail"]


def test_no_prompt_in_both_train_and_test(sample_build):
    ds = datasets.load_dataset(str(sample_build))
    train = set(ds["train_sft"]["prompt_id"])
    test = set(ds["test_sft"]["prompt_id"])
    assert train and test and not train & test


def test_output_is_sorted_and_deduplicated(sample_build):
    ds = datasets.load_dataset(str(sample_build), split="train_sft")
    ids = ds["prompt_id"]
    assert ids == sorted(ids)
    dialogues = [json.dumps(m) for m in ds["messages"]]
    assert len(set(dialogues)) == len(dialogues)


def test_persona_answers_and_broken_casing_are_gone(sample_build):
    from zephyr_data.steps.truecaser import is_broken

    ds = datasets.load_dataset(str(sample_build), split="train_sft")
    for messages in ds["messages"]:
        for m in messages:
            if m["role"] == "assistant":
                assert "as an ai language model" not in m["content"].lower()
            assert not is_broken(m["content"]), m["content"][:200]


def test_same_bytes_for_rerun_workers_and_shuffled_input(sample_build, tmp_path):
    lines = sample_path("ultrachat_sample.jsonl").read_text(encoding="utf-8").splitlines()
    random.Random(7).shuffle(lines)
    shuffled = tmp_path / "shuffled.jsonl"
    shuffled.write_text("\n".join(lines) + "\n", encoding="utf-8")
    reference = parquet_bytes(sample_build)
    fingerprint = json.loads((sample_build / "manifest.json").read_text())["fingerprint"]
    runs = {
        "rerun": build(tmp_path, "rerun", "--sample"),
        "two workers, small units": build(tmp_path, "workers", "--sample", "--num-proc", "2",
                                          "--batch-size", "7"),
        "shuffled": build(tmp_path, "shuffled", "--input", str(shuffled)),
    }
    for name, folder in runs.items():
        assert parquet_bytes(folder) == reference, name
        assert json.loads((folder / "manifest.json").read_text())["fingerprint"] == \
            fingerprint, name


def test_target_size_samples_and_counts_the_rest(tmp_path):
    out = build(tmp_path, "small", "--sample", "--target-size", "40", "--test-share", "0.25")
    manifest = json.loads((out / "manifest.json").read_text())
    stats = manifest["stats"]
    assert stats["kept"] == 40
    assert stats["dropped"]["over_target_size"] == 97 - 40
    assert stats["rows_in"] == stats["kept"] + sum(stats["dropped"].values())
    assert manifest["splits"]["test_sft"]["num_examples"] > 0


def test_several_shards(tmp_path):
    out = build(tmp_path, "sharded", "--sample", "--max-rows-per-shard", "30")
    names = sorted(p.name for p in (out / "data").glob("train_sft-*.parquet"))
    assert names == [f"train_sft-{i:05d}-of-00003.parquet" for i in range(3)]
    rows = json.loads((out / "manifest.json").read_text())["splits"]["train_sft"]["num_examples"]
    assert rows > 60
    assert datasets.load_dataset(str(out), split="train_sft").num_rows == rows


def test_card_header_names_each_split(sample_build):
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(sample_build / "README.md")
    info = card.data.to_dict()["dataset_info"]
    manifest = json.loads((sample_build / "manifest.json").read_text())
    assert {s["name"]: s["num_examples"] for s in info["splits"]} == \
        {k: v["num_examples"] for k, v in manifest["splits"].items()}
    assert "python -m pipelines.build_ultrachat" in card.text


def test_manifest_lists_files_versions_and_input(sample_build):
    from zephyr_data.io.writer import sha256_file

    manifest = json.loads((sample_build / "manifest.json").read_text())
    for name, sha in manifest["files"].items():
        assert sha256_file(sample_build / name) == sha
    assert manifest["versions"]["datasets"] == datasets.__version__
    assert manifest["input"]["files"][0]["name"] == "ultrachat_sample.jsonl"
    assert len(manifest["input"]["fingerprint"]) == 64
    assert manifest["config"]["seed"] == 42


def test_truecased_messages_are_listed_before_and_after(sample_build):
    manifest = json.loads((sample_build / "manifest.json").read_text())
    lines = [json.loads(x) for x in (sample_build / "truecased.jsonl").read_text().splitlines()]
    assert len(lines) == manifest["stats"]["counters"]["truecased_messages"]
    assert [(x["prompt_id"], x["index"]) for x in lines] == \
        sorted((x["prompt_id"], x["index"]) for x in lines)
    ds = datasets.load_dataset(str(sample_build))
    output = {r["prompt_id"]: r["messages"] for split in ("train_sft", "test_sft")
              for r in ds[split]}
    for change in lines:
        message = output[change["prompt_id"]][change["index"]]
        assert message == {"content": change["after"], "role": change["role"]}
        assert change["before"] != change["after"]
        assert change["before"].lower() == change["after"].lower()
