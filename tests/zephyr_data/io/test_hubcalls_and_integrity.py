"""Secrets and tampering: no Hub path shows the token, even when the server echoes it back, and
a local build that no longer matches its manifest does not load silently."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.support.builds import sample_build
from tests.support.hub_server import TOKEN, HubServer, client_env
from tests.support.paths import REPO
from zephyr_data.io.integrity import IntegrityError, fingerprint_of, verify_split
from zephyr_data.io.loading import DatasetLoadError, load_dataset_split
from zephyr_data.io.writer import sha256_file

MASKED = "Bearer hf_***"
pytestmark = pytest.mark.usefixtures("datasets_cache")  # out of the user's cache

# ------------------------------------------------------------------ the token

LIBRARY_CALLS = r"""
import sys
from zephyr_data.io.loading import load_dataset_split
from zephyr_data.report import open_build

for name, call in [("load_dataset_split", lambda: load_dataset_split("org/uc", "train_sft",
                                                                     task="sft")),
                   ("open_build", lambda: open_build("org/uc"))]:
    try:
        call()
    except Exception as err:
        print(f"{name} raised {type(err).__name__}: {err}")
        chained = err.__context__  # suppressed (raised from None), but still attached
        while chained is not None:
            print(f"  chained {type(chained).__name__}: {chained}")
            chained = chained.__cause__ or chained.__context__
    else:
        print(f"{name} did not fail")
"""


@pytest.fixture(scope="module")
def echoing_hub():
    """A mirror that answers every request with an error quoting its headers (the token)."""
    with HubServer(token=TOKEN, echo_headers=True) as server:
        yield server


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)


def check_scrubbed(result: subprocess.CompletedProcess) -> str:
    said = result.stdout + result.stderr
    assert TOKEN not in said
    assert TOKEN[3:12] not in said  # not even a cut piece of it
    assert MASKED in said, said  # the echo did arrive, with the token masked
    assert "Traceback" not in said
    return said


@pytest.mark.parametrize("args", [["--input", "raw-org/ultrachat", "--decontaminate", "off"],
                                  ["--sample", "--decontaminate", "hub"]],
                         ids=["input-hub-id", "decontaminate-hub"])
def test_pipeline_hub_paths_never_print_the_token(args, echoing_hub, tmp_path):
    env = client_env(echoing_hub, tmp_path / "home")
    result = run([sys.executable, "-m", "pipelines.build_ultrachat", "--no-progress",
                  "--output-dir", str(tmp_path / "out"), *args], env)
    assert result.returncode == 2
    said = check_scrubbed(result)
    assert said.startswith("error: --input raw-org/ultrachat: could not download" if
                           "--input" in args else "error: decontaminate='hub': could not load")
    assert not (tmp_path / "out").exists()


def test_push_path_never_prints_the_token(echoing_hub, tmp_path):
    env = client_env(echoing_hub, tmp_path / "home")
    result = run([sys.executable, "-m", "pipelines.build_ultrachat", "--sample", "--no-progress",
                  "--no-truecase", "--output-dir", str(tmp_path / "out"),
                  "--push-to-hub", "org/uc"], env)
    assert result.returncode == 2
    said = check_scrubbed(result)
    assert "answered 400 to a token check" in said and "Retry the upload alone" in said


def test_loading_and_opening_from_the_hub_never_show_the_token(echoing_hub, tmp_path):
    env = client_env(echoing_hub, tmp_path / "home")
    result = run([sys.executable, "-c", LIBRARY_CALLS], env)
    assert result.returncode == 0, result.stderr
    said = check_scrubbed(result)
    assert "load_dataset_split raised DatasetLoadError: org/uc: could not load split" in said
    assert "open_build raised HubDownloadError: org/uc: could not download" in said
    assert "  chained " in said  # the chained exceptions were printed, and scrubbed too


# ------------------------------------------------------------------ tampering


@pytest.fixture
def build(tmp_path_factory, tmp_path, request) -> Path:
    """A copy of the shared UltraChat sample build, free to tamper with. Each has its own folder
    name: ``datasets`` keys the cache of a local folder by its name and its card's YAML header,
    not by its path or file contents, so same-named copies would share one cache entry."""
    source, _ = sample_build(tmp_path_factory, "ultrachat")
    return Path(shutil.copytree(source, tmp_path / request.node.name))


SPLIT, SHARD = "test_sft", "data/test_sft-00000-of-00001.parquet"


def replace_shard(folder: Path) -> str:
    """Replace the shard with another valid parquet file, same rows count, one answer changed;
    return the changed answer."""
    path = folder / SHARD
    table = pq.read_table(path)
    rows = table.to_pylist()
    rows[0]["messages"][1]["content"] = "An answer changed after the build."
    pq.write_table(table.from_pylist(rows, schema=table.schema), path, compression="zstd")
    return rows[0]["messages"][1]["content"]


def manifest_of(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def write_manifest(folder: Path, manifest: dict) -> None:
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))


def test_untouched_build_loads_after_hashing_the_split_files(build):
    listed = [name for name in manifest_of(build)["files"] if name.startswith(f"data/{SPLIT}-")]
    assert verify_split(build, SPLIT) == len(listed) >= 1
    ds = load_dataset_split(str(build), SPLIT, task="sft")
    assert ds.num_rows == manifest_of(build)["splits"][SPLIT]["num_examples"]


def test_replaced_shard_with_the_same_rows_count_is_named(build):
    changed = replace_shard(build)
    with pytest.raises(IntegrityError) as info:
        load_dataset_split(str(build), SPLIT, task="sft")
    assert str(info.value).startswith(f"{build / SHARD}: its sha256 differs from manifest.json")
    assert isinstance(info.value, DatasetLoadError) and "verify=False" in str(info.value)
    # the other splits are not affected; verify=False loads the changed data as it is
    load_dataset_split(str(build), "train_sft", task="sft")
    ds = load_dataset_split(str(build), SPLIT, task="sft", verify=False)
    assert ds[0]["messages"][1]["content"] == changed


def test_edited_manifest_is_caught(build):
    replace_shard(build)
    manifest = manifest_of(build)
    manifest["files"][SHARD] = sha256_file(build / SHARD)  # the file list made to match...
    write_manifest(build, manifest)
    with pytest.raises(IntegrityError, match=r"manifest.json: was edited: its 'fingerprint'"):
        load_dataset_split(str(build), SPLIT, task="sft")
    manifest["fingerprint"] = fingerprint_of(manifest["files"])  # ...and the fingerprint too
    write_manifest(build, manifest)
    with pytest.raises(IntegrityError, match=r"README.md gives the output fingerprint"):
        load_dataset_split(str(build), SPLIT, task="sft")
    (build / "manifest.json").write_text("{not json")
    with pytest.raises(IntegrityError, match=r"manifest.json: not valid JSON"):
        load_dataset_split(str(build), SPLIT, task="sft")


def test_deleted_manifest_of_a_built_folder_is_caught(build):
    (build / "manifest.json").unlink()
    with pytest.raises(IntegrityError, match=r"manifest.json is missing, but README.md says "
                                             r"this project built the folder"):
        load_dataset_split(str(build), SPLIT, task="sft")
    assert load_dataset_split(str(build), SPLIT, task="sft", verify=False).num_rows > 0


def test_added_or_removed_shard_is_named(build):
    extra = build / "data" / f"{SPLIT}-00001-of-00002.parquet"
    shutil.copyfile(build / SHARD, extra)  # would be loaded by the card's data/test_sft-*
    with pytest.raises(IntegrityError) as info:
        load_dataset_split(str(build), SPLIT, task="sft")
    assert str(info.value).startswith(f"{extra}: not listed in manifest.json")
    extra.unlink()
    (build / SHARD).unlink()
    with pytest.raises(IntegrityError, match=r"listed in manifest.json for split 'test_sft', "
                                             r"but missing"):
        load_dataset_split(str(build), SPLIT, task="sft")
