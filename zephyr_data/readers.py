"""Find the input files and read raw rows from them in bounded work units.

The input is resolved once, in the main process, into a list of local files with their sha256
(the input fingerprint). Each file is cut into work units of about ``batch_size`` rows that a
worker reads on its own, so memory does not grow with the data. Every row carries a reference
(``file:line`` for JSON Lines, ``file[#i]`` for JSON and parquet) used in errors and dumps.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import InputError

SUFFIXES = (".jsonl", ".json", ".parquet", ".jsonl.gz", ".json.gz")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_BLOCK = 1 << 24


@dataclass(frozen=True)
class WorkUnit:
    """A slice of one input file: byte range for .jsonl, row range for parquet, whole file else."""

    path: str
    kind: str  # "jsonl", "jsonl.gz", "json", "json.gz", "parquet"
    start: int = 0
    end: int = -1
    first_line: int = 1


@dataclass
class InputSpec:
    """What was read: enough for the manifest to say how to read it again."""

    description: str
    files: list[dict[str, Any]] = field(default_factory=list)  # path, bytes, sha256
    hub_id: str | None = None
    revision: str | None = None

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for f in self.files:
            digest.update(f"{Path(f['path']).name}\t{f['bytes']}\t{f['sha256']}\n".encode())
        return digest.hexdigest()


def sample_path(name: str) -> Path:
    """Path of a raw sample bundled in the package."""
    return Path(str(resources.files("zephyr_data") / "samples" / name))


def _kind(path: str) -> str | None:
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if path.endswith(suffix):
            return suffix[1:]
    return None


def _list_local(spec: str) -> list[str]:
    if any(ch in spec for ch in "*?["):
        found = sorted(glob.glob(spec, recursive=True))
    elif os.path.isdir(spec):
        found = sorted(str(p) for p in Path(spec).rglob("*") if p.is_file())
    elif os.path.isfile(spec):
        return [spec]
    else:
        return []
    return [p for p in found if _kind(p)]


def _download_hub(hub_id: str, revision: str | None) -> tuple[list[str], str]:
    """Download a Hub dataset's data files (from the cache when offline); return them and the
    commit they came from."""
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(hub_id, repo_type="dataset", revision=revision,
                                   allow_patterns=[f"*{s}" for s in SUFFIXES])
    except Exception as err:  # network, auth, offline without cache: all end here
        raise InputError(f"--input {hub_id}", None,
                         f"could not download the Hub dataset at revision {revision or 'main'}: "
                         f"{type(err).__name__}: {err}",
                         "check the id and revision, your network and HF_TOKEN; or pass local "
                         "files with --input PATH, or --sample for the bundled sample.") from None
    commit = Path(folder).name  # snapshots/<commit>
    files = [p for p in _list_local(folder) if "/." not in p]
    return files, commit


def resolve_input(input_spec: str | None, *, sample: str | None, default_hub_id: str,
                  revision: str | None) -> InputSpec:
    """Turn --input / --sample / the default Hub id into local files with their fingerprints."""
    if sample is not None:
        files = [str(sample_path(sample))]
        spec = InputSpec(description=f"bundled sample {sample}")
    else:
        name = input_spec or default_hub_id
        files = _list_local(name)
        if files:
            spec = InputSpec(description=f"local files {name}")
        elif os.path.exists(name):
            raise InputError(f"--input {name}", None,
                             f"no input files found there (looked for {', '.join(SUFFIXES)}).",
                             "point --input at files with one of those suffixes.")
        elif HUB_ID.match(name) and not name.endswith(SUFFIXES):
            files, commit = _download_hub(name, revision)
            if not files:
                raise InputError(f"--input {name}", None,
                                 f"the Hub dataset has no files ending in {', '.join(SUFFIXES)}.")
            spec = InputSpec(description=f"Hub dataset {name}", hub_id=name, revision=commit)
        else:
            raise InputError(f"--input {name}", None, "no such file, folder or glob match.",
                             "check the path; a Hub dataset id looks like ORG/NAME.")
    spec.files = [_describe(p) for p in files]
    return spec


def _describe(path: str) -> dict[str, Any]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
            size += len(block)
    return {"path": path, "bytes": size, "sha256": digest.hexdigest()}


def plan_units(spec: InputSpec, batch_size: int) -> list[WorkUnit]:
    """Cut every input file into work units of about ``batch_size`` rows."""
    units: list[WorkUnit] = []
    for f in spec.files:
        path, kind = f["path"], _kind(f["path"])
        if kind == "jsonl":
            units.extend(_jsonl_units(path, batch_size))
        elif kind == "parquet":
            import pyarrow.parquet as pq

            try:
                meta = pq.ParquetFile(path).metadata
            except Exception as err:
                raise InputError(path, None, f"not a readable parquet file: {err}") from None
            first_row = 0
            for group in range(meta.num_row_groups):  # one unit per row group
                units.append(WorkUnit(path, kind, group, group + 1, first_row))
                first_row += meta.row_group(group).num_rows
        else:
            units.append(WorkUnit(path, kind))
    return units


def _jsonl_units(path: str, batch_size: int) -> Iterator[WorkUnit]:
    """Byte ranges that each hold ``batch_size`` lines, found in one pass over the file."""
    start, line_at_start, lines, offset = 0, 1, 0, 0
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            count = block.count(b"\n")
            if lines + count < batch_size:
                lines += count
                offset += len(block)
                continue
            pos = 0
            while True:
                nl = block.find(b"\n", pos)
                if nl < 0:
                    break
                lines += 1
                pos = nl + 1
                if lines == batch_size:
                    end = offset + pos
                    yield WorkUnit(path, "jsonl", start, end, line_at_start)
                    start, line_at_start, lines = end, line_at_start + batch_size, 0
            offset += len(block)
    if offset > start:
        yield WorkUnit(path, "jsonl", start, offset, line_at_start)


def _parse_line(raw: bytes, where: str) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(where, None, f"not valid UTF-8: byte 0x{raw[err.start]:02x} at column "
                         f"{err.start + 1}.", "re-encode the file as UTF-8.") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(where, None, f"malformed JSON: {err.msg} at column {err.colno}.",
                         "fix or remove the line, or rerun with --on-bad-row drop to count it "
                         "as dropped.") from None


def read_unit(unit: WorkUnit) -> Iterator[tuple[str, Any]]:
    """Yield ``(ref, parsed_or_error)`` for each row of a work unit; blank lines are skipped.

    A row that cannot be parsed yields its :class:`InputError` instead of a value, so the
    caller decides whether to stop or to count a drop.
    """
    if unit.kind in ("jsonl", "jsonl.gz"):
        if unit.kind == "jsonl":
            with open(unit.path, "rb") as fh:
                fh.seek(unit.start)
                data = fh.read(unit.end - unit.start)
            lines: Any = io.BytesIO(data)
        else:
            lines = gzip.open(unit.path, "rb")
        try:
            for i, raw in enumerate(lines):
                if not raw.strip():
                    continue
                where = f"{unit.path}:{unit.first_line + i}"
                try:
                    yield where, _parse_line(raw, where)
                except InputError as err:
                    yield where, err
        except (OSError, EOFError) as err:
            raise InputError(unit.path, None, f"cannot read the compressed file: {err}") from None
        finally:
            lines.close()
    elif unit.kind in ("json", "json.gz"):
        opener = gzip.open if unit.kind == "json.gz" else open
        try:
            with opener(unit.path, "rb") as fh:
                raw = fh.read()
        except (OSError, EOFError) as err:
            raise InputError(unit.path, None, f"cannot read the file: {err}") from None
        parsed = _parse_line(raw, unit.path)
        if isinstance(parsed, dict):  # a file holding one row
            parsed = [parsed]
        if not isinstance(parsed, list):
            raise InputError(unit.path, None, f"expected a JSON array of rows, found "
                             f"{type(parsed).__name__}.", "use JSON Lines or a JSON array.")
        for i, row in enumerate(parsed):
            yield f"{unit.path}[#{i}]", row
    elif unit.kind == "parquet":
        import pyarrow.parquet as pq

        table = pq.ParquetFile(unit.path).read_row_group(unit.start)
        for i, row in enumerate(table.to_pylist()):
            yield f"{unit.path}[#{unit.first_line + i}]", row
    else:  # pragma: no cover - plan_units only makes the kinds above
        raise AssertionError(unit.kind)
