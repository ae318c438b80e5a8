"""Reading raw input from a Hub dataset id (``--input ORG/NAME --revision REV``), through the
real ``huggingface_hub`` client against the stand-in Hub on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.hub_server import TOKEN, HubServer, client_env
from tests.support.paths import REPO
from zephyr_data.io.readers import sample_path

UPLOAD = r"""
import sys
from huggingface_hub import HfApi
api = HfApi()
api.create_repo(sys.argv[1], repo_type="dataset")
info = api.upload_file(path_or_fileobj=sys.argv[2], path_in_repo="train_0.jsonl",
                       repo_id=sys.argv[1], repo_type="dataset")
print(info.oid)
"""


@pytest.fixture(scope="module")
def hub():
    with HubServer(token=TOKEN) as server:
        yield server


def test_build_from_a_hub_dataset_at_a_revision(hub, tmp_path):
    # HF_HOME in a hidden folder, as the default ~/.cache/huggingface: hidden paths are skipped
    # only below the downloaded snapshot, not above it
    env = client_env(hub, tmp_path / ".cache" / "huggingface")
    sample = sample_path("ultrachat_sample.jsonl")
    upload = subprocess.run([sys.executable, "-c", UPLOAD, "raw-org/ultrachat", str(sample)],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert upload.returncode == 0, upload.stderr
    commit = upload.stdout.split()[-1]
    out, local = tmp_path / "from_hub", tmp_path / "from_sample"
    build = [sys.executable, "-m", "pipelines.build_ultrachat", "--no-progress",
             "--decontaminate", "off"]
    result = subprocess.run([*build, "--input", "raw-org/ultrachat", "--revision", commit,
                             "--output-dir", str(out)], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    subprocess.run([*build, "--sample", "--output-dir", str(local)], cwd=REPO, env=env,
                   check=True, capture_output=True, timeout=240)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["input"]["hub_id"] == "raw-org/ultrachat"
    assert manifest["input"]["revision"] == commit
    assert manifest["input"]["files"][0]["sha256"] == \
        json.loads((local / "manifest.json").read_text())["input"]["files"][0]["sha256"]
    assert manifest["fingerprint"] == \
        json.loads((local / "manifest.json").read_text())["fingerprint"]
    assert "raw-org/ultrachat at revision" in (out / "README.md").read_text()


def test_unknown_hub_dataset_is_a_clear_error(hub, tmp_path):
    env = client_env(hub, tmp_path / "home")
    result = subprocess.run([sys.executable, "-m", "pipelines.build_ultrachat", "--input",
                             "raw-org/missing", "--output-dir", str(tmp_path / "o"),
                             "--decontaminate", "off"], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=240)
    assert result.returncode == 2
    assert "could not download the Hub dataset" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


UPLOAD_FOLDER = r"""
import sys
from huggingface_hub import HfApi
api = HfApi()
api.create_repo(sys.argv[1], repo_type="dataset")
api.upload_folder(folder_path=sys.argv[2], repo_id=sys.argv[1], repo_type="dataset",
                  allow_patterns=["README.md", "data/*"])
"""


def test_a_hub_dataset_in_the_ultrachat_200k_layout_by_split(hub, tmp_path, ultrachat_sample):
    """A Hub dataset with several splits (README configs and data/{split}-*.parquet, as
    HuggingFaceH4/ultrachat_200k): --input-split picks them, and only their files are
    downloaded; the rows come back unchanged."""
    folder, _ = ultrachat_sample
    env = client_env(hub, tmp_path / "home")
    upload = subprocess.run([sys.executable, "-c", UPLOAD_FOLDER, "h4-org/chat_200k",
                             str(folder)], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=240)
    assert upload.returncode == 0, upload.stderr
    build = [sys.executable, "-m", "pipelines.build_ultrachat", "--no-progress",
             "--decontaminate", "off", "--input", "h4-org/chat_200k"]
    refused = subprocess.run([*build, "--output-dir", str(tmp_path / "o")], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=240)
    assert refused.returncode == 2
    assert "holds several splits (train_sft, test_sft, train_gen, test_gen)" in refused.stderr
    out = tmp_path / "out"
    result = subprocess.run([*build, "--input-split", "train_sft,test_sft", "--output-dir",
                             str(out)], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=240)
    assert result.returncode == 0, result.stderr
    assert "--input-format auto: reading messages (role/content) rows" in result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    first = json.loads((folder / "manifest.json").read_text())
    assert manifest["fingerprint"] == first["fingerprint"]  # the same rows, byte for byte
    assert manifest["stats"]["dropped"] == {}
    assert manifest["input"]["splits"] == ["train_sft", "test_sft"]
    downloaded = sorted(p.name for p in (tmp_path / "home").rglob("*.parquet"))
    assert downloaded == ["test_sft-00000-of-00001.parquet", "train_sft-00000-of-00001.parquet"]
