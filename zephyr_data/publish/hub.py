"""Publish a finished dataset folder to the Hugging Face Hub, in one commit.

    python -m pipelines.push_to_hub FOLDER ORG/NAME [--revision BRANCH] [--private]

pushes a folder that a pipeline already built (the pipelines' ``--push-to-hub`` does the same at
the end of a build). The repo is created if needed, and every file of the folder (parquet shards,
``README.md``, ``manifest.json``, any images) goes up in a single commit through
``huggingface_hub``; data shards on the Hub that the folder no longer has are deleted in that same
commit, so the card's ``data/{split}-*`` patterns never pick up stale shards. Files the Hub
already has with the same content are not sent again, and when nothing changed no commit is made.

The token comes from where ``huggingface_hub`` looks for it (``HF_TOKEN``, then the login saved
by ``hf auth login``); it is never printed, logged or written, and it is scrubbed from every
error message.

Pinning. A commit cannot contain its own hash, so the ``manifest.json`` on the Hub does not name
the commit it is part of. After a push, the local ``manifest.json`` gets a ``published`` record
(repo, branch, commit, URL) written atomically, and the commit is printed.
That key is local only: it is always left out of the uploaded copy, so pushing the same folder
again uploads the same bytes and makes no new commit. Load a pinned version with
``load_dataset(repo_id, revision=COMMIT)`` or ``zephyr_data.load_dataset_split``.

A push that fails changes nothing local: the folder stays as built, and the error says how to
retry the upload alone (the command above), without building again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import ZephyrDataError
from ..core.ids import is_repo_id, sha256_file
from ..io.hubcalls import describe_failure
from ..io.writer import write_text_atomic

log = logging.getLogger(__name__)

REPO_TYPE = "dataset"
LOCAL_ONLY_KEYS = ("published",)
PREFLIGHT_TIMEOUT_S = 15.0
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


class HubError(ZephyrDataError):
    """A push that could not be done; the message says why and what to do."""


@dataclass
class PushResult:
    repo_id: str
    revision: str
    commit: str
    parent: str | None
    changed: bool
    url: str
    files: int

    def describe(self) -> str:
        pin = f'load_dataset("{self.repo_id}", revision="{self.commit}")'
        if self.changed:
            return (f"pushed {self.files} files to {self.repo_id} (branch {self.revision}) as "
                    f"commit {self.commit}\n  {self.url}\n  pin this version with: {pin}")
        return (f"{self.repo_id} (branch {self.revision}) is already up to date at commit "
                f"{self.commit}: no new commit was made\n  pin this version with: {pin}")


# ------------------------------------------------------------------ local side


def publishable_manifest(manifest: dict[str, Any]) -> bytes:
    """The bytes of ``manifest.json`` as pushed: without the local-only keys, canonical JSON."""
    public = {k: v for k, v in manifest.items() if k not in LOCAL_ONLY_KEYS}
    return (json.dumps(public, indent=2, sort_keys=True) + "\n").encode("utf-8")


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / "manifest.json"
    if not path.is_file():
        raise HubError(f"{folder}: no manifest.json, so this is not a folder built by a "
                       "zephyr_data pipeline. Build it first, e.g. `python -m "
                       "pipelines.build_ultrachat --output-dir FOLDER`.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise HubError(f"{path}: not valid JSON ({err}). Rebuild the folder.") from None


def folder_files(folder: Path) -> list[str]:
    """Every file to upload, as POSIX paths relative to ``folder`` (hidden paths left out)."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and not any(part.startswith(".")
                                             for part in p.relative_to(folder).parts))


def data_dirs(manifest: dict[str, Any]) -> tuple[str, ...]:
    """The folders of a build's data files: ``data/`` and each derived config's (``trl/``)."""
    return ("data/", *(f"{name}/" for name in manifest.get("configs") or {}))


def check_folder(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """Check the folder is complete and unmodified since the build; return its files."""
    files = folder_files(folder)
    if "README.md" not in files:
        raise HubError(f"{folder}: no README.md (the dataset card). Rebuild the folder.")
    expected = manifest.get("files", {})
    for name, sha in sorted(expected.items()):
        path = folder / name
        if not path.is_file():
            raise HubError(f"{folder}: {name} is listed in manifest.json but missing. "
                           "Rebuild the folder before pushing.")
        if sha256_file(path) != sha:
            raise HubError(f"{folder}: {name} changed after the build (its sha256 differs from "
                           "manifest.json). Rebuild the folder before pushing.")
    extra = [f for f in files if f.startswith(data_dirs(manifest)) and f.endswith(".parquet")
             and f not in expected]
    if extra:
        raise HubError(f"{folder}: data files not listed in manifest.json: {extra}. They would "
                       "be published as part of a split; rebuild the folder.")
    return files


def retry_command(folder: Path, repo_id: str, revision: str | None, private: bool,
                  commit_message: str | None) -> str:
    parts = ["python", "-m", "pipelines.push_to_hub", str(folder), repo_id]
    if revision:
        parts += ["--revision", revision]
    if private:
        parts.append("--private")
    if commit_message:
        parts += ["--commit-message", commit_message]
    return " ".join(shlex.quote(p) for p in parts)


def _validate_target(repo_id: str, revision: str | None) -> str:
    if not isinstance(repo_id, str) or not is_repo_id(repo_id):
        raise HubError(f"push_to_hub={repo_id!r}: expected a Hub dataset id ORG/NAME, e.g. "
                       "my-org/ultrachat_200k (letters, digits, '-', '_', '.').")
    branch = revision or "main"
    if _COMMIT.match(branch) or branch.startswith(("refs/", "/")) or ".." in branch:
        raise HubError(f"push_revision={branch!r}: expected a branch name (e.g. main or "
                       "v1-candidate); a push creates a new commit on a branch.")
    return branch


def resolve_token(token: str | None = None) -> str:
    """The token ``huggingface_hub`` would use, or a HubError that says how to provide one."""
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise HubError("no Hugging Face token found, so the push cannot start. Log in once with "
                       "`hf auth login` (the token is saved in your Hugging Face home), or set "
                       "the HF_TOKEN environment variable to a token with write access "
                       "(https://huggingface.co/settings/tokens).")
    return token


def check_push_ready(repo_id: str, revision: str | None = None, token: str | None = None) -> None:
    """Checks that need no network: the target's form, offline mode, a token. Cheap: the CLI
    runs them before a build so that a push that cannot start fails before hours of work."""
    from huggingface_hub import constants

    _validate_target(repo_id, revision)
    if constants.is_offline_mode():
        raise HubError("HF_HUB_OFFLINE is set, so nothing can be pushed. Unset it (or set "
                       "HF_HUB_OFFLINE=0) on a machine that reaches the Hub, then push.")
    resolve_token(token)


@contextlib.contextmanager
def _progress_bars(enabled: bool) -> Iterator[None]:
    from huggingface_hub.utils import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )

    was_disabled = are_progress_bars_disabled()
    if not enabled and not was_disabled:
        disable_progress_bars()
    try:
        yield
    finally:
        if not enabled and not was_disabled:
            enable_progress_bars()


# ------------------------------------------------------------------ push


def push_folder(folder: str | Path, repo_id: str, *, revision: str | None = None,
                private: bool = False, commit_message: str | None = None,
                token: str | None = None, endpoint: str | None = None,
                progress: bool = True) -> PushResult:
    """Push a built folder to the Hub dataset repo ``repo_id`` (branch ``revision``) in one
    commit; record the commit in the local ``manifest.json``; return what happened.

    Raises HubError (a ZephyrDataError) with what to do when the push cannot be done; the local
    folder is never changed unless the push succeeded.
    """
    folder = Path(folder)
    branch = _validate_target(repo_id, revision)
    check_push_ready(repo_id, branch, token)
    token = resolve_token(token)
    manifest = read_manifest(folder)
    files = check_folder(folder, manifest)
    retry = retry_command(folder, repo_id, revision, private, commit_message)
    try:
        with _progress_bars(progress):
            result = _push(folder, files, manifest, repo_id, branch, private, commit_message,
                           token, endpoint)
    except Exception as err:  # network, HTTP, client errors: all say the same two things
        detail = describe_failure(err, [token])
        said = (detail.removeprefix(f"{type(err).__name__}: ") if isinstance(err, HubError)
                else f"pushing {folder} to {repo_id} (branch {branch}) failed: {detail}")
        raise HubError(f"{said}\n  Nothing local was changed: {folder} is as built. Retry the "
                       f"upload alone with:\n    {retry}") from None
    record = {"repo_id": result.repo_id, "revision": result.revision, "commit": result.commit,
              "url": result.url,
              "note": "Recorded locally after the push. The manifest.json on the Hub leaves out "
                      "this key: a commit cannot contain its own hash. Pin this version with "
                      "revision=<commit>."}
    if manifest.get("published") != record:
        manifest["published"] = record
        write_text_atomic(folder / "manifest.json",
                          json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return result


def _preflight(endpoint: str, token: str) -> None:
    """Reach the Hub once with a short timeout and check the token, before any upload."""
    from huggingface_hub.errors import HfHubHTTPError
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    try:
        response = get_session().get(f"{endpoint}/api/whoami-v2",
                                     headers=build_hf_headers(token=token),
                                     timeout=PREFLIGHT_TIMEOUT_S)
    except Exception as err:
        raise HubError(f"cannot reach the Hub at {endpoint} ({type(err).__name__}: {err}). "
                       "Check the network (and HF_ENDPOINT, proxies), then retry.") from None
    try:
        hf_raise_for_status(response)
    except HfHubHTTPError as err:
        status = err.response.status_code if err.response is not None else None
        if status == 401:
            raise HubError(f"the Hub at {endpoint} rejected the token (401). Create a token "
                           "with write access at https://huggingface.co/settings/tokens, then "
                           "`hf auth login` or set HF_TOKEN.") from None
        raise HubError(f"the Hub at {endpoint} answered {status} to a token check "
                       f"({err}); it may be down: retry later.") from None


def _push(folder: Path, files: list[str], manifest: dict[str, Any], repo_id: str, branch: str,
          private: bool, commit_message: str | None, token: str,
          endpoint: str | None) -> PushResult:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, constants
    from huggingface_hub.hf_api import RepoFile

    endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
    api = HfApi(endpoint=endpoint, token=token)
    _preflight(endpoint, token)

    api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
    if private:
        info = api.repo_info(repo_id, repo_type=REPO_TYPE)
        if not info.private:
            raise HubError(f"{repo_id} already exists and is public, but --private was given; "
                           "nothing was uploaded. Make the repo private in its settings on the "
                           "Hub, or push without --private.")
    if branch != "main":
        api.create_branch(repo_id, branch=branch, repo_type=REPO_TYPE, exist_ok=True)
    parent = api.repo_info(repo_id, repo_type=REPO_TYPE, revision=branch).sha

    remote = {entry.path for entry in api.list_repo_tree(repo_id, repo_type=REPO_TYPE,
                                                          revision=parent, recursive=True)
              if isinstance(entry, RepoFile)}
    operations: list[Any] = []
    for name in files:
        content: Any = (publishable_manifest(manifest) if name == "manifest.json"
                        else str(folder / name))
        operations.append(CommitOperationAdd(path_in_repo=name, path_or_fileobj=content))
    stale = sorted(p for p in remote if p.startswith(data_dirs(manifest)) and p not in set(files))
    operations += [CommitOperationDelete(path_in_repo=p) for p in stale]

    rows = sum(s.get("num_examples", 0) for s in manifest.get("splits", {}).values())
    fingerprint = str(manifest.get("fingerprint", ""))[:16]
    message = commit_message or (f"Upload {manifest.get('pipeline', 'dataset')} dataset "
                                 f"({rows:,} rows over {len(manifest.get('splits', {}))} splits, "
                                 f"fingerprint {fingerprint})")
    command = " ".join(manifest.get("command", []))
    description = (f"Built with: {command}\nData fingerprint: {manifest.get('fingerprint')}\n"
                   f"zephyr-data {manifest.get('versions', {}).get('zephyr-data', '?')}")
    info = api.create_commit(repo_id, operations, commit_message=message,
                             commit_description=description, repo_type=REPO_TYPE,
                             revision=branch, parent_commit=parent)
    commit = info.oid
    changed = commit != parent
    if changed:
        log.debug("pushed %s to %s@%s (deleted %d stale shards)", folder, repo_id, branch,
                  len(stale))
    return PushResult(repo_id=repo_id, revision=branch, commit=commit, parent=parent,
                      changed=changed, files=len(files),
                      url=f"{endpoint}/datasets/{repo_id}/tree/{commit}")
