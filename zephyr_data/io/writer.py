"""Write a dataset folder in the Hub's layout, reproducibly and atomically.

Parquet files are written with fixed settings (zstd, fixed row-group size, the ``datasets``
feature metadata), so the same rows give the same bytes. The folder they go into is built beside
its destination and swapped into place at the end (``destination``).
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..core.ids import fingerprint, sha256_file

ROW_GROUP_SIZE = 1000


def arrow_schema(features: Any) -> pa.Schema:
    """The arrow schema of ``datasets.Features``, carrying the metadata ``datasets`` reads."""
    schema = features.arrow_schema
    meta = {b"huggingface": json.dumps({"info": {"features": features.to_dict()}}).encode()}
    return schema.with_metadata(meta)


class ShardedParquetWriter:
    """Rows of one split to ``data/{split}-NNNNN-of-NNNNN.parquet``, ``max_rows`` per file.

    Row groups hold rows ``[k * ROW_GROUP_SIZE, (k + 1) * ROW_GROUP_SIZE)`` of the split, cut
    where a file ends, and each is written from one contiguous copy of its rows: the bytes
    depend on the rows only, not on how they were cut into tables on their way here. So a
    writer started at ``first_row`` (the first row of a file, for a task that writes that one
    file) gives the very bytes a single writer of the whole split gives.
    """

    def __init__(self, folder: Path, split: str, schema: pa.Schema, max_rows: int,
                 first_row: int = 0):
        if first_row % max_rows:
            raise ValueError(f"first_row={first_row} does not start a file of {max_rows} rows")
        self.folder, self.split, self.schema, self.max_rows = folder, split, schema, max_rows
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._rows_in_shard = 0
        self._first_shard = first_row // max_rows
        self._position = first_row  # the row of the split that comes next
        self._shards: list[Path] = []
        self.num_rows = 0
        self.num_bytes = 0  # in memory, as datasets counts it

    def write(self, table: pa.Table) -> None:
        table = table.select(self.schema.names).cast(self.schema)
        self._pending.append(table)
        self._pending_rows += table.num_rows
        while self._pending_rows >= self._group_room():
            self._flush(self._group_room())

    def _group_room(self) -> int:
        return ROW_GROUP_SIZE - self._position % ROW_GROUP_SIZE

    def _flush(self, n: int) -> None:
        merged = pa.concat_tables(self._pending)
        group, rest = merged.slice(0, n), merged.slice(n)
        self._pending, self._pending_rows = ([rest] if rest.num_rows else []), rest.num_rows
        while group.num_rows:
            if self._writer is None:
                index = self._first_shard + len(self._shards)
                path = self.folder / f".{self.split}-{index:05d}.parquet"
                self._shards.append(path)
                self._writer = pq.ParquetWriter(path, self.schema, compression="zstd",
                                                write_statistics=True)
            room = self.max_rows - self._rows_in_shard
            # One contiguous copy of the rows: where a data page ends, and what ``nbytes``
            # counts, depend on the chunks a table is made of.
            part, group = group.slice(0, room).combine_chunks(), group.slice(room)
            self._writer.write_table(part, row_group_size=ROW_GROUP_SIZE)
            self._rows_in_shard += part.num_rows
            self._position += part.num_rows
            self.num_rows += part.num_rows
            self.num_bytes += part.nbytes
            if self._rows_in_shard >= self.max_rows:
                self._writer.close()
                self._writer, self._rows_in_shard = None, 0

    def close(self, total: int | None = None) -> list[Path]:
        """Flush, close and give the shards their final ``-NNNNN-of-NNNNN`` names (``total``:
        the files of the whole split, when this writer writes some of them)."""
        if self._pending_rows:
            self._flush(self._pending_rows)
        if self._writer is not None:
            self._writer.close()
        if not self._shards:  # an empty split still gets one (empty) file, as the Hub does
            path = self.folder / f".{self.split}-00000.parquet"
            pq.write_table(self.schema.empty_table(), path, compression="zstd")
            self._shards.append(path)
        total = total or self._first_shard + len(self._shards)
        final = []
        for i, path in enumerate(self._shards, start=self._first_shard):
            target = self.folder / f"{self.split}-{i:05d}-of-{total:05d}.parquet"
            path.rename(target)
            final.append(target)
        return final


def data_fingerprint(folder: Path, configs: Iterable[str] = ()) -> tuple[str, dict[str, str]]:
    """sha256 of every data file (``data/``, and the folder of each derived config), and one
    fingerprint over all of them."""
    files = {p.relative_to(folder).as_posix(): sha256_file(p)
             for name in ("data", *configs) for p in sorted((folder / name).glob("*.parquet"))}
    return fingerprint(sorted(files.items())), files


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a file through a temporary sibling and a rename."""
    write_lines_atomic(path, [text])


def write_lines_atomic(path: str | os.PathLike, lines: Iterable[str]) -> None:
    """Stream ``lines`` into a temporary sibling of ``path``, then rename it into place. The
    file gets the umask's permissions, as a plain ``open`` would give it (not ``mkstemp``'s
    0600, which would hide a dump or a pushed build's manifest from the group)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.writelines(lines)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
