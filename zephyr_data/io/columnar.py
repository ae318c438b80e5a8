"""A work unit of JSON Lines read in one go, columnar, when that gives exactly what the row by
row reader (``readers.read_unit``) would.

pyarrow's JSON reader parses a unit into an Arrow table in C++, many times faster than one
``json.loads`` and one Python object per row. It is strict where the rows must be (a value of
the wrong type, a duplicate key, an invalid surrogate is an error; UTF-8 is checked here), so a
unit it reads whole holds only well-formed rows. For anything else (a parse error, a wrong
type, a row without a field, a surrogate escape) it gives up and the caller reads the unit row
by row, which names the exact file, line and field of the bad row, or counts it.
"""

from __future__ import annotations

import gzip
import io
import zlib

import pyarrow as pa
import pyarrow.json as pj

from .readers import SURROGATE_ESCAPE, WorkUnit

_BLOCK = 1 << 28  # one block per unit: the reader never splits a row across blocks


def unit_bytes(unit: WorkUnit) -> bytes | None:
    """The raw bytes of a JSON Lines work unit (decompressed), or None if they cannot be read
    (the row by row reader then says why)."""
    try:
        if unit.kind == "jsonl":
            with open(unit.path, "rb") as fh:
                fh.seek(unit.start)
                return fh.read(unit.end - unit.start)
        if unit.kind == "jsonl.gz":
            with gzip.open(unit.path, "rb") as fh:
                return fh.read()
    except (OSError, EOFError, zlib.error):
        return None
    return None


def json_lines_table(unit: WorkUnit, schema: pa.Schema) -> tuple[pa.Table, list[str]] | None:
    """The rows of a JSON Lines unit as a table of ``schema`` (other fields ignored), and each
    row's ref (``file:line``); None when the unit must be read row by row."""
    data = unit_bytes(unit)
    if data is None or SURROGATE_ESCAPE.search(data):
        return None
    try:  # pyarrow does not check that strings are UTF-8
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = data.split(b"\n")
    refs = [f"{unit.path}:{unit.first_line + i}" for i, line in enumerate(lines)
            if line.strip()]
    if not refs:
        return None
    try:
        table = pj.read_json(io.BytesIO(data),
                             read_options=pj.ReadOptions(use_threads=False,
                                                         block_size=max(_BLOCK, len(data) + 1)),
                             parse_options=pj.ParseOptions(explicit_schema=schema,
                                                           unexpected_field_behavior="ignore"))
    except (pa.ArrowInvalid, UnicodeDecodeError, ValueError):
        return None
    if table.num_rows != len(refs):
        return None
    return table, refs
