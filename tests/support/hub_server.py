"""A stand-in Hugging Face Hub for tests: a small threaded HTTP server on 127.0.0.1.

It implements just the endpoints that ``huggingface_hub`` (2.x, with ``HF_HUB_DISABLE_XET=1``)
and ``datasets`` call to create a dataset repo, upload files in a commit (regular files inline,
binary files through the Git LFS batch API and a single-part PUT), list refs, commits and trees,
and download files::

    GET  /api/whoami-v2                           POST /api/validate-yaml
    POST /api/repos/create                        GET  /api/datasets/{id}[/revision/{rev}]
    GET  /api/datasets/{id}/tree/{rev}[/{path}]   POST /api/datasets/{id}/paths-info/{rev}
    GET  /api/datasets/{id}/refs                  GET  /api/datasets/{id}/commits/{rev}
    POST /api/datasets/{id}/branch/{branch}       POST /api/datasets/{id}/preupload/{rev}
    POST /api/datasets/{id}/commit/{rev}          POST /datasets/{id}.git/info/lfs/objects/batch
    PUT  /lfs-objects/{sha256}                    POST /lfs-verify/{sha256}
    GET|HEAD /datasets/{id}/resolve/{rev}/{path}

The store is git-like and in memory: commits with a parent and a snapshot of paths to blobs,
branches pointing at commits, LFS objects by sha256. Writes need ``Authorization: Bearer TOKEN``
with the server's token; private repos are invisible (404) without it, as on the Hub. Every
request is recorded (method, route, whether the token was sent) so tests can check which network
path the client took. Use it as a context manager; it stops at exit.

``echo_headers=True`` makes it a misbehaving mirror or proxy: every request is refused (400) with
an error that quotes the request's headers, ``Authorization: Bearer TOKEN`` included, in both the
``X-Error-Message`` header and the JSON body, which ``huggingface_hub`` copies into its
exception messages.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import itertools
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

LFS_PATTERNS = ("*.parquet", "*.arrow", "*.png", "*.jpg", "*.jpeg", "*.gz", "*.zst", "*.bin")
GITATTRIBUTES = "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in LFS_PATTERNS)
REGULAR_MAX_BYTES = 10 * 1024 * 1024
TYPE_PREFIX = {"datasets": "dataset", "models": "model", "spaces": "space"}


def git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    spec = "version https://git-lfs.github.com/spec/v1"
    return f"{spec}\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass(frozen=True)
class Blob:
    sha256: str
    size: int
    lfs: bool

    @property
    def pointer(self) -> bytes:
        return lfs_pointer(self.sha256, self.size)

    @property
    def oid(self) -> str:  # what the Hub reports as the file's git oid
        return git_blob_oid(self.pointer) if self.lfs else self._regular_oid

    _regular_oid: str = ""


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


class HttpError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None,
                 extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra or {}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


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

    def commit(self, repo: Repo, parent: str | None, files: dict[str, Blob], title: str,
               message: str) -> Commit:
        listing = "".join(f"{p}\0{b.sha256}\n" for p, b in sorted(files.items()))
        sha = hashlib.sha1(f"{parent}\n{next(self._counter)}\n{time.time_ns()}\n{listing}\n"
                           f"{title}\n{message}".encode()).hexdigest()
        commit = Commit(sha, parent, dict(files), title, message, _now())
        repo.commits[sha] = commit
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


@dataclass
class RequestRecord:
    method: str
    route: str
    path: str
    had_token: bool


class HubServer:
    """``with HubServer(token="hf_...") as hub: ... hub.url ...``"""

    def __init__(self, token: str, user: str = "tester", echo_headers: bool = False) -> None:
        self.token, self.user, self.echo_headers = token, user, echo_headers
        self.store = HubStore()
        self.requests: list[RequestRecord] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="stand-in-hub",
                                        daemon=True)

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # ---- helpers for tests
    def routes(self) -> list[str]:
        return [r.route for r in self.requests]

    def repo(self, repo_id: str, repo_type: str = "dataset") -> Repo:
        return self.store.repos[(repo_type, repo_id)]

    def head(self, repo_id: str, branch: str = "main", repo_type: str = "dataset") -> str:
        return self.repo(repo_id, repo_type).branches[branch]

    def file_bytes(self, repo_id: str, path: str, rev: str = "main") -> bytes:
        repo = self.repo(repo_id)
        blob = self.store.resolve(repo, rev).files[path]
        return self.store.contents[blob.sha256]


def _make_handler(hub: HubServer) -> type[BaseHTTPRequestHandler]:
    store = hub.store

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "StandInHub/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        # ---------------------------------------------------------------- plumbing
        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _authorized(self) -> bool:
            return self.headers.get("Authorization", "") == f"Bearer {hub.token}"

        def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
                  content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if "Content-Length" not in (headers or {}):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD" and body:
                self.wfile.write(body)

        def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(payload).encode(), headers)

        def _handle(self) -> None:
            split = urlsplit(self.path)
            parts = [unquote(p) for p in split.path.split("/")[1:]]
            query = parse_qs(split.query)
            body = self._body() if self.command in ("POST", "PUT") else b""
            route = "?"
            try:
                if hub.echo_headers:
                    hub.requests.append(RequestRecord(self.command, "echo", split.path,
                                                      self._authorized()))
                    raise HttpError(400, "stand-in hub refused the request; its headers were: "
                                    + "; ".join(f"{k}: {v}" for k, v in self.headers.items()))
                route, func, args = self._route(parts)
                hub.requests.append(RequestRecord(self.command, route, split.path,
                                                  self._authorized()))
                with store.lock:
                    func(*args, query=query, body=body)
            except HttpError as err:
                headers = {"X-Error-Message": err.message}
                if err.code:
                    headers["X-Error-Code"] = err.code
                self._json(err.status, {"error": err.message, **err.extra}, headers)
            except Exception as err:  # a bug in the stand-in: make it visible to the client
                self._json(500, {"error": f"stand-in hub failed on {route}: {err!r}"})

        do_GET = do_HEAD = do_POST = do_PUT = _handle

        # ---------------------------------------------------------------- routing
        def _route(self, p: list[str]):
            m = self.command
            if p[:2] == ["api", "whoami-v2"] and m == "GET":
                return "whoami", self.whoami, ()
            if p[:2] == ["api", "validate-yaml"] and m == "POST":
                return "validate-yaml", self.validate_yaml, ()
            if p[:3] == ["api", "repos", "create"] and m == "POST":
                return "create-repo", self.create_repo, ()
            if len(p) >= 4 and p[0] == "api" and p[1] in TYPE_PREFIX:
                rtype, repo_id, rest = TYPE_PREFIX[p[1]], f"{p[2]}/{p[3]}", p[4:]
                if not rest and m == "GET":
                    return "repo-info", self.repo_info, (rtype, repo_id, "main")
                if len(rest) == 2 and rest[0] == "revision" and m == "GET":
                    return "repo-info", self.repo_info, (rtype, repo_id, rest[1])
                if len(rest) >= 2 and rest[0] == "tree" and m == "GET":
                    return "tree", self.tree, (rtype, repo_id, rest[1], "/".join(rest[2:]))
                if len(rest) == 2 and rest[0] == "paths-info" and m == "POST":
                    return "paths-info", self.paths_info, (rtype, repo_id, rest[1])
                if rest == ["refs"] and m == "GET":
                    return "refs", self.refs, (rtype, repo_id)
                if len(rest) == 2 and rest[0] == "commits" and m == "GET":
                    return "commits", self.commits, (rtype, repo_id, rest[1])
                if len(rest) == 2 and rest[0] == "branch" and m == "POST":
                    return "create-branch", self.create_branch, (rtype, repo_id, rest[1])
                if len(rest) == 2 and rest[0] == "preupload" and m == "POST":
                    return "preupload", self.preupload, (rtype, repo_id, rest[1])
                if len(rest) == 2 and rest[0] == "commit" and m == "POST":
                    return "commit", self.commit, (rtype, repo_id, rest[1])
            if p and p[0] == "lfs-objects" and len(p) == 2 and m == "PUT":
                return "lfs-upload", self.lfs_upload, (p[1],)
            if p and p[0] == "lfs-verify" and len(p) == 2 and m == "POST":
                return "lfs-verify", self.lfs_verify, (p[1],)
            rtype, q = ("model", p)
            if p and p[0] in TYPE_PREFIX:
                rtype, q = TYPE_PREFIX[p[0]], p[1:]
            if len(q) == 6 and q[1].endswith(".git") and q[2:] == ["info", "lfs", "objects",
                                                                    "batch"] and m == "POST":
                return "lfs-batch", self.lfs_batch, (rtype, f"{q[0]}/{q[1][:-4]}")
            if len(q) >= 5 and q[2] == "resolve" and m in ("GET", "HEAD"):
                return "resolve", self.resolve, (rtype, f"{q[0]}/{q[1]}", q[3], "/".join(q[4:]))
            raise HttpError(404, f"stand-in hub: no route for {m} /{'/'.join(p)}")

        # ---------------------------------------------------------------- access
        def _require_token(self) -> None:
            if not self._authorized():
                raise HttpError(401, "Invalid credentials in Authorization header")

        def _repo(self, rtype: str, repo_id: str, write: bool = False) -> Repo:
            if write:
                self._require_token()
            repo = store.repos.get((rtype, repo_id))
            if repo is None or (repo.private and not self._authorized()):
                raise HttpError(404, "Repository not found", "RepoNotFound")
            return repo

        # ---------------------------------------------------------------- endpoints
        def whoami(self, query, body) -> None:
            self._require_token()
            self._json(200, {"type": "user", "id": "0", "name": hub.user, "fullname": "Test User",
                             "orgs": [], "auth": {"type": "access_token", "accessToken": {
                                 "displayName": "test", "role": "write"}}})

        def validate_yaml(self, query, body) -> None:
            content = json.loads(body)["content"]
            if content.startswith("---"):
                header = content.split("---", 2)[1]
                try:
                    data = yaml.safe_load(header)
                except yaml.YAMLError as err:
                    self._json(400, {"errors": [{"message": str(err)}]})
                    return
                if not isinstance(data, dict):
                    self._json(400, {"errors": [{"message": "metadata must be a mapping"}]})
                    return
            self._json(200, {"errors": [], "warnings": []})

        def create_repo(self, query, body) -> None:
            self._require_token()
            payload = json.loads(body)
            rtype = payload.get("type") or "model"
            org = payload.get("organization") or hub.user
            repo_id = f"{org}/{payload['name']}"
            prefix = "" if rtype == "model" else f"{rtype}s/"
            url = f"{hub.url}/{prefix}{repo_id}"
            if (rtype, repo_id) in store.repos:  # the Hub names the repo in its 409 too
                raise HttpError(409, f"You already created this {rtype} repo", extra={"url": url})
            repo = Repo(rtype, repo_id, payload.get("visibility") == "private", _now())
            blob = store.put(GITATTRIBUTES.encode(), lfs=False)
            first = store.commit(repo, None, {".gitattributes": blob}, "initial commit", "")
            repo.branches["main"] = first.sha
            store.repos[(rtype, repo_id)] = repo
            self._json(200, {"url": url, "name": repo_id})

        def _file_entry(self, repo: Repo, commit: Commit, path: str, expand: bool) -> dict:
            blob = commit.files[path]
            entry: dict[str, Any] = {"type": "file", "oid": blob.oid, "size": blob.size,
                                     "path": path}
            if blob.lfs:
                entry["lfs"] = {"oid": blob.sha256, "size": blob.size,
                                "pointerSize": len(blob.pointer)}
            if expand:
                last = commit
                for c in store.history(repo, commit):
                    if c.files.get(path) != blob:
                        break
                    last = c
                entry["lastCommit"] = {"id": last.sha, "title": last.title, "date": last.date}
            return entry

        def _dir_entry(self, commit: Commit, path: str) -> dict:
            inside = sorted(p for p in commit.files if p.startswith(path + "/"))
            oid = hashlib.sha1("".join(f"{p}{commit.files[p].sha256}" for p in inside)
                               .encode()).hexdigest()
            return {"type": "directory", "oid": oid, "size": 0, "path": path}

        def repo_info(self, rtype, repo_id, rev, query, body) -> None:
            repo = self._repo(rtype, repo_id)
            commit = store.resolve(repo, rev)
            blobs = query.get("blobs", ["false"])[0].lower() in ("1", "true")
            siblings = []
            for path, blob in sorted(commit.files.items()):
                sib: dict[str, Any] = {"rfilename": path}
                if blobs:
                    sib.update(size=blob.size, blobId=blob.oid)
                    if blob.lfs:
                        sib["lfs"] = {"size": blob.size, "sha256": blob.sha256,
                                      "pointerSize": len(blob.pointer)}
                siblings.append(sib)
            card = None
            if "README.md" in commit.files:
                text = store.contents[commit.files["README.md"].sha256].decode()
                if text.startswith("---"):
                    card = yaml.safe_load(text.split("---", 2)[1])
            self._json(200, {"_id": repo_id, "id": repo_id, "author": repo_id.split("/")[0],
                             "sha": commit.sha, "private": repo.private, "gated": False,
                             "disabled": False, "downloads": 0, "likes": 0, "tags": [],
                             "createdAt": repo.created, "lastModified": commit.date,
                             "cardData": card, "siblings": siblings})

        def tree(self, rtype, repo_id, rev, path, query, body) -> None:
            repo = self._repo(rtype, repo_id)
            commit = store.resolve(repo, rev)
            recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
            expand = query.get("expand", ["false"])[0].lower() in ("1", "true")
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
                    entries.setdefault(folder, self._dir_entry(commit, folder))
                if len(rest) == 1 or recursive:
                    entries[file] = self._file_entry(repo, commit, file, expand)
            self._json(200, [entries[k] for k in sorted(entries)])

        def paths_info(self, rtype, repo_id, rev, query, body) -> None:
            repo = self._repo(rtype, repo_id)
            commit = store.resolve(repo, rev)
            ctype = self.headers.get("Content-Type", "")
            if "json" in ctype:
                form = json.loads(body)
                paths, expand = form.get("paths", []), bool(form.get("expand"))
            else:
                form = parse_qs(body.decode())
                paths = form.get("paths", [])
                expand = form.get("expand", ["False"])[0].lower() in ("1", "true")
            out = []
            for path in paths:
                path = path.strip("/")
                if path in commit.files:
                    out.append(self._file_entry(repo, commit, path, expand))
                elif any(p.startswith(path + "/") for p in commit.files):
                    out.append(self._dir_entry(commit, path))
            self._json(200, out)

        def refs(self, rtype, repo_id, query, body) -> None:
            repo = self._repo(rtype, repo_id)
            branches = [{"name": n, "ref": f"refs/heads/{n}", "targetCommit": sha}
                        for n, sha in sorted(repo.branches.items())]
            self._json(200, {"branches": branches, "converts": [], "tags": [],
                             "pullRequests": []})

        def commits(self, rtype, repo_id, rev, query, body) -> None:
            repo = self._repo(rtype, repo_id)
            commit = store.resolve(repo, rev)
            self._json(200, [{"id": c.sha, "title": c.title, "message": c.message,
                              "date": c.date, "authors": [{"user": hub.user}]}
                             for c in store.history(repo, commit)])

        def create_branch(self, rtype, repo_id, branch, query, body) -> None:
            repo = self._repo(rtype, repo_id, write=True)
            if branch in repo.branches:
                raise HttpError(409, f"Reference refs/heads/{branch} already exists")
            start = (json.loads(body) if body else {}).get("startingPoint") or "main"
            repo.branches[branch] = store.resolve(repo, start).sha
            self._json(200, {})

        def preupload(self, rtype, repo_id, rev, query, body) -> None:
            repo = self._repo(rtype, repo_id, write=True)
            commit = store.resolve(repo, rev)
            files = []
            for f in json.loads(body)["files"]:
                sample = base64.b64decode(f["sample"])
                lfs = (any(fnmatch.fnmatch(f["path"], p) for p in LFS_PATTERNS)
                       or b"\0" in sample or f["size"] > REGULAR_MAX_BYTES)
                remote = commit.files.get(f["path"])
                oid = None
                if remote is not None:
                    oid = remote.sha256 if remote.lfs else remote.oid
                files.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular",
                              "shouldIgnore": False, "oid": oid})
            self._json(200, {"files": files, "commitOid": commit.sha})

        def lfs_batch(self, rtype, repo_id, query, body) -> None:
            self._repo(rtype, repo_id, write=True)
            payload = json.loads(body)
            objects = []
            for obj in payload["objects"]:
                entry: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"]}
                if obj["oid"] not in store.contents:
                    entry["actions"] = {
                        "upload": {"href": f"{hub.url}/lfs-objects/{obj['oid']}"},
                        "verify": {"href": f"{hub.url}/lfs-verify/{obj['oid']}"}}
                objects.append(entry)
            self._send(200, json.dumps({"transfer": "basic", "objects": objects}).encode(),
                       content_type="application/vnd.git-lfs+json")

        def lfs_upload(self, oid, query, body) -> None:
            if hashlib.sha256(body).hexdigest() != oid:
                raise HttpError(400, "sha256 of the uploaded body does not match the oid")
            store.contents[oid] = body
            self._send(200)

        def lfs_verify(self, oid, query, body) -> None:
            self._require_token()
            payload = json.loads(body)
            data = store.contents.get(oid)
            if data is None or len(data) != payload["size"]:
                raise HttpError(404, f"LFS object {oid} not found or wrong size")
            self._json(200, {})

        def commit(self, rtype, repo_id, rev, query, body) -> None:
            repo = self._repo(rtype, repo_id, write=True)
            if rev not in repo.branches:
                raise HttpError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
            head = store.resolve(repo, rev)
            files = dict(head.files)
            header: dict[str, Any] = {}
            for line in body.splitlines():
                if not line.strip():
                    continue
                item = json.loads(line)
                key, value = item["key"], item["value"]
                if key == "header":
                    header = value
                elif key == "file":
                    data = base64.b64decode(value["content"])
                    files[value["path"]] = store.put(data, lfs=False)
                elif key == "lfsFile":
                    data = store.contents.get(value["oid"])
                    if data is None:
                        raise HttpError(422, f"LFS object {value['oid']} was never uploaded")
                    files[value["path"]] = store.put(data, lfs=True)
                elif key == "deletedFile":
                    if value["path"] not in files:
                        raise HttpError(404, "A file with this name doesn't exist",
                                        "EntryNotFound")
                    del files[value["path"]]
                elif key == "deletedFolder":
                    prefix = value["path"].rstrip("/") + "/"
                    for path in [p for p in files if p.startswith(prefix)]:
                        del files[path]
                else:
                    raise HttpError(400, f"unknown commit operation {key!r}")
            parent = header.get("parentCommit")
            if parent and not head.sha.startswith(parent):
                raise HttpError(412, f"parentCommit {parent} is not the head of {rev} "
                                f"({head.sha}): someone pushed in between")
            commit = store.commit(repo, head.sha, files, header.get("summary", ""),
                                  header.get("description", ""))
            repo.branches[rev] = commit.sha
            prefix = "" if rtype == "model" else f"{rtype}s/"
            self._json(200, {"success": True, "commitOid": commit.sha,
                             "commitUrl": f"{hub.url}/{prefix}{repo_id}/commit/{commit.sha}",
                             "hookOutput": "", "pullRequestUrl": None})

        def resolve(self, rtype, repo_id, rev, path, query, body) -> None:
            repo = self._repo(rtype, repo_id)
            commit = store.resolve(repo, rev)
            blob = commit.files.get(path)
            if blob is None:
                raise HttpError(404, f"Entry not found: {path}", "EntryNotFound")
            data = store.contents[blob.sha256]
            etag = f'"{blob.sha256 if blob.lfs else blob.oid}"'
            headers = {"X-Repo-Commit": commit.sha, "ETag": etag, "Accept-Ranges": "bytes"}
            if blob.lfs:
                headers.update({"X-Linked-Etag": etag, "X-Linked-Size": str(blob.size)})
            status = 200
            ranged = self.headers.get("Range")
            if ranged and ranged.startswith("bytes="):
                start_s, _, end_s = ranged[6:].split(",")[0].partition("-")
                if start_s:
                    start = int(start_s)
                    end = min(int(end_s), len(data) - 1) if end_s else len(data) - 1
                else:  # suffix range: the last N bytes
                    start, end = max(0, len(data) - int(end_s)), len(data) - 1
                if start >= len(data) and len(data) > 0:
                    self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                    return
                headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
                data, status = data[start:end + 1], 206
            self._send(status, data, headers, content_type="application/octet-stream")

    return Handler


TOKEN = "hf_StandInHubSecretToken0123456789abcdef"


def client_env(hub: HubServer, home: Path, token: str | None = TOKEN) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_TOKEN",
                        "HUGGING_FACE_HUB_TOKEN", "TRANSFORMERS_OFFLINE")}
    env.update(HF_ENDPOINT=hub.url, HF_HUB_DISABLE_XET="1", HF_HOME=str(home),
               HF_HUB_DISABLE_TELEMETRY="1", NO_PROXY="127.0.0.1,localhost",
               no_proxy="127.0.0.1,localhost")
    if token is not None:
        env["HF_TOKEN"] = token
    return env
