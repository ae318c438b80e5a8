"""``--push-to-hub`` end to end, against a stand-in Hub on 127.0.0.1 (tests/support/hub_server.py).

The pipelines and the real ``huggingface_hub`` / ``datasets`` clients run in subprocesses with
``HF_ENDPOINT`` pointed at the stand-in (the clients read it at import time) and the installed
client's defaults, so its default network path runs: ``upload_folder``'s streamed pipeline
(preupload, the unchanged-file check, one commit), then list, resolve and download. The
stand-in marks every file "regular" (inline in the commit) because it does not speak Xet, the
storage the default client uses for the files the Hub marks "lfs"; one test runs the Git LFS
path that ``HF_HUB_DISABLE_XET=1`` selects. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.support.hub_server import TOKEN, HubServer, client_env
from tests.support.paths import REPO
from zephyr_data.io.integrity import PUBLISHED
from zephyr_data.publish.hub import retry_command

CLIENT = r"""
import json, sys
from huggingface_hub import HfApi, snapshot_download
import datasets
from zephyr_data.io.loading import load_dataset_split

repo, rev, out, tasks = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
api = HfApi()
snapshot_download(repo, repo_type="dataset", revision=rev, local_dir=out + "/snapshot")
commits = [c.commit_id for c in api.list_repo_commits(repo, repo_type="dataset", revision=rev)]
rows = {}
for split, task in tasks.items():
    rows[split] = datasets.load_dataset(repo, split=split, revision=rev).to_list()
    checked = load_dataset_split(repo, split, task=task, revision=rev)
    assert checked.num_rows == len(rows[split])
json.dump({"commits": commits, "rows": rows}, open(out + "/result.json", "w"))
"""


@pytest.fixture(scope="module")
def hub():
    with HubServer(token=TOKEN) as server:
        yield server


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=240)


def tree_digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def local_rows(folder: Path, split: str) -> list[dict]:
    files = sorted((folder / "data").glob(f"{split}-*.parquet"))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def download_and_load(hub: HubServer, home: Path, repo_id: str, rev: str,
                      tasks: dict[str, str]) -> dict:
    out = home / "client"
    out.mkdir(parents=True, exist_ok=True)
    proc = run(["-c", CLIENT, repo_id, rev, str(out), json.dumps(tasks)], client_env(hub, home))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return {"result": json.loads((out / "result.json").read_text()),
            "snapshot": out / "snapshot", "output": proc.stdout + proc.stderr}


def published(folder: Path) -> list[dict]:
    return json.loads((folder / PUBLISHED).read_text())["pushes"]


def test_push_download_identical_then_second_push_makes_no_commit(hub, tmp_path):
    repo_id = "zephyr-org/ultrachat-sample"
    out = tmp_path / "uc"
    cli = ["-m", "pipelines.build_ultrachat", "--sample", "--output-dir", str(out),
           "--no-progress", "--no-truecase", "--push-to-hub", repo_id]  # (truecasing: slow)
    env = client_env(hub, tmp_path / "home")
    assert "HF_HUB_DISABLE_XET" not in env  # the installed client's default path
    first = run(cli, env)
    assert first.returncode == 0, first.stderr[-4000:]
    head = hub.head(repo_id)
    assert f"as commit {head}" in first.stdout
    # the client's upload path: token check, repo, preupload, one commit; nothing it asked
    # for was missing on the stand-in (a Xet token request would be "?")
    routes = hub.routes()
    for route in ("whoami", "create-repo", "preupload", "commit"):
        assert route in routes
    assert routes.count("commit") == 1 and "?" not in routes

    (push,) = published(out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert push == {"repo_id": repo_id, "revision": "main", "commit": head,
                    "url": f"{hub.url}/datasets/{repo_id}/tree/{head}",
                    "fingerprint": manifest["fingerprint"]}
    assert "published" not in manifest

    tasks = {split: "sft" for split in manifest["splits"]}
    got = download_and_load(hub, tmp_path / "home", repo_id, head, tasks)
    snapshot = got["snapshot"]
    local = set(tree_digest(out))
    remote = {p for p in tree_digest(snapshot) if not p.startswith(".")}
    assert remote == local - {PUBLISHED}  # the local record of pushes is never uploaded
    for name in sorted(remote):  # the manifest too: the Hub's copy is the local one
        assert (snapshot / name).read_bytes() == (out / name).read_bytes(), name
    for split in manifest["splits"]:
        assert got["result"]["rows"][split] == local_rows(out, split), split
    assert got["result"]["commits"][0] == head
    assert len(got["result"]["commits"]) == 2  # the repo's initial commit, then ours
    # the card names the pushed repo
    assert f'load_dataset("{repo_id}"' in (snapshot / "README.md").read_text()

    # push the same folder again with the retry command that failed pushes print: the record
    # written beside the manifest is never uploaded, so nothing changed
    retry = retry_command(out, repo_id, None, False, None).split()
    assert retry[:3] == ["python", "-m", "pipelines.push_to_hub"]
    second = run([*retry[1:], "--no-progress"], env)
    assert second.returncode == 0, second.stderr[-4000:]
    assert "already up to date" in second.stdout and head in second.stdout
    assert hub.head(repo_id) == head
    assert hub.routes().count("commit") == 1
    assert published(out) == [push]


def test_push_preferences_to_private_branch_never_shows_the_token(hub, tmp_path, monkeypatch):
    repo_id = "zephyr-org/ultrafeedback-sample"
    out = tmp_path / "uf"
    env = client_env(hub, tmp_path / "home")
    env["HF_HUB_VERBOSITY"] = "debug"  # the client's most talkative logging
    proc = run(["-m", "pipelines.build_ultrafeedback", "--sample", "--output-dir", str(out),
                "--push-to-hub", repo_id, "--push-revision", "candidate", "--private",
                "--commit-message", "candidate build"], env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    repo = hub.repo(repo_id)
    assert repo.private
    head = repo.branches["candidate"]
    assert repo.commits[head].title == "candidate build"
    assert repo.commits[repo.branches["main"]].title == "initial commit"  # main untouched
    # the streamed upload pipeline of the default client made the commit (its debug line)
    assert re.search(rf"Committed \d+ file\(s\) in [0-9.]+s: \S+/commit/{head}", proc.stderr)
    (push,) = published(out)
    assert (push["revision"], push["commit"]) == ("candidate", head)
    card = (out / "README.md").read_text()
    assert f'load_dataset("{repo_id}", split="train_prefs", revision="candidate")' in card
    for name in ("README.md", "manifest.json", "data/train_prefs-00000-of-00001.parquet"):
        assert hub.file_bytes(repo_id, name, "candidate") == (out / name).read_bytes()

    # the token was sent on every write, and appears nowhere: not in the logs (debug level),
    # the local folder (card, manifest, data, record of pushes), what was pushed, or the
    # commit messages
    writes = [r for r in hub.requests if r.route in ("create-repo", "preupload", "commit")]
    assert writes and all(r.had_token for r in writes)
    assert TOKEN not in proc.stdout + proc.stderr
    for path in out.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    assert all(TOKEN.encode() not in data for data in hub.store.contents.values())
    assert all(TOKEN not in c.title + c.message for c in repo.commits.values())

    # private: invisible without the token
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import RepositoryNotFoundError

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hub.url, token=False).repo_info(repo_id, repo_type="dataset")


@pytest.mark.parametrize("client", ["default", "git-lfs"])
def test_rebuild_with_fewer_shards_deletes_stale_shards(client, tmp_path, monkeypatch):
    """A split's old shards would still match ``data/{split}-*``: the push deletes them, in the
    commit that adds the new ones. With the default client, a folder of many files goes up in
    parts (``huggingface_hub`` commits 250 files at a time at first; 20 here) and the push
    says so."""
    import huggingface_hub._upload_pipeline as pipeline
    from huggingface_hub import HfApi, constants

    from pipelines.build_ultrafeedback import main
    from zephyr_data.publish.hub import push_folder

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", client == "git-lfs")
    monkeypatch.setattr(pipeline, "INITIAL_COMMIT_SIZE_INDEX", 0)  # 20 files per commit
    streamed = []
    real = pipeline.pipelined_upload
    monkeypatch.setattr(pipeline, "pipelined_upload",
                        lambda *a, **k: streamed.append(1) or real(*a, **k))
    repo_id, out = "zephyr-org/shards", tmp_path / "uf"
    base = ["--sample", "--output-dir", str(out), "--no-progress"]
    with HubServer(token=TOKEN, lfs=client == "git-lfs") as hub:
        assert main([*base, "--max-rows-per-shard", "10"]) == 0  # 11 shards per train split
        first = push_folder(out, repo_id, token=TOKEN, endpoint=hub.url, progress=False)
        history = [c.sha for c in hub.store.history(hub.repo(repo_id),
                                                    hub.store.resolve(hub.repo(repo_id),
                                                                      "main"))]
        assert first.commit == history[0]
        assert first.commits == history.index(first.parent)  # every commit of the push
        assert first.commits > 1 if client == "default" else first.commits == 1
        if first.commits > 1:
            assert f"the last of {first.commits} commits" in first.describe()
        api = HfApi(endpoint=hub.url, token=TOKEN)
        files = set(api.list_repo_files(repo_id, repo_type="dataset", revision=first.commit))
        assert "data/train_prefs-00010-of-00011.parquet" in files

        assert main(base) == 0  # a pushed folder is still a build: replaced without --overwrite
        assert not (out / PUBLISHED).exists()  # the record went with the build it described
        second = push_folder(out, repo_id, token=TOKEN, endpoint=hub.url, progress=False)
        assert second.commits == 1 and second.parent == first.commit
        files = set(api.list_repo_files(repo_id, repo_type="dataset", revision=second.commit))
        data = sorted(f for f in files if f.startswith("data/"))
        assert data == sorted(p.relative_to(out).as_posix() for p in (out / "data").iterdir())
        assert published(out)[-1]["commit"] == second.commit
        lfs_routes = {"lfs-batch", "lfs-upload", "lfs-verify"} & set(hub.routes())
    # which path ran: the streamed pipeline and inline content, or Git LFS
    assert (len(streamed), lfs_routes) == ((2, set()) if client == "default" else
                                           (0, {"lfs-batch", "lfs-upload", "lfs-verify"}))
