"""Pushes that cannot be done fail fast, say what to do, keep the local folder as built, and
never show the token. In-process, with the client's constants patched (monkeypatch restores
them) and the endpoint passed explicitly to the stand-in Hub or to a closed port."""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path

import pytest
from huggingface_hub import constants

from tests.support.hub_server import HubServer
from zephyr_data.publish.hub import HubError, push_folder, retry_command

TOKEN = "hf_FailureTestsSecretToken9876543210zyxw"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    from pipelines.build_ultrachat import main

    out = tmp_path_factory.mktemp("built") / "uc"
    assert main(["--sample", "--output-dir", str(out), "--no-progress", "--no-truecase"]) == 0
    return out


@pytest.fixture(scope="module")
def hub():
    with HubServer(token=TOKEN) as server:
        yield server


@pytest.fixture
def online(monkeypatch, tmp_path):
    """The client as on a machine with network and no saved login."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-saved-token"))
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)


def digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends


def test_no_token_fails_before_the_build_and_keeps_the_folder(built, online, capsys):
    from pipelines.build_ultrachat import main

    before = digest(built)
    rc = main(["--sample", "--output-dir", str(built), "--no-progress", "--no-truecase",
               "--push-to-hub", "zephyr-org/x"])
    out, err = capsys.readouterr()
    assert rc == 2
    assert "no Hugging Face token" in err and "hf auth login" in err and "HF_TOKEN" in err
    assert "written to" not in out  # failed before building anything
    assert digest(built) == before

    with pytest.raises(HubError, match="hf auth login"):
        push_folder(built, "zephyr-org/x", progress=False)
    assert digest(built) == before


def test_unreachable_hub_fails_fast_and_says_how_to_retry(built, online):
    before = digest(built)
    endpoint = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(HubError) as info:
        push_folder(built, "zephyr-org/x", revision="v2", token=TOKEN, endpoint=endpoint,
                    progress=False)
    message = str(info.value)
    assert f"cannot reach the Hub at {endpoint}" in message
    assert "Nothing local was changed" in message
    assert retry_command(built, "zephyr-org/x", "v2", False, None) in message
    assert TOKEN not in message
    assert digest(built) == before


def test_rejected_token_says_so_and_is_not_shown(built, online, hub):
    before = digest(built)
    wrong = "hf_WrongTokenThatMustNotBeShown000000000"
    with pytest.raises(HubError) as info:
        push_folder(built, "zephyr-org/x", token=wrong, endpoint=hub.url, progress=False)
    message = str(info.value)
    assert "rejected the token (401)" in message and "hf auth login" in message
    assert wrong not in message and TOKEN not in message
    assert ("dataset", "zephyr-org/x") not in hub.store.repos  # nothing was created
    assert digest(built) == before


def test_offline_mode_refuses_to_push(built, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubError, match="HF_HUB_OFFLINE"):
        push_folder(built, "zephyr-org/x", token=TOKEN, progress=False)


def test_errors_never_carry_the_token(built, online, monkeypatch):
    import zephyr_data.publish.hub as hub_module

    def leaky(*args, **kwargs):
        raise RuntimeError(f"server said: bad header 'Authorization: Bearer {TOKEN}'")

    monkeypatch.setattr(hub_module, "_push", leaky)
    with pytest.raises(HubError) as info:
        push_folder(built, "zephyr-org/x", token=TOKEN, progress=False)
    assert TOKEN not in str(info.value) and "hf_***" in str(info.value)


def test_a_push_that_races_another_commits_nothing(built, online, hub, monkeypatch):
    """``parent_commit``: a commit that lands on the branch between the start of the push and
    its commit makes the push fail instead of overwriting it."""
    from huggingface_hub import HfApi

    repo_id, before = "zephyr-org/raced", digest(built)
    upload_folder = HfApi.upload_folder

    def racing(self, **kwargs):  # another machine pushes just before our commit
        HfApi(endpoint=hub.url, token=TOKEN).upload_file(
            path_or_fileobj=b"pushed from elsewhere\n", path_in_repo="notes.txt",
            repo_id=repo_id, repo_type="dataset", commit_message="the other push")
        return upload_folder(self, **kwargs)

    monkeypatch.setattr(HfApi, "upload_folder", racing)
    with pytest.raises(HubError) as info:
        push_folder(built, repo_id, token=TOKEN, endpoint=hub.url, progress=False)
    message = str(info.value)
    assert "branch main of zephyr-org/raced moved while this push was under way" in message
    assert "nothing was committed" in message and "Nothing local was changed" in message
    repo = hub.repo(repo_id)
    assert repo.commits[repo.branches["main"]].title == "the other push"  # not overwritten
    assert len(repo.commits) == 2  # the initial commit and the other push: none of ours
    assert digest(built) == before  # no record of a push that did not happen


def test_private_push_to_an_existing_public_repo_uploads_nothing(built, online, hub, tmp_path):
    from huggingface_hub import HfApi

    HfApi(endpoint=hub.url, token=TOKEN).create_repo("zephyr-org/public", repo_type="dataset")
    with pytest.raises(HubError, match="already exists and is public"):
        push_folder(built, "zephyr-org/public", private=True, token=TOKEN, endpoint=hub.url,
                    progress=False)
    assert len(hub.repo("zephyr-org/public").commits) == 1  # only the initial commit


@pytest.mark.parametrize("repo_id, revision, match", [
    ("no-namespace", None, "ORG/NAME"),
    ("org/name with space", None, "ORG/NAME"),
    ("org/name", "0123456789abcdef0123456789abcdef01234567", "branch name"),
])
def test_bad_target_is_refused_before_any_network(built, repo_id, revision, match):
    with pytest.raises(HubError, match=match):
        push_folder(built, repo_id, revision=revision, token=TOKEN, progress=False)


def test_folder_changed_after_the_build_is_refused(built, online, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    shard = copy / next(iter(manifest["files"]))
    shard.write_bytes(shard.read_bytes() + b"\0")
    with pytest.raises(HubError, match="changed after the build"):
        push_folder(copy, "zephyr-org/x", token=TOKEN, progress=False)


def test_a_push_record_inside_the_manifest_is_never_uploaded(built, online, tmp_path):
    """Folders pushed by an earlier zephyr-data hold the record in manifest.json: refused."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["published"] = {"repo_id": "zephyr-org/x", "commit": "0" * 40}
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(HubError, match="holds a 'published' record.*delete that key"):
        push_folder(copy, "zephyr-org/x", token=TOKEN, progress=False)
