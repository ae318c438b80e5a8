"""A stand-in Hugging Face Hub for tests: a small threaded HTTP server on 127.0.0.1.

It implements just the endpoints that ``huggingface_hub`` (2.x) and ``datasets`` call to create a
dataset repo, upload files in a commit, list refs, commits and trees, and download files::

    GET  /api/whoami-v2                           POST /api/validate-yaml
    POST /api/repos/create                        GET  /api/datasets/{id}[/revision/{rev}]
    GET  /api/datasets/{id}/tree/{rev}[/{path}]   POST /api/datasets/{id}/paths-info/{rev}
    GET  /api/datasets/{id}/refs                  GET  /api/datasets/{id}/commits/{rev}
    POST /api/datasets/{id}/branch/{branch}       POST /api/datasets/{id}/preupload/{rev}
    POST /api/datasets/{id}/commit/{rev}          POST /datasets/{id}.git/info/lfs/objects/batch
    PUT  /lfs-objects/{sha256}                    POST /lfs-verify/{sha256}
    GET|HEAD /datasets/{id}/resolve/{rev}/{path}

Which upload path the client takes. The Hub's ``preupload`` answer gives each file an upload
mode, ``"regular"`` (the content goes inline in the commit) or ``"lfs"`` (binary files, files
over 10 MB, the ``.gitattributes`` patterns). With ``hf_xet`` installed, as it is by default
with ``huggingface_hub`` 2.x, the client sends every ``"lfs"`` file through the Xet protocol
(a content-addressed store of chunked, deduplicated "xorbs" and "shards" behind a token from
``/api/{type}s/{id}/xet-write-token``): it never asks the server whether the repo supports Xet
and never falls back to Git LFS; only ``HF_HUB_DISABLE_XET=1``, or a client without
``hf_xet``, uses the Git LFS batch API. This stand-in does not speak Xet, so:

- ``lfs=False`` (default): every file is ``"regular"``. The client's default code path runs
  unchanged (``upload_folder``'s streamed pipeline: preupload, the unchanged-file check against
  the oid preupload returns, deletions and ``parent_commit`` on the first commit; and
  ``create_commit``), and only the transport of binary content differs from the Hub: inline in
  the commit instead of in Xet storage. A client that still asked for a Xet token would get a
  404 ("no route"), so a test cannot pass on a path it did not mean to take.
- ``lfs=True``: upload modes as on the Hub, for a client run with ``HF_HUB_DISABLE_XET=1`` (the
  Git LFS batch API and a single-part PUT).

Downloads take the client's default path either way: the stand-in sends no ``X-Xet-Hash``
header, so files come over plain HTTP, as the Hub serves files that are not in Xet storage.

The store (``hub_store``) is git-like and in memory. Writes need ``Authorization: Bearer TOKEN``
with the server's token; private repos are invisible (404) without it, as on the Hub. Every
request is recorded (method, route or "?" where the stand-in has none, whether the token was
sent) so tests can check which network path the client took. Use it as a context manager; it
stops at exit.

``echo_headers=True`` makes it a misbehaving mirror or proxy: every request is refused (400) with
an error that quotes the request's headers, ``Authorization: Bearer TOKEN`` included, in both the
``X-Error-Message`` header and the JSON body, which ``huggingface_hub`` copies into its
exception messages.
"""

from __future__ import annotations

import os
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.hub_handler import HubHandler
from tests.support.hub_store import HubStore, Repo, RequestRecord

TOKEN = "hf_StandInHubSecretToken0123456789abcdef"


class HubServer:
    """``with HubServer(token="hf_...") as hub: ... hub.url ...``"""

    def __init__(self, token: str, user: str = "tester", echo_headers: bool = False,
                 lfs: bool = False) -> None:
        self.token, self.user, self.echo_headers, self.lfs = token, user, echo_headers, lfs
        self.store = HubStore()
        self.requests: list[RequestRecord] = []
        handler = type("Handler", (HubHandler,), {"hub": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
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


def client_env(hub: HubServer, home: Path, token: str | None = TOKEN) -> dict[str, str]:
    """The environment of a client process that talks to ``hub``: this machine's, with the
    Hub's settings replaced (offline mode, tokens and ``HF_HUB_DISABLE_XET`` removed, so the
    installed client's default paths run)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_TOKEN",
                        "HUGGING_FACE_HUB_TOKEN", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_XET")}
    env.update(HF_ENDPOINT=hub.url, HF_HOME=str(home), HF_HUB_DISABLE_TELEMETRY="1",
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    if token is not None:
        env["HF_TOKEN"] = token
    return env
