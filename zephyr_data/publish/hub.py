"""Publish a finished dataset folder to the Hugging Face Hub, in one commit.

    python -m pipelines.push_to_hub FOLDER ORG/NAME [--revision BRANCH] [--private]

pushes a folder that a pipeline already built (the pipelines' ``--push-to-hub`` does the same at
the end of a build). The repo and the branch are created if needed, then one
``HfApi.upload_folder`` call sends every file of the folder (parquet shards, ``README.md``,
``manifest.json``, report images) and, in the same commit, deletes the data shards on the Hub
that the folder no longer has (``delete_patterns``), so the card's ``data/{split}-*`` patterns
never pick up stale shards. ``parent_commit`` makes the commit fail, rather than overwrite, if
the branch moved since the push started. Files the Hub already has with the same content are
left out of the commit (Xet storage deduplicates their bytes), and when nothing changed no
commit is made. (``huggingface_hub`` commits a folder of
more than 250 files in several commits, the later ones titled "(part N)"; the push then says how
many. A built folder holds far fewer: six splits of 250,000-row shards and a few images.)

The token comes from where ``huggingface_hub`` looks for it (``HF_TOKEN``, then the login saved
by ``hf auth login``); it is never printed, logged or written: every Hub call runs inside
``io.hubcalls.hub_call``, which scrubs it from the error it reports.

Pinning. A commit cannot contain its own hash, so nothing on the Hub names the commit it is part
of. After a push, the commit (repo, branch, commit, URL, the build's fingerprint) is recorded in
the folder's ``published.json``, written atomically, which the push never uploads; the
``manifest.json`` on the Hub is the local one, byte for byte. Load a pinned version with
``load_dataset(repo_id, revision=COMMIT)`` or ``zephyr_data.load_dataset_split`` (which accepts
that commit for the local folder too).

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
from ..io.hubcalls import hub_call
from ..io.integrity import PUBLISHED, published_records
from ..io.writer import write_text_atomic

log = logging.getLogger(__name__)

REPO_TYPE = "dataset"
# Never uploaded: hidden paths (a stray .DS_Store, an editor's swap file) and the local record.
IGNORE_PATTERNS = [".*", "*/.*", PUBLISHED]
# Deleted from the Hub in the push's commit unless the folder has them ("*" spans folders).
DELETE_PATTERNS = ["data/*"]
PREFLIGHT_TIMEOUT_S = 15.0
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_PART = re.compile(r" \(part (\d+)\)$")


class HubError(ZephyrDataError):
    """A push that could not be done; the message says why and what to do."""


@dataclass
class PushResult:
    repo_id: str
    revision: str
    commit: str
    parent: str | None
    commits: int  # made by this push: 0 when the Hub already had every file
    url: str
    files: int

    @property
    def changed(self) -> bool:
        return self.commits > 0

    def describe(self) -> str:
        pin = f'load_dataset("{self.repo_id}", revision="{self.commit}")'
        if not self.changed:
            return (f"{self.repo_id} (branch {self.revision}) is already up to date at commit "
                    f"{self.commit}: no new commit was made\n  pin this version with: {pin}")
        parts = (f" (the last of {self.commits} commits: huggingface_hub commits more than 250 "
                 "files in parts)" if self.commits > 1 else "")
        return (f"pushed {self.files} files to {self.repo_id} (branch {self.revision}) as "
                f"commit {self.commit}{parts}\n  {self.url}\n  pin this version with: {pin}")


# ------------------------------------------------------------------ local side


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
    """The files ``upload_folder`` sends, as POSIX paths relative to ``folder``: its own
    listing and filter, with our ``IGNORE_PATTERNS`` and the library's defaults."""
    from huggingface_hub.utils import DEFAULT_IGNORE_PATTERNS, filter_repo_objects

    every = sorted(p.relative_to(folder).as_posix() for p in folder.glob("**/*") if p.is_file())
    return list(filter_repo_objects(every,
                                    ignore_patterns=IGNORE_PATTERNS + DEFAULT_IGNORE_PATTERNS))


def check_folder(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """Check the folder is complete and unmodified since the build; return its files."""
    if "published" in manifest:  # what zephyr-data wrote before published.json
        raise HubError(f"{folder}/manifest.json holds a 'published' record, which an earlier "
                       "zephyr-data wrote there after a push; pushes are now recorded in "
                       f"{PUBLISHED} and manifest.json goes to the Hub as it is. Rebuild the "
                       "folder, or delete that key from manifest.json (no other field depends "
                       "on it), then push again.")
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
    extra = [f for f in files if f.startswith("data/") and f not in expected]
    if extra:
        raise HubError(f"{folder}: files in data/ not listed in manifest.json: {extra}. They "
                       "would be published beside the splits; rebuild the folder.")
    return files


def record_push(folder: Path, result: PushResult, fingerprint: str | None) -> None:
    """Record the push in ``published.json`` (one entry per repo and branch, the newest last)."""
    entry = {"repo_id": result.repo_id, "revision": result.revision, "commit": result.commit,
             "url": result.url, "fingerprint": fingerprint}
    pushes = [p for p in published_records(folder)
              if (p.get("repo_id"), p.get("revision")) != (result.repo_id, result.revision)]
    record = {"note": "Written by zephyr_data after each push of this folder, and never "
                      "uploaded: a commit cannot contain its own hash. Pin a push with "
                      "revision=<commit>.",
              "pushes": [*pushes, entry]}
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    path = folder / PUBLISHED
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        write_text_atomic(path, text)


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
    commit; record the commit in the folder's ``published.json``; return what happened.

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

    def failed(detail: str) -> HubError:
        said = (detail.removeprefix(f"{HubError.__name__}: ")
                if detail.startswith(f"{HubError.__name__}: ")
                else f"pushing {folder} to {repo_id} (branch {branch}) failed: {detail}")
        return HubError(f"{said}\n  Nothing local was changed: {folder} is as built. Retry the "
                        f"upload alone with:\n    {retry}")

    with hub_call(failed, [token]), _progress_bars(progress):
        result = _push(folder, files, manifest, repo_id, branch, private, commit_message,
                       token, endpoint)
    record_push(folder, result, manifest.get("fingerprint"))
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


def _messages(manifest: dict[str, Any], commit_message: str | None) -> tuple[str, str]:
    """The commit's title and description."""
    splits = manifest.get("splits", {})
    rows = sum(s.get("num_examples", 0) for s in splits.values())
    fingerprint = manifest.get("fingerprint") or ""
    title = commit_message or (f"Upload {manifest.get('pipeline', 'dataset')} dataset "
                               f"({rows:,} rows over {len(splits)} splits, fingerprint "
                               f"{fingerprint[:16]})")
    command = " ".join(manifest.get("command", []))
    version = manifest.get("versions", {}).get("zephyr-data", "?")
    return title, (f"Built with: {command}\nData fingerprint: {fingerprint}\n"
                   f"zephyr-data {version}")


def _push(folder: Path, files: list[str], manifest: dict[str, Any], repo_id: str, branch: str,
          private: bool, commit_message: str | None, token: str,
          endpoint: str | None) -> PushResult:
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError

    endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
    api = HfApi(endpoint=endpoint, token=token)
    _preflight(endpoint, token)

    api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
    if private and not api.repo_info(repo_id, repo_type=REPO_TYPE).private:
        raise HubError(f"{repo_id} already exists and is public, but --private was given; "
                       "nothing was uploaded. Make the repo private in its settings on the "
                       "Hub, or push without --private.")
    if branch != "main":
        api.create_branch(repo_id, branch=branch, repo_type=REPO_TYPE, exist_ok=True)
    parent = api.repo_info(repo_id, repo_type=REPO_TYPE, revision=branch).sha
    title, description = _messages(manifest, commit_message)
    try:
        info = api.upload_folder(repo_id=repo_id, repo_type=REPO_TYPE, folder_path=folder,
                                 revision=branch, parent_commit=parent,
                                 commit_message=title, commit_description=description,
                                 ignore_patterns=list(IGNORE_PATTERNS),
                                 delete_patterns=list(DELETE_PATTERNS))
    except HfHubHTTPError as err:
        if err.response is None or err.response.status_code != 412:
            raise
        raise HubError(f"branch {branch} of {repo_id} moved while this push was under way "
                       f"(another push?): it is no longer at {parent}, so nothing was "
                       "committed. Check what is on the Hub, then push again (the new push "
                       "starts from the new head).") from None
    commits = 0
    if info.oid != parent:
        part = _PART.search(info.commit_message or "")
        commits = int(part.group(1)) if part else 1
        log.debug("pushed %s to %s@%s in %d commit(s)", folder, repo_id, branch, commits)
    return PushResult(repo_id=repo_id, revision=branch, commit=info.oid, parent=parent,
                      commits=commits, files=len(files),
                      url=f"{endpoint}/datasets/{repo_id}/tree/{info.oid}")
