"""The stand-in Hub's HTTP side: routing, access rules and one method per endpoint (see
``hub_server`` for the list and for what the stand-in answers differently from the Hub)."""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from tests.support.hub_store import (
    LFS_PATTERNS,
    REGULAR_MAX_BYTES,
    HttpError,
    Repo,
    RequestRecord,
)

if TYPE_CHECKING:
    from tests.support.hub_server import HubServer

TYPE_PREFIX = {"datasets": "dataset", "models": "model", "spaces": "space"}


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return query.get(name, ["false"])[0].lower() in ("1", "true")


class HubHandler(BaseHTTPRequestHandler):
    """Subclassed per server with ``hub`` set (``HubServer`` does it)."""

    hub: HubServer
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
        return self.headers.get("Authorization", "") == f"Bearer {self.hub.token}"

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
        hub = self.hub
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
            try:
                route, func, args = self._route(parts)
            finally:  # recorded even without a route: a test sees what the client asked for
                hub.requests.append(RequestRecord(self.command, route, split.path,
                                                  self._authorized()))
            with hub.store.lock:
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
        repo = self.hub.store.repos.get((rtype, repo_id))
        if repo is None or (repo.private and not self._authorized()):
            raise HttpError(404, "Repository not found", "RepoNotFound")
        return repo

    def _url(self, rtype: str, repo_id: str) -> str:
        return f"{self.hub.url}/{'' if rtype == 'model' else rtype + 's/'}{repo_id}"

    # ---------------------------------------------------------------- reading
    def whoami(self, query, body) -> None:
        self._require_token()
        self._json(200, {"type": "user", "id": "0", "name": self.hub.user,
                         "fullname": "Test User", "orgs": [],
                         "auth": {"type": "access_token",
                                  "accessToken": {"displayName": "test", "role": "write"}}})

    def validate_yaml(self, query, body) -> None:
        content = json.loads(body)["content"]
        if content.startswith("---"):
            try:
                data = yaml.safe_load(content.split("---", 2)[1])
            except yaml.YAMLError as err:
                self._json(400, {"errors": [{"message": str(err)}]})
                return
            if not isinstance(data, dict):
                self._json(400, {"errors": [{"message": "metadata must be a mapping"}]})
                return
        self._json(200, {"errors": [], "warnings": []})

    def repo_info(self, rtype, repo_id, rev, query, body) -> None:
        store = self.hub.store
        repo = self._repo(rtype, repo_id)
        commit = store.resolve(repo, rev)
        siblings = []
        for path, blob in sorted(commit.files.items()):
            sib: dict[str, Any] = {"rfilename": path}
            if _flag(query, "blobs"):
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
        store = self.hub.store
        repo = self._repo(rtype, repo_id)
        self._json(200, store.tree(repo, store.resolve(repo, rev), path,
                                   _flag(query, "recursive"), _flag(query, "expand")))

    def paths_info(self, rtype, repo_id, rev, query, body) -> None:
        store = self.hub.store
        repo = self._repo(rtype, repo_id)
        commit = store.resolve(repo, rev)
        if "json" in self.headers.get("Content-Type", ""):
            form = json.loads(body)
            paths, expand = form.get("paths", []), bool(form.get("expand"))
        else:
            form = parse_qs(body.decode())
            paths = form.get("paths", [])
            expand = form.get("expand", ["False"])[0].lower() in ("1", "true")
        out = []
        for path in (p.strip("/") for p in paths):
            if path in commit.files:
                out.append(store.file_entry(repo, commit, path, expand))
            elif any(p.startswith(path + "/") for p in commit.files):
                out.append(store.dir_entry(commit, path))
        self._json(200, out)

    def refs(self, rtype, repo_id, query, body) -> None:
        repo = self._repo(rtype, repo_id)
        branches = [{"name": n, "ref": f"refs/heads/{n}", "targetCommit": sha}
                    for n, sha in sorted(repo.branches.items())]
        self._json(200, {"branches": branches, "converts": [], "tags": [], "pullRequests": []})

    def commits(self, rtype, repo_id, rev, query, body) -> None:
        store = self.hub.store
        repo = self._repo(rtype, repo_id)
        self._json(200, [{"id": c.sha, "title": c.title, "message": c.message, "date": c.date,
                          "authors": [{"user": self.hub.user}]}
                         for c in store.history(repo, store.resolve(repo, rev))])

    def resolve(self, rtype, repo_id, rev, path, query, body) -> None:
        store = self.hub.store
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

    # ---------------------------------------------------------------- writing
    def create_repo(self, query, body) -> None:
        self._require_token()
        payload = json.loads(body)
        rtype = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or self.hub.user}/{payload['name']}"
        if (rtype, repo_id) in self.hub.store.repos:  # the Hub names the repo in its 409 too
            raise HttpError(409, f"You already created this {rtype} repo",
                            extra={"url": self._url(rtype, repo_id)})
        self.hub.store.create_repo(rtype, repo_id, payload.get("visibility") == "private")
        self._json(200, {"url": self._url(rtype, repo_id), "name": repo_id})

    def create_branch(self, rtype, repo_id, branch, query, body) -> None:
        repo = self._repo(rtype, repo_id, write=True)
        if branch in repo.branches:
            raise HttpError(409, f"Reference refs/heads/{branch} already exists")
        start = (json.loads(body) if body else {}).get("startingPoint") or "main"
        repo.branches[branch] = self.hub.store.resolve(repo, start).sha
        self._json(200, {})

    def preupload(self, rtype, repo_id, rev, query, body) -> None:
        """Each file's upload mode. The Hub says "lfs" for binary files, files over 10 MB and
        those its .gitattributes marks; with ``lfs=False`` the stand-in says "regular" for
        every file (see ``hub_server``)."""
        repo = self._repo(rtype, repo_id, write=True)
        commit = self.hub.store.resolve(repo, rev)
        files = []
        for f in json.loads(body)["files"]:
            lfs = self.hub.lfs and (any(fnmatch.fnmatch(f["path"], p) for p in LFS_PATTERNS)
                                    or b"\0" in base64.b64decode(f["sample"])
                                    or f["size"] > REGULAR_MAX_BYTES)
            remote = commit.files.get(f["path"])
            files.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular",
                          "shouldIgnore": False,
                          "oid": remote.upload_oid if remote is not None else None})
        self._json(200, {"files": files, "commitOid": commit.sha})

    def lfs_batch(self, rtype, repo_id, query, body) -> None:
        self._repo(rtype, repo_id, write=True)
        objects = []
        for obj in json.loads(body)["objects"]:
            entry: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.hub.store.contents:
                entry["actions"] = {
                    "upload": {"href": f"{self.hub.url}/lfs-objects/{obj['oid']}"},
                    "verify": {"href": f"{self.hub.url}/lfs-verify/{obj['oid']}"}}
            objects.append(entry)
        self._send(200, json.dumps({"transfer": "basic", "objects": objects}).encode(),
                   content_type="application/vnd.git-lfs+json")

    def lfs_upload(self, oid, query, body) -> None:
        if hashlib.sha256(body).hexdigest() != oid:
            raise HttpError(400, "sha256 of the uploaded body does not match the oid")
        self.hub.store.contents[oid] = body
        self._send(200)

    def lfs_verify(self, oid, query, body) -> None:
        self._require_token()
        data = self.hub.store.contents.get(oid)
        if data is None or len(data) != json.loads(body)["size"]:
            raise HttpError(404, f"LFS object {oid} not found or wrong size")
        self._json(200, {})

    def commit(self, rtype, repo_id, rev, query, body) -> None:
        repo = self._repo(rtype, repo_id, write=True)
        commit = self.hub.store.apply_commit(repo, rev, body)
        self._json(200, {"success": True, "commitOid": commit.sha,
                         "commitUrl": f"{self._url(rtype, repo_id)}/commit/{commit.sha}",
                         "hookOutput": "", "pullRequestUrl": None})
