"""What the stand-in Hub (``hub_server``) stores: git-like and in memory.

Commits with a parent and a snapshot of paths to blobs, branches pointing at commits, and the
bytes of every blob by sha256 (regular and Git LFS files alike). The HTTP side lives in
``hub_handler``; everything here runs under the store's lock.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

LFS_PATTERNS = ("*.parquet", "*.arrow", "*.png", "*.jpg", "*.jpeg", "*.gz", "*.zst", "*.bin")
GITATTRIBUTES = "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in LFS_PATTERNS)
REGULAR_MAX_BYTES = 10 * 1024 * 1024


def git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    spec = "version https://git-lfs.github.com/spec/v1"
    return f"{spec}\noid sha256:{sha256}\nsize {size}\n".encode()


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


@dataclass(frozen=True)
class Blob:
    sha256: str
    size: int
    lfs: bool
    _regular_oid: str = ""

    @property
    def pointer(self) -> bytes:
        return lfs_pointer(self.sha256, self.size)

    @property
    def oid(self) -> str:  # what the Hub reports as the file's git oid
        return git_blob_oid(self.pointer) if self.lfs else self._regular_oid

    @property
    def upload_oid(self) -> str:  # what preupload reports, to compare with the client's file
        return self.sha256 if self.lfs else self.oid


@dataclass
class Commit:
    sha: str
    parent: str | None
    files: dict[str, Blob]
    title: str
    message: str
    date: str


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    created: str
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)


@dataclass
class RequestRecord:
    method: str
    route: str
    path: str
    had_token: bool


class HttpError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None,
                 extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra or {}


class HubStore:
    """Repos, commits, branches and blob contents, guarded by one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.repos: dict[tuple[str, str], Repo] = {}
        self.contents: dict[str, bytes] = {}  # sha256 -> bytes, regular and LFS alike
        self._counter = itertools.count()

    def put(self, data: bytes, lfs: bool) -> Blob:
        sha = hashlib.sha256(data).hexdigest()
        self.contents[sha] = data
        return Blob(sha, len(data), lfs, "" if lfs else git_blob_oid(data))

    def create_repo(self, repo_type: str, repo_id: str, private: bool) -> Repo:
        repo = Repo(repo_type, repo_id, private, now())
        first = self.commit(repo, None, {".gitattributes": self.put(GITATTRIBUTES.encode(),
                                                                     lfs=False)},
                            "initial commit", "")
        repo.branches["main"] = first.sha
        self.repos[(repo_type, repo_id)] = repo
        return repo

    def commit(self, repo: Repo, parent: str | None, files: dict[str, Blob], title: str,
               message: str) -> Commit:
        listing = "".join(f"{p}\0{b.sha256}\n" for p, b in sorted(files.items()))
        sha = hashlib.sha1(f"{parent}\n{next(self._counter)}\n{time.time_ns()}\n{listing}\n"
                           f"{title}\n{message}".encode()).hexdigest()
        commit = Commit(sha, parent, dict(files), title, message, now())
        repo.commits[sha] = commit
        return commit

    def apply_commit(self, repo: Repo, branch: str, payload: bytes) -> Commit:
        """The Hub's commit endpoint: NDJSON lines of a header and file operations."""
        if branch not in repo.branches:
            raise HttpError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
        head = self.resolve(repo, branch)
        files = dict(head.files)
        header: dict[str, Any] = {}
        for line in payload.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                header = value
            elif key == "file":
                files[value["path"]] = self.put(base64.b64decode(value["content"]), lfs=False)
            elif key == "lfsFile":
                data = self.contents.get(value["oid"])
                if data is None:
                    raise HttpError(422, f"LFS object {value['oid']} was never uploaded")
                files[value["path"]] = self.put(data, lfs=True)
            elif key == "deletedFile":
                if value["path"] not in files:
                    raise HttpError(404, "A file with this name doesn't exist", "EntryNotFound")
                del files[value["path"]]
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                for path in [p for p in files if p.startswith(prefix)]:
                    del files[path]
            else:
                raise HttpError(400, f"unknown commit operation {key!r}")
        parent = header.get("parentCommit")
        if parent and not head.sha.startswith(parent):
            raise HttpError(412, f"parentCommit {parent} is not the head of {branch} "
                            f"({head.sha}): someone pushed in between")
        commit = self.commit(repo, head.sha, files, header.get("summary", ""),
                             header.get("description", ""))
        repo.branches[branch] = commit.sha
        return commit

    def resolve(self, repo: Repo, rev: str) -> Commit:
        if rev in repo.branches:
            return repo.commits[repo.branches[rev]]
        if rev in repo.commits:
            return repo.commits[rev]
        matches = [c for sha, c in repo.commits.items() if len(rev) >= 7 and sha.startswith(rev)]
        if len(matches) == 1:
            return matches[0]
        raise HttpError(404, f"Invalid rev id: {rev}", "RevisionNotFound")

    def history(self, repo: Repo, commit: Commit) -> list[Commit]:
        out = []
        current: Commit | None = commit
        while current is not None:
            out.append(current)
            current = repo.commits.get(current.parent) if current.parent else None
        return out

    def file_entry(self, repo: Repo, commit: Commit, path: str, expand: bool) -> dict:
        blob = commit.files[path]
        entry: dict[str, Any] = {"type": "file", "oid": blob.oid, "size": blob.size,
                                 "path": path}
        if blob.lfs:
            entry["lfs"] = {"oid": blob.sha256, "size": blob.size,
                            "pointerSize": len(blob.pointer)}
        if expand:
            last = commit
            for c in self.history(repo, commit):
                if c.files.get(path) != blob:
                    break
                last = c
            entry["lastCommit"] = {"id": last.sha, "title": last.title, "date": last.date}
        return entry

    @staticmethod
    def dir_entry(commit: Commit, path: str) -> dict:
        inside = sorted(p for p in commit.files if p.startswith(path + "/"))
        oid = hashlib.sha1("".join(f"{p}{commit.files[p].sha256}" for p in inside)
                           .encode()).hexdigest()
        return {"type": "directory", "oid": oid, "size": 0, "path": path}

    def tree(self, repo: Repo, commit: Commit, path: str, recursive: bool,
             expand: bool) -> list[dict]:
        prefix = f"{path.strip('/')}/" if path.strip("/") else ""
        if prefix and not any(p.startswith(prefix) for p in commit.files):
            raise HttpError(404, f"Entry not found: {path}", "EntryNotFound")
        entries: dict[str, dict] = {}
        for file in sorted(commit.files):
            if not file.startswith(prefix):
                continue
            rest = file[len(prefix):].split("/")
            for depth in range(1, len(rest)):
                if depth > 1 and not recursive:
                    break
                folder = prefix + "/".join(rest[:depth])
                entries.setdefault(folder, self.dir_entry(commit, folder))
            if len(rest) == 1 or recursive:
                entries[file] = self.file_entry(repo, commit, file, expand)
        return [entries[k] for k in sorted(entries)]
