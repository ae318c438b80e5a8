"""``load_dataset_split``: our outputs load and pass; rows broken on purpose fail with an error
that names the row and the field."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zephyr_data.core.errors import DatasetLoadError, SchemaError, ZephyrDataError
from zephyr_data.core.schema import validate_table
from zephyr_data.io.integrity import PUBLISHED
from zephyr_data.io.loading import load_dataset_split

pytestmark = pytest.mark.usefixtures("datasets_cache")  # out of the user's cache


@pytest.fixture(scope="module")
def ultrachat(tmp_path_factory) -> Path:
    from pipelines.build_ultrachat import main

    out = tmp_path_factory.mktemp("uc") / "out"
    assert main(["--sample", "--output-dir", str(out), "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def ultrafeedback(tmp_path_factory) -> Path:
    from pipelines import build_ultrafeedback as module

    out = tmp_path_factory.mktemp("uf") / "out"
    assert module.main(["--sample", "--output-dir", str(out), "--no-progress"]) == 0
    return out


def task_of(split: str) -> str:
    return "dpo" if split.endswith("_prefs") else "sft"


@pytest.mark.parametrize("which", ["ultrachat", "ultrafeedback"])
def test_every_split_of_our_outputs_loads_and_validates(which, request):
    folder = request.getfixturevalue(which)
    manifest = json.loads((folder / "manifest.json").read_text())
    for split, info in manifest["splits"].items():
        ds = load_dataset_split(str(folder), split, task=task_of(split))
        assert ds.num_rows == info["num_examples"], split
        assert ds.split == split


def write_broken(tmp_path: Path, folder: Path, split: str, edit) -> Path:
    """A copy of ``split`` with ``edit(rows)`` applied, as a card-less folder of plain parquet
    (so ``datasets`` takes the types from the file, as a hand-made dataset would)."""
    table = pq.read_table(sorted((folder / "data").glob(f"{split}-*.parquet"))[0])
    rows = table.to_pylist()
    new = edit(rows)
    broken = tmp_path / "broken"
    (broken / "data").mkdir(parents=True)
    pq.write_table(new if isinstance(new, pa.Table) else pa.Table.from_pylist(rows),
                   broken / "data" / f"{split}-00000-of-00001.parquet")
    return broken


def set_path(rows, row, path, value):
    target = rows[row]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


def test_missing_role_names_row_and_field(ultrachat, tmp_path):
    broken = write_broken(tmp_path, ultrachat, "train_sft",
                          lambda rows: set_path(rows, 5, ["messages", 1, "role"], None))
    with pytest.raises(SchemaError) as info:
        load_dataset_split(str(broken), "train_sft", task="sft")
    err = info.value
    assert (err.row, err.field) == (5, "messages[1].role")
    assert "row 5" in str(err) and "'messages[1].role'" in str(err) and "missing" in str(err)
    assert err.prompt_id is not None and err.prompt_id[:16] in str(err)


def test_empty_messages_names_row_and_field(ultrachat, tmp_path):
    broken = write_broken(tmp_path, ultrachat, "test_sft",
                          lambda rows: set_path(rows, 3, ["messages"], []))
    with pytest.raises(SchemaError) as info:
        load_dataset_split(str(broken), "test_sft", task="sft")
    assert (info.value.row, info.value.field) == (3, "messages")
    assert "row 3 " in str(info.value) and "empty list" in str(info.value)


def test_chosen_that_is_a_string_names_row_and_field(ultrafeedback, tmp_path):
    def chosen_as_text(rows):
        table = pa.Table.from_pylist(rows)
        text = pa.array([r["chosen"][-1]["content"] for r in rows])
        return table.set_column(table.column_names.index("chosen"), "chosen", text)

    broken = write_broken(tmp_path, ultrafeedback, "train_prefs", chosen_as_text)
    with pytest.raises(SchemaError) as info:
        load_dataset_split(str(broken), "train_prefs", task="dpo")
    assert (info.value.row, info.value.field) == (0, "chosen")
    assert "found a string" in str(info.value)


def test_rejected_with_another_prompt_names_row_and_field(ultrafeedback, tmp_path):
    broken = write_broken(tmp_path, ultrafeedback, "test_prefs",
                          lambda rows: set_path(rows, 4, ["rejected", 0, "content"], "other"))
    with pytest.raises(SchemaError) as info:
        load_dataset_split(str(broken), "test_prefs", task="dpo")
    assert (info.value.row, info.value.field) == (4, "rejected[0]")
    assert "share the prompt" in str(info.value)


def test_real_ultrafeedback_rows_have_two_empty_responses(shared_data, tmp_path):
    """The public data (a sample of trl-lib/ultrafeedback_binarized, from H4's) in H4's schema:
    every rule holds except that two responses are empty, which is reported, or accepted with
    allow_empty_content=True."""
    def turns(prompt, answer):
        return [{"content": prompt, "role": "user"}, {"content": answer, "role": "assistant"}]

    with open(shared_data / "ultrafeedback" / "trl_binarized_sample1000.jsonl") as fh:
        rows = [json.loads(line) for line in fh]
    table = pa.Table.from_pylist([{"prompt": r["prompt"], "chosen": turns(r["prompt"], r["chosen"]),
                                   "rejected": turns(r["prompt"], r["rejected"])} for r in rows])
    path = tmp_path / "real.parquet"
    pq.write_table(table, path)
    with pytest.raises(SchemaError) as info:
        load_dataset_split(str(path), "train", task="dpo")
    assert (info.value.row, info.value.field) == (478, "rejected[1].content")
    ds = load_dataset_split(str(path), "train", task="dpo", allow_empty_content=True)
    assert ds.num_rows == 1000


GOOD = [{"content": "hi", "role": "user"}, {"content": "hello", "role": "assistant"}]
SYS = {"content": "be nice", "role": "system"}


@pytest.mark.parametrize("messages, field, words", [
    ([{"content": "hi", "role": "user"}, {"content": "yo", "role": None}], "messages[1].role",
     "missing"),
    ([{"content": "hi", "role": "user"}, {"content": "yo", "role": "bot"}], "messages[1].role",
     "'bot' is not one of"),
    ([{"content": "", "role": "user"}, GOOD[1]], "messages[0].content", "empty string"),
    ([{"content": None, "role": "user"}, GOOD[1]], "messages[0].content", "missing"),
    ([GOOD[1], GOOD[0]], "messages[0].role", "must start with 'user'"),
    ([SYS, GOOD[1]], "messages[1].role", "first non-system turn must be 'user'"),
    ([GOOD[0], GOOD[0]], "messages[1].role", "must alternate"),
    ([*GOOD, SYS], "messages[2].role", "system turns must all come first"),
    ([SYS], "messages", "only system messages"),
    ([], "messages", "empty list"),
    (None, "messages", "missing (null)"),
    ([None, GOOD[1]], "messages[0]", "missing (null)"),
])
def test_sft_rules(messages, field, words):
    table = pa.table({"messages": pa.array([GOOD, [SYS, *GOOD, *GOOD], messages, GOOD],
                                           type=pa.list_(pa.struct([("content", pa.string()),
                                                                    ("role", pa.string())])))})
    with pytest.raises(SchemaError) as info:
        validate_table(table, task="sft", where="t")
    assert (info.value.row, info.value.field) == (2, field)
    assert words in str(info.value)


@pytest.mark.parametrize("row, field, words", [
    ({"prompt": None}, "prompt", "missing"),
    ({"chosen": GOOD[:1]}, "chosen[0].role", "must end with an assistant turn"),
    ({"rejected": [SYS, *GOOD]}, "rejected", "3 turns but chosen has 2"),
    ({"rejected": [{"content": "hey", "role": "user"}, GOOD[1]]}, "rejected[0]",
     "share the prompt"),
])
def test_dpo_rules(row, field, words):
    good = {"prompt": "hi", "chosen": GOOD, "rejected": [GOOD[0], {"content": "no",
                                                                   "role": "assistant"}]}
    table = pa.Table.from_pylist([good, good, {**good, **row}])
    with pytest.raises(SchemaError) as info:
        validate_table(table, task="dpo", where="t")
    assert (info.value.row, info.value.field) == (2, field)
    assert words in str(info.value)


def test_the_first_bad_row_is_reported_across_batches():
    bad = [GOOD[0], GOOD[0]]
    table = pa.Table.from_batches([pa.RecordBatch.from_pylist([{"messages": GOOD}] * 5),
                                   pa.RecordBatch.from_pylist([{"messages": GOOD}] * 2
                                                              + [{"messages": bad}] * 2)])
    with pytest.raises(SchemaError) as info:
        validate_table(table, task="sft")
    assert info.value.row == 7


def test_errors_are_value_errors_that_keep_their_fields():
    err = SchemaError("x split 'train'", 3, "messages[0].role", "bad", prompt_id="ab" * 32)
    assert isinstance(err, ValueError) and isinstance(err, ZephyrDataError)
    again = pickle.loads(pickle.dumps(err))
    assert (again.row, again.field, str(again)) == (3, "messages[0].role", str(err))
    assert issubclass(DatasetLoadError, ValueError)


def test_load_errors_say_what_to_do(ultrachat, monkeypatch):
    import datasets
    from huggingface_hub import constants

    with pytest.raises(DatasetLoadError, match="no split 'train_prefs'"):
        load_dataset_split(str(ultrachat), "train_prefs", task="sft")
    with pytest.raises(DatasetLoadError, match="missing \\['chosen', 'rejected'\\]"):
        load_dataset_split(str(ultrachat), "train_sft", task="dpo")
    with pytest.raises(DatasetLoadError, match="no such local folder"):
        load_dataset_split(str(ultrachat / "nope"), "train_sft", task="sft")
    with pytest.raises(DatasetLoadError, match="task='kto'"):
        load_dataset_split(str(ultrachat), "train_sft", task="kto")  # type: ignore[arg-type]
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(DatasetLoadError, match="HF_HUB_OFFLINE"):
        load_dataset_split("zephyr-org/not-cached-anywhere", "train_sft", task="sft")


def test_a_local_folder_only_accepts_the_revision_it_was_published_as(ultrachat, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(ultrachat, folder)
    with pytest.raises(DatasetLoadError, match="records no push"):
        load_dataset_split(str(folder), "test_sft", task="sft", revision="main")
    fingerprint = json.loads((folder / "manifest.json").read_text())["fingerprint"]
    commit, other = "0123456789abcdef0123456789abcdef01234567", "ab" * 20
    pushes = [{"repo_id": "zephyr-org/x", "revision": "main", "commit": commit,
               "fingerprint": fingerprint},
              {"repo_id": "zephyr-org/x", "revision": "old", "commit": other,
               "fingerprint": "another build"}]  # a record that is not of this build
    (folder / PUBLISHED).write_text(json.dumps({"pushes": pushes}))
    assert load_dataset_split(str(folder), "test_sft", task="sft", revision=commit).num_rows
    assert load_dataset_split(str(folder), "test_sft", task="sft", revision=commit[:8]).num_rows
    assert load_dataset_split(str(folder), "test_sft", task="sft", revision="main").num_rows
    for wrong in ("f" * 40, other, "old", commit[:6]):  # a short prefix is no pin either
        with pytest.raises(DatasetLoadError, match=rf"and it was published as commit {commit} "
                                                   r"of zephyr-org/x \(branch main\)\. Load"):
            load_dataset_split(str(folder), "test_sft", task="sft", revision=wrong)
    (folder / PUBLISHED).write_text(json.dumps({"pushes": "not a list"}))
    with pytest.raises(DatasetLoadError, match="push the folder again"):
        load_dataset_split(str(folder), "test_sft", task="sft", revision=commit)
