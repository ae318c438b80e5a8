"""Check a local build folder against its ``manifest.json`` before a split of it is loaded.

Every folder a pipeline builds holds ``manifest.json`` (the sha256 of each data file and a
``fingerprint`` over them) and ``README.md`` (the card, whose "Output fingerprint" line repeats
the fingerprint). :func:`verify_split` checks, for the split about to be loaded:

- the manifest is valid JSON and its ``fingerprint`` is the one its ``files`` give (an edited
  file list is caught), and the card's fingerprint line, when present, is the same;
- the split's data files on disk (``data/{split}-*``, what the card's ``data_files`` load) are
  exactly those the manifest lists, none missing and none added;
- each of them has the sha256 the manifest records (a shard replaced by another valid parquet
  file with the same rows count is caught, and named).

A ``revision`` given for a local folder is checked against ``published.json``, the record of the
folder's pushes that ``publish.hub`` writes beside the manifest (:func:`check_local_revision`).

A folder without ``manifest.json`` is checked only when its card says this project built it
(the manifest was deleted); other folders (a third-party dataset) load unchecked. The check
hashes only the loaded split's files, at about 700 MB/s from the page cache on one core (see
the README): small next to what ``datasets`` spends converting the same files to arrow once.

What it cannot catch: someone who edits the data, the manifest and the card consistently. The
manifest is a record of the build, not a signature.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path
from typing import Any

from ..core.errors import DatasetLoadError
from ..core.ids import fingerprint, sha256_file

PUBLISHED = "published.json"  # the local record of a folder's pushes (never uploaded)
CARD_FINGERPRINT = re.compile(r"Output fingerprint \(sha256 over the data files' sha256\): "
                              r"`([0-9a-f]{64})`")
_HINT = ("rebuild the folder with the command in its README.md, or fetch it again; pass "
         "verify=False to load it anyway.")


class IntegrityError(DatasetLoadError):
    """A local build folder does not match its ``manifest.json``; the message names the file."""


def fingerprint_of(files: dict[str, str]) -> str:
    """The fingerprint the build computes over its data files (``writer.data_fingerprint``)."""
    return fingerprint(sorted(files.items()))


def _card_fingerprint(folder: Path) -> str | None:
    card = folder / "README.md"
    if not card.is_file():
        return None
    found = CARD_FINGERPRINT.search(card.read_text(encoding="utf-8", errors="replace"))
    return found.group(1) if found else None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise IntegrityError(f"{path}: not valid JSON ({err}).\n  How to fix: {_HINT}") from None


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest, checked against itself and the card; None when the folder has
    none and its card does not say this project built it."""
    path = folder / "manifest.json"
    card = _card_fingerprint(folder)
    if not path.is_file():
        if card is not None:
            raise IntegrityError(f"{folder}: manifest.json is missing, but README.md says this "
                                 f"project built the folder (output fingerprint {card[:16]}...), "
                                 "so the data files cannot be checked.\n  How to fix: " + _HINT)
        return None
    manifest = _read_json(path)
    files, fingerprint = (manifest.get("files"), manifest.get("fingerprint")) \
        if isinstance(manifest, dict) else (None, None)
    if not isinstance(files, dict) or not isinstance(fingerprint, str) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise IntegrityError(f"{path}: expected 'files' (data file -> sha256) and "
                             f"'fingerprint', as every build writes.\n  How to fix: {_HINT}")
    if fingerprint_of(files) != fingerprint:
        raise IntegrityError(f"{path}: was edited: its 'fingerprint' ({fingerprint[:16]}...) is "
                             f"not the one its 'files' give ({fingerprint_of(files)[:16]}...)."
                             f"\n  How to fix: {_HINT}")
    if card is not None and card != fingerprint:
        raise IntegrityError(f"{folder}: README.md gives the output fingerprint {card[:16]}..., "
                             f"manifest.json {fingerprint[:16]}...: one of them was edited or "
                             f"replaced.\n  How to fix: {_HINT}")
    return manifest


def verify_split(folder: str | Path, split: str) -> int:
    """Check ``split`` of a local build folder against its manifest (see the module doc);
    raise :class:`IntegrityError` naming the first file that differs. Returns the number of
    files hashed (0 when the folder has no manifest to check against)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        return 0
    pattern = f"data/{split}-*"
    listed = {name: sha for name, sha in manifest["files"].items()
              if fnmatch.fnmatchcase(name, pattern)}
    on_disk = sorted(p.relative_to(folder).as_posix() for p in (folder / "data").glob("*")
                     if fnmatch.fnmatchcase(p.relative_to(folder).as_posix(), pattern))
    added = [name for name in on_disk if name not in listed]
    if added:
        raise IntegrityError(f"{folder / added[0]}: not listed in manifest.json, but it would be "
                             f"loaded as part of split {split!r} (added after the build?).\n"
                             f"  How to fix: remove it, or {_HINT}")
    for name, sha in sorted(listed.items()):
        path = folder / name
        if not path.is_file():
            raise IntegrityError(f"{path}: listed in manifest.json for split {split!r}, but "
                                 f"missing.\n  How to fix: {_HINT}")
        if sha256_file(path) != sha:
            raise IntegrityError(f"{path}: its sha256 differs from manifest.json: the file was "
                                 f"changed or replaced after the build.\n  How to fix: {_HINT}")
    return len(listed)


def published_records(folder: Path) -> list[dict[str, Any]]:
    """The pushes of this folder that ``published.json`` records (oldest first), each with
    ``repo_id``, ``revision`` (the branch), ``commit``, ``url`` and the ``fingerprint`` of the
    build that was pushed; [] when the folder was never pushed."""
    path = folder / PUBLISHED
    if not path.is_file():
        return []
    record = _read_json(path)
    pushes = record.get("pushes") if isinstance(record, dict) else None
    if not isinstance(pushes, list) or not all(
            isinstance(p, dict) and isinstance(p.get("commit"), str) for p in pushes):
        raise IntegrityError(f"{path}: expected {{\"pushes\": [{{\"repo_id\", \"revision\", "
                             f"\"commit\", ...}}]}}, as a push writes.\n  How to fix: delete it "
                             "and push the folder again (python -m pipelines.push_to_hub).")
    return pushes


def check_local_revision(folder: Path, revision: str | None) -> None:
    """A ``revision`` given for a local folder must be a commit (or branch) that its
    ``published.json`` records for this very build: a pin is never ignored."""
    if not revision:
        return
    path = folder / "manifest.json"
    manifest = _read_json(path) if path.is_file() else {}
    built = manifest.get("fingerprint") if isinstance(manifest, dict) else None
    pushes = [p for p in published_records(folder) if p.get("fingerprint") == built]
    for push in pushes:
        if revision == push.get("revision") or (len(revision) >= 7
                                                and push["commit"].startswith(revision)):
            return
    recorded = ("it was published as " + ", ".join(
        f"commit {p['commit']} of {p.get('repo_id')} (branch {p.get('revision')})"
        for p in pushes) if pushes else f"its {PUBLISHED} records no push of this build")
    raise DatasetLoadError(f"revision={revision!r} was given, but {folder} is a local folder "
                           f"and {recorded}. Load the Hub id to get that revision, or drop the "
                           "revision to load the folder as it is.")
