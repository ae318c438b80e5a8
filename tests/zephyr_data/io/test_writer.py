"""The parquet writer: its bytes depend on the rows only, so that files written apart (one task
per file on a cluster) are the files one writer of the whole split gives."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pytest

from zephyr_data.io.writer import ShardedParquetWriter

WORDS = np.array("the of and a to in is you that it he was for on are as with his they I at be "
                 "this have from or one had by word but not what all were we when your can said "
                 "there use an each which she do how their if will up other about out many then "
                 "them these so some her would make like him into time has look two more write "
                 "go see number no way could people my than first water been call who".split())


def rows(n: int, seed: int = 0) -> pa.Table:
    """``n`` chat rows of about 2 KB, so that a row group spans several data pages: where a
    page ends then depends on how the rows were cut into chunks, unless the writer undoes it."""
    rng = np.random.default_rng(seed)
    messages = [[{"content": " ".join(rng.choice(WORDS, rng.integers(50, 400))),
                  "role": role} for role in ("user", "assistant")] for _ in range(n)]
    return pa.table({"prompt": [m[0]["content"] for m in messages],
                     "prompt_id": [f"{i:064x}" for i in range(n)], "messages": messages})


def in_chunks(table: pa.Table, sizes: list[int]) -> list[pa.Table]:
    out, at, k = [], 0, 0
    while at < table.num_rows:
        out.append(table.slice(at, sizes[k % len(sizes)]))
        at += sizes[k % len(sizes)]
        k += 1
    return out


def digests(paths) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return rows(3700)


def write_whole(folder, table, sizes, max_rows):
    folder.mkdir()
    writer = ShardedParquetWriter(folder, "train", table.schema, max_rows)
    for part in in_chunks(table, sizes):
        writer.write(part)
    return digests(writer.close()), writer.num_rows, writer.num_bytes


def test_the_bytes_do_not_depend_on_how_the_rows_arrive(tmp_path, table):
    first = write_whole(tmp_path / "a", table, [3700], 1500)
    again = write_whole(tmp_path / "b", table, [7, 333, 1, 2048], 1500)
    assert first == again
    assert sorted(first[0]) == [f"train-0000{i}-of-00003.parquet" for i in range(3)]


def test_files_written_apart_are_the_files_of_one_writer(tmp_path, table):
    max_rows = 1500  # not a multiple of the row group: files start inside a row group
    whole, num_rows, num_bytes = write_whole(tmp_path / "whole", table, [500], max_rows)
    apart, rows_apart, bytes_apart = {}, 0, 0
    for shard, first in enumerate(range(0, table.num_rows, max_rows)):
        folder = tmp_path / f"shard{shard}"
        folder.mkdir()
        writer = ShardedParquetWriter(folder, "train", table.schema, max_rows, first_row=first)
        for part in in_chunks(table.slice(first, max_rows), [shard * 100 + 99]):
            writer.write(part)
        apart.update(digests(writer.close(total=3)))
        rows_apart += writer.num_rows
        bytes_apart += writer.num_bytes
    assert apart == whole
    assert (rows_apart, bytes_apart) == (num_rows, num_bytes) == (3700, num_bytes)


def test_a_writer_starts_only_where_a_file_starts(tmp_path, table):
    with pytest.raises(ValueError, match="does not start a file"):
        ShardedParquetWriter(tmp_path, "train", table.schema, 1500, first_row=1000)
