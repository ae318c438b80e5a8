"""Find the input files and read raw rows from them in bounded work units.

The input is resolved once, in the main process, into a list of local files with their sha256
(the input fingerprint). Each file is cut into work units of about ``batch_size`` rows that a
worker reads on its own, so memory does not grow with the data. Every row carries a reference
(``file:line`` for JSON Lines, ``file[#i]`` for JSON and parquet) used in errors and dumps.

Which files are read: suffixes ``.jsonl``/``.ndjson`` (JSON Lines), ``.json`` (an array of rows,
or one row), ``.parquet``, and ``.jsonl.gz``/``.ndjson.gz``/``.json.gz``, in any letter case. An
existing path is taken literally (even with ``[`` or ``*`` in its name); otherwise a path with
``*?[`` is a glob. A named file with another suffix is an error; a folder or a glob skips such
files (and logs them), and a folder skips hidden files and folders (names starting with ".").
Only regular files (or links to them) are read: a FIFO or a device would block or never end.
"""

from __future__ import annotations

import glob
import gzip
import io
import json
import logging
import os
import re
import stat
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..core.errors import InputError
from ..core.ids import file_digest, fingerprint, is_repo_id
from .splits import card_patterns, download_hub, split_files

log = logging.getLogger(__name__)

KINDS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet",
         ".jsonl.gz": "jsonl.gz", ".ndjson.gz": "jsonl.gz", ".json.gz": "json.gz"}
SUFFIXES = tuple(KINDS)
_BLOCK = 1 << 24
# A JSON escape of a UTF-16 surrogate (\ud800-\udfff): only lines holding one can parse to a
# string that is not text (a lone surrogate), so only those are looked at.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


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
    splits: list[str] | None = None  # of a Hub dataset or dataset folder

    def describe(self) -> dict[str, Any]:
        """For the manifest: where the rows came from, each file with its size and sha256."""
        return {"description": self.description, "hub_id": self.hub_id,
                "revision": self.revision, "splits": self.splits,
                "fingerprint": self.fingerprint,
                "files": [{"name": os.path.basename(f["path"]), "bytes": f["bytes"],
                           "sha256": f["sha256"]} for f in self.files]}

    @property
    def fingerprint(self) -> str:
        return fingerprint((Path(f["path"]).name, f["bytes"], f["sha256"]) for f in self.files)


def sample_path(name: str) -> Path:
    """Path of a raw sample bundled in the package."""
    return Path(str(resources.files("zephyr_data") / "samples" / name))


def _kind(path: str) -> str | None:
    name = os.path.basename(path).lower()
    for suffix in sorted(KINDS, key=len, reverse=True):
        if name.endswith(suffix):
            return KINDS[suffix]
    return None


def _supported() -> str:
    return ", ".join(SUFFIXES) + " (any letter case)"


def _file_type(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _require_regular(path: str) -> None:
    """Fail unless ``path`` is a regular file once links are followed: reading a FIFO blocks
    and a device such as /dev/zero never ends, so neither is hashed or read."""
    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        raise InputError(path, None, f"cannot be opened: {err.strerror} (a broken link?).",
                         "fix or remove it, or narrow --input.") from None
    if not stat.S_ISREG(mode):
        target = f" (a link to {os.path.realpath(path)})" if os.path.islink(path) else ""
        raise InputError(path, None, f"is {_file_type(mode)}{target}, not a regular file; only "
                         "regular files (or links to them) are read as input.",
                         "remove it from the input folder, or narrow the --input glob.")


def _is_hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _list_local(spec: str) -> tuple[list[str], list[str]]:
    """The input files that ``spec`` names, and the files it names that were skipped for their
    suffix. An existing path is taken literally; a glob only when no such path exists."""
    if os.path.isdir(spec):
        root = Path(spec)
        found = sorted(str(p) for p in root.rglob("*")
                       if not _is_hidden(p.relative_to(root)) and not p.is_dir())
    elif os.path.lexists(spec):
        if _kind(spec) is None:
            raise InputError(f"--input {spec}", None, "unsupported file type: the readable "
                             f"suffixes are {_supported()}.",
                             "convert or rename the file (e.g. a JSON Lines .txt to .jsonl); "
                             "compressed input must be gzip.")
        _require_regular(spec)
        return [spec], []
    elif any(ch in spec for ch in "*?["):
        found = sorted(p for p in glob.glob(spec, recursive=True) if not os.path.isdir(p))
    else:
        return [], []
    files = [p for p in found if _kind(p)]
    skipped = [p for p in found if not _kind(p)]
    if skipped:
        names = ", ".join(os.path.basename(p) for p in skipped[:5])
        log.info("--input %s: skipped %d file(s) without a supported suffix (%s%s)", spec,
                 len(skipped), names, ", ..." if len(skipped) > 5 else "")
    for path in files:  # before anything is read: a FIFO would block the hashing
        _require_regular(path)
    return files, skipped


def resolve_input(input_spec: str | None, *, sample: str | None, default_hub_id: str,
                  revision: str | None, split: list[str] | None = None) -> InputSpec:
    """Turn --input / --sample / the default Hub id into local files with their fingerprints.
    ``split`` chooses splits of a Hub dataset or of a dataset folder (``io.splits``)."""
    if sample is not None:
        if split:
            raise InputError("--input-split", None, "applies to a Hub dataset or a dataset "
                             "folder, not to --sample.", "drop --input-split.")
        files = [str(sample_path(sample))]
        spec = InputSpec(description=f"bundled sample {sample}")
    else:
        name = input_spec or default_hub_id
        if split and not os.path.isdir(name) and (os.path.lexists(name) or not is_repo_id(name)):
            raise InputError(f"--input {name}", None, "--input-split applies to a Hub dataset "
                             "or a dataset folder, not to a file or glob.",
                             "drop --input-split, or point --input at the dataset's folder.")
        hub_layout = os.path.isdir(name) and (split or card_patterns(Path(name)))
        files, skipped = ([], []) if hub_layout else _list_local(name)
        if hub_layout:  # a folder in the Hub's layout: its splits, as datasets loads them
            files, split = split_files(Path(name), split, f"--input {name}", SUFFIXES)
            spec = InputSpec(description=f"local dataset {name} (split {', '.join(split)})",
                             splits=split)
        elif files:
            spec = InputSpec(description=f"local files {name}")
        elif os.path.exists(name) or skipped:
            found = (f"; {len(skipped)} file(s) there have other suffixes, e.g. "
                     f"{os.path.basename(skipped[0])}" if skipped else "")
            raise InputError(f"--input {name}", None,
                             f"no input files found there (looked for {_supported()}{found}).",
                             "point --input at files with one of those suffixes.")
        elif is_repo_id(name) and _kind(name) is None:
            files, commit, split = download_hub(name, revision, split, SUFFIXES)
            spec = InputSpec(description=f"Hub dataset {name} (split {', '.join(split)})",
                             hub_id=name, revision=commit, splits=split)
        else:
            raise InputError(f"--input {name}", None, "no such file, folder or glob match.",
                             "check the path; a Hub dataset id looks like ORG/NAME.")
    for path in files:  # before anything is read: a FIFO would block the hashing
        _require_regular(path)
    spec.files = [_describe(p) for p in files]
    return spec


def _describe(path: str) -> dict[str, Any]:
    sha, size = file_digest(path)
    return {"path": path, "bytes": size, "sha256": sha}


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
    except RecursionError:
        raise InputError(where, None, "JSON nested too deeply to parse (arrays or objects "
                         f"inside each other more than about {sys.getrecursionlimit()} levels).",
                         "fix or remove the line, or rerun with --on-bad-row drop to count it "
                         "as dropped.") from None


def surrogate_field(value: Any) -> str | None:
    """The path (``data[1]``, ``completions[0].response``; "" for the value itself) of the first
    string or key holding a lone UTF-16 surrogate, or None. Iterative: any depth is fine."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str) and _SURROGATE.search(item):
            return path
        if isinstance(item, dict):
            bad_key = next((k for k in item if isinstance(k, str) and _SURROGATE.search(k)), None)
            if bad_key is not None:
                return f"{path}.<key>" if path else "<key>"
            stack.extend(reversed([(f"{path}.{k}" if path else str(k), v)
                                   for k, v in item.items()]))
        elif isinstance(item, list):
            stack.extend(reversed([(f"{path}[{i}]", v) for i, v in enumerate(item)]))
    return None


def _check_text(parsed: Any, where: str) -> Any:
    """``parsed``, or an InputError when one of its strings is not text (a lone surrogate:
    valid JSON, but it cannot be encoded as UTF-8, so no output could hold it)."""
    field = surrogate_field(parsed)
    if field is None:
        return parsed
    return InputError(where, field or None, "holds a lone UTF-16 surrogate (a \\ud800..\\udfff "
                      "escape without its pair): valid JSON, but not text; it cannot be written "
                      "as UTF-8.", "fix the escape at the source (often half of a cut emoji), or "
                      "rerun with --on-bad-row drop to count the row as dropped.")


def _open_lines(unit: WorkUnit) -> Any:
    if unit.kind == "jsonl":
        with open(unit.path, "rb") as fh:
            fh.seek(unit.start)
            return io.BytesIO(fh.read(unit.end - unit.start))
    return gzip.open(unit.path, "rb")


def _read_json_lines(unit: WorkUnit) -> Iterator[tuple[str, Any]]:
    lines = _open_lines(unit)
    line = unit.first_line - 1
    try:
        for line, raw in enumerate(lines, start=unit.first_line):
            if not raw.strip():
                continue
            where = f"{unit.path}:{line}"
            try:
                parsed = _parse_line(raw, where)
            except InputError as err:
                yield where, err
                continue
            yield where, (_check_text(parsed, where) if SURROGATE_ESCAPE.search(raw)
                          else parsed)
    except (OSError, EOFError, zlib.error) as err:
        raise InputError(unit.path, None, f"cannot read line {line + 1}: "
                         f"{_describe_error(err)}.", _DAMAGED) from None
    finally:
        lines.close()


_DAMAGED = ("the file is damaged or truncated: download or export it again (`gzip -t FILE` "
            "checks a .gz file).")


def _describe_error(err: BaseException) -> str:
    kind = "corrupt deflate stream" if isinstance(err, zlib.error) else type(err).__name__
    return f"{kind} ({err})"


def _read_json_file(unit: WorkUnit) -> Iterator[tuple[str, Any]]:
    opener = gzip.open if unit.kind == "json.gz" else open
    try:
        with opener(unit.path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as err:
        raise InputError(unit.path, None, f"cannot read the file: {_describe_error(err)}.",
                         _DAMAGED) from None
    parsed = _parse_line(raw, unit.path)
    if isinstance(parsed, dict):  # a file holding one row
        parsed = [parsed]
    if not isinstance(parsed, list):
        raise InputError(unit.path, None, f"expected a JSON array of rows, found "
                         f"{type(parsed).__name__}.", "use JSON Lines or a JSON array.")
    check = SURROGATE_ESCAPE.search(raw) is not None
    for i, row in enumerate(parsed):
        where = f"{unit.path}[#{i}]"
        yield where, _check_text(row, where) if check else row


def _read_parquet(unit: WorkUnit) -> Iterator[tuple[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        rows = pq.ParquetFile(unit.path).read_row_group(unit.start).to_pylist()
    except (OSError, ValueError, pa.ArrowException) as err:  # ArrowInvalid, bad UTF-8
        raise InputError(unit.path, None, f"row group {unit.start} (rows from "
                         f"#{unit.first_line}) cannot be read: {type(err).__name__}: {err}",
                         "the file is damaged: download or export it again.") from None
    for i, row in enumerate(rows):
        yield f"{unit.path}[#{unit.first_line + i}]", row


def read_unit(unit: WorkUnit) -> Iterator[tuple[str, Any]]:
    """Yield ``(ref, parsed_or_error)`` for each row of a work unit; blank lines are skipped.

    A row that cannot be parsed, or holds a string that is not text, yields its
    :class:`InputError` instead of a value, so the caller decides whether to stop or to count a
    drop. A file that cannot be read (a corrupt .gz or parquet page) raises one.
    """
    if unit.kind in ("jsonl", "jsonl.gz"):
        yield from _read_json_lines(unit)
    elif unit.kind in ("json", "json.gz"):
        yield from _read_json_file(unit)
    elif unit.kind == "parquet":
        yield from _read_parquet(unit)
    else:  # pragma: no cover - plan_units only makes the kinds above
        raise AssertionError(unit.kind)
