"""The parquet writer (``io.writer``): shard sizes and names, row groups, bytes that depend only
on the rows, metadata that ``datasets`` reads back, fingerprints and atomic text files."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zephyr_data.core.ids import fingerprint, prompt_id
from zephyr_data.core.schema import ultrafeedback_features
from zephyr_data.io.writer import (
    ROW_GROUP_SIZE,
    ShardedParquetWriter,
    arrow_schema,
    data_fingerprint,
    write_lines_atomic,
    write_text_atomic,
)

FEATURES = ultrafeedback_features()
SCHEMA = arrow_schema(FEATURES)


def conversation(prompt: str, answer: str) -> list[dict[str, str]]:
    return [{"content": prompt, "role": "user"}, {"content": answer, "role": "assistant"}]


def rows(n: int) -> pa.Table:
    prompts = [f"prompt {i} " + "é" * (i % 5) for i in range(n)]
    return pa.Table.from_pylist([
        {"prompt": p, "prompt_id": prompt_id(p), "chosen": conversation(p, "yes" * (i % 7)),
         "rejected": conversation(p, "no"), "messages": conversation(p, "yes" * (i % 7)),
         "score_chosen": float(i % 10), "score_rejected": 1.0} for i, p in enumerate(prompts)],
        schema=SCHEMA)


def write(folder: Path, table: pa.Table, chunks: list[int], max_rows: int,
          split: str = "train") -> tuple[ShardedParquetWriter, list[Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    writer = ShardedParquetWriter(folder, split, SCHEMA, max_rows)
    start = 0
    for size in chunks:
        writer.write(table.slice(start, size))
        start += size
    assert start == table.num_rows
    return writer, writer.close()


def row_groups(path: Path) -> list[int]:
    meta = pq.ParquetFile(path).metadata
    return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]


TABLE = rows(4500)


def test_shards_of_max_rows_with_row_groups_of_1000(tmp_path):
    writer, files = write(tmp_path, TABLE, [4500], max_rows=2000)
    assert [p.name for p in files] == [f"train-0000{i}-of-00003.parquet" for i in range(3)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in files]  # no temp
    assert [row_groups(p) for p in files] == [[1000, 1000], [1000, 1000], [500]]
    assert ROW_GROUP_SIZE == 1000
    back = pa.concat_tables([pq.read_table(p) for p in files])
    assert back.to_pylist() == TABLE.to_pylist()  # the rows, in order


def test_a_shard_boundary_inside_a_row_group(tmp_path):
    _, files = write(tmp_path, TABLE, [4500], max_rows=1500)
    assert [row_groups(p) for p in files] == [[1000, 500], [500, 1000], [1000, 500]]
    assert files[-1].name == "train-00002-of-00003.parquet"


@pytest.mark.parametrize("max_rows", [2000, 1500, 700])
def test_the_same_rows_in_other_chunks_give_the_same_bytes(tmp_path, max_rows):
    digests, sizes = [], []
    for name, chunks in {"whole": [4500], "uneven": [1, 999, 1001, 2499],
                         "small": [7] * 642 + [6], "with_empty": [0, 2000, 0, 2500]}.items():
        writer, files = write(tmp_path / name, TABLE, chunks, max_rows=max_rows)
        digests.append([hashlib.sha256(p.read_bytes()).hexdigest() for p in files])
        sizes.append((writer.num_rows, writer.num_bytes))
    assert len(digests[0]) == -(-4500 // max_rows)
    assert all(d == digests[0] for d in digests)
    assert all(s == sizes[0] for s in sizes)
    assert sizes[0] == (4500, TABLE.nbytes)


def test_num_rows_and_num_bytes_count_what_was_written(tmp_path):
    writer, _ = write(tmp_path, TABLE, [3000, 1500], max_rows=2000)
    assert writer.num_rows == 4500
    assert writer.num_bytes == TABLE.nbytes  # in memory, as datasets counts it
    small = rows(3)
    writer, files = write(tmp_path / "small", small, [3], max_rows=10)
    assert (writer.num_rows, writer.num_bytes) == (3, small.nbytes)
    assert [p.name for p in files] == ["train-00000-of-00001.parquet"]


def test_columns_are_selected_and_cast_to_the_schema(tmp_path):
    table = rows(5)
    shuffled = table.select(list(reversed(table.column_names)))
    extra = shuffled.append_column("_internal", pa.array(range(5)))
    large = extra.set_column(extra.column_names.index("prompt"), "prompt",
                             extra["prompt"].cast(pa.large_string()))
    _, files = write(tmp_path, large, [5], max_rows=10)
    back = pq.read_table(files[0])
    assert back.schema.names == SCHEMA.names
    assert back.schema.field("prompt").type == pa.string()
    assert back.to_pylist() == table.to_pylist()


def test_an_empty_split_still_gets_one_file(tmp_path):
    writer = ShardedParquetWriter(tmp_path, "test_prefs", SCHEMA, 100)
    writer.write(rows(0))
    files = writer.close()
    assert [p.name for p in files] == ["test_prefs-00000-of-00001.parquet"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test_prefs-00000-of-00001.parquet"]
    back = pq.read_table(files[0])
    assert back.num_rows == 0 and back.schema.names == SCHEMA.names
    assert (writer.num_rows, writer.num_bytes) == (0, 0)


def test_datasets_reads_the_features_from_the_metadata(tmp_path):
    _, files = write(tmp_path / "data", rows(30), [30], max_rows=20)
    meta = json.loads(pq.read_schema(files[0]).metadata[b"huggingface"])
    assert meta == {"info": {"features": FEATURES.to_dict()}}
    ds = datasets.load_dataset("parquet", data_files={"train": [str(p) for p in files]},
                               split="train", cache_dir=str(tmp_path / "cache"))
    assert ds.features == FEATURES
    assert ds.num_rows == 30
    assert ds[3]["chosen"] == conversation(ds[3]["prompt"], "yes" * 3)


def test_features_the_arrow_type_alone_would_not_give(tmp_path):
    features = datasets.Features({"label": datasets.ClassLabel(names=["bad", "good"]),
                                  "score": datasets.Value("float32")})
    schema = arrow_schema(features)
    writer = ShardedParquetWriter(tmp_path, "train", schema, 10)
    writer.write(pa.table({"label": [1, 0], "score": [0.5, 1.0]}))
    (path,) = writer.close()
    ds = datasets.load_dataset("parquet", data_files=str(path), split="train",
                               cache_dir=str(tmp_path / "cache"))
    assert ds.features == features  # a ClassLabel, not the int64 the column holds
    assert ds.features["label"].int2str(ds[0]["label"]) == "good"


def test_data_fingerprint(tmp_path):
    data = tmp_path / "data"
    write(data, rows(30), [30], max_rows=20, split="train")
    write(data, rows(5), [5], max_rows=20, split="test")
    (data / "notes.txt").write_text("not data", encoding="utf-8")
    (tmp_path / "README.md").write_text("card", encoding="utf-8")
    digest, files = data_fingerprint(tmp_path)
    names = ["data/test-00000-of-00001.parquet", "data/train-00000-of-00002.parquet",
             "data/train-00001-of-00002.parquet"]
    assert list(files) == names
    assert files == {n: hashlib.sha256((tmp_path / n).read_bytes()).hexdigest() for n in names}
    assert digest == fingerprint(sorted(files.items()))

    (tmp_path / "README.md").write_text("another card", encoding="utf-8")
    assert data_fingerprint(tmp_path)[0] == digest  # only the data counts
    write(tmp_path / "data", rows(6), [6], max_rows=20, split="test")  # one more row
    assert data_fingerprint(tmp_path)[0] != digest


def test_write_lines_atomic(tmp_path):
    path = tmp_path / "new" / "dir" / "dump.jsonl"
    write_lines_atomic(path, (f"{i}\n" for i in range(3)))
    assert path.read_text(encoding="utf-8") == "0\n1\n2\n"
    write_text_atomic(path, "é\n")
    assert path.read_text(encoding="utf-8") == "é\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["dump.jsonl"]


def test_write_lines_atomic_leaves_nothing_behind_on_error(tmp_path):
    path = tmp_path / "dump.jsonl"

    def failing(error: BaseException):
        yield "new\n"
        raise error

    with pytest.raises(OSError, match="disk full"):
        write_lines_atomic(path, failing(OSError("disk full")))
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary sibling
    path.write_text("old\n", encoding="utf-8")
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C half-way
        write_lines_atomic(path, failing(KeyboardInterrupt()))
    assert path.read_text(encoding="utf-8") == "old\n"  # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["dump.jsonl"]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)],
                         ids=["umask022", "umask027", "umask002"])
def test_write_lines_atomic_follows_the_umask(tmp_path, umask, mode):
    path = tmp_path / "manifest.json"
    previous = os.umask(umask)
    try:
        write_text_atomic(path, "{}\n")  # a new file
        assert stat.S_IMODE(path.stat().st_mode) == mode
        write_text_atomic(path, "{}\n")  # and one that replaces another
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == mode


# ------------------------------------------------------------------ long rows, files apart

WORDS = np.array("the of and a to in is you that it he was for on are as with his they I at be "
                 "this have from or one had by word but not what all were we when your can said "
                 "there use an each which she do how their if will up other about out many then "
                 "them these so some her would make like him into time has look two more write "
                 "go see number no way could people my than first water been call who".split())


def long_rows(n: int, seed: int = 0) -> pa.Table:
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


def digests(paths: list[Path]) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


LONG = long_rows(3700)


def write_long(folder: Path, table: pa.Table, sizes: list[int], max_rows: int,
               first_row: int = 0, total: int | None = None) -> tuple[dict[str, str], int, int]:
    folder.mkdir()
    writer = ShardedParquetWriter(folder, "train", table.schema, max_rows, first_row=first_row)
    for part in in_chunks(table, sizes):
        writer.write(part)
    return digests(writer.close(total=total)), writer.num_rows, writer.num_bytes


def test_long_rows_in_other_chunks_give_the_same_bytes(tmp_path):
    first = write_long(tmp_path / "a", LONG, [3700], 1500)
    again = write_long(tmp_path / "b", LONG, [7, 333, 1, 2048], 1500)
    assert first == again
    assert sorted(first[0]) == [f"train-0000{i}-of-00003.parquet" for i in range(3)]


def test_files_written_apart_are_the_files_of_one_writer(tmp_path):
    """A task per output file (``--executor ray``): each writer starts at its file's first
    row, gets its rows cut its own way, and writes the bytes of one writer of the split."""
    max_rows = 1500  # not a multiple of the row group: files start inside a row group
    whole, num_rows, num_bytes = write_long(tmp_path / "whole", LONG, [500], max_rows)
    apart, rows_apart, bytes_apart = {}, 0, 0
    for shard, first in enumerate(range(0, LONG.num_rows, max_rows)):
        files, n, size = write_long(tmp_path / f"shard{shard}", LONG.slice(first, max_rows),
                                    [shard * 100 + 99], max_rows, first_row=first, total=3)
        apart.update(files)
        rows_apart, bytes_apart = rows_apart + n, bytes_apart + size
    assert apart == whole
    assert (rows_apart, bytes_apart) == (num_rows, num_bytes) == (3700, LONG.nbytes)


def test_a_writer_starts_only_where_a_file_starts(tmp_path):
    with pytest.raises(ValueError, match="does not start a file"):
        ShardedParquetWriter(tmp_path, "train", SCHEMA, 1500, first_row=1000)
