"""Input resolution, work units and rows (``io.readers``) on real files of every supported
kind: exact unit boundaries, references and fingerprints."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zephyr_data.core.errors import InputError
from zephyr_data.io import readers
from zephyr_data.io.readers import InputSpec, WorkUnit, plan_units, read_unit, resolve_input


def resolve(spec: str | Path) -> InputSpec:
    return resolve_input(str(spec), sample=None, default_hub_id="org/unused", revision=None)


def rows_of(spec: InputSpec, batch_size: int = 1000) -> list[tuple[str, object]]:
    return [item for unit in plan_units(spec, batch_size) for item in read_unit(unit)]


def jsonl(path: Path, lines: list[str], end: str = "\n") -> Path:
    path.write_text("\n".join(lines) + end, encoding="utf-8")
    return path


# Line 1 is a row, 3 is blank, 6 holds only spaces; 9 lines in all, the last without "\n".
LINES = ['{"i": 1}', '{"i": 2}', "", '{"i": 4}', '{"i": 5, "t": "é"}', "   ", '{"i": 7}',
         '{"i": 8}', '{"i": 9}']
ROWS = {n: json.loads(line) for n, line in enumerate(LINES, start=1) if line.strip()}


def check_units_cover_the_file(units: list[WorkUnit], data: bytes, batch_size: int) -> None:
    """Byte ranges that follow each other from 0 to the end, each (but the last) holding
    exactly ``batch_size`` lines, each starting at the line number it says."""
    assert [u.start for u in units] == [0] + [u.end for u in units[:-1]]
    assert units[-1].end == len(data)
    line = 1
    for unit in units:
        assert unit.kind == "jsonl"
        assert unit.first_line == line
        assert unit.start == 0 or data[unit.start - 1:unit.start] == b"\n"  # at a line start
        lines = data[unit.start:unit.end].count(b"\n")
        if unit is not units[-1]:
            assert lines == batch_size
        line += lines


@pytest.mark.parametrize("block", [1, 3, 8, 1 << 24], ids=lambda b: f"block{b}")
@pytest.mark.parametrize("batch_size", [1, 2, 3, 8, 9, 10, 100])
def test_jsonl_units_cut_at_exactly_batch_size_lines(tmp_path, monkeypatch, block, batch_size):
    monkeypatch.setattr(readers, "_BLOCK", block)  # the scan reads the file in blocks
    path = jsonl(tmp_path / "rows.jsonl", LINES, end="")
    units = plan_units(resolve(path), batch_size)
    data = path.read_bytes()
    check_units_cover_the_file(units, data, batch_size)
    assert len(units) == -(-len(LINES) // batch_size)
    got = [item for unit in units for item in read_unit(unit)]  # blank lines are skipped
    assert got == [(f"{path}:{n}", row) for n, row in ROWS.items()]


def test_jsonl_ending_in_a_newline_has_no_empty_last_unit(tmp_path):
    path = jsonl(tmp_path / "rows.jsonl", LINES[:6])
    units = plan_units(resolve(path), 3)
    assert [(u.start, u.end, u.first_line) for u in units] == \
        [(0, 19, 1), (19, len(path.read_bytes()), 4)]  # 9 + 9 + 1 bytes: two rows, a blank
    assert [ref for ref, _ in read_unit(units[1])] == [f"{path}:4", f"{path}:5"]


def test_empty_jsonl_has_no_units(tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    assert plan_units(resolve(tmp_path / "empty.jsonl"), 10) == []


def test_a_bad_line_is_yielded_as_its_error_and_reading_goes_on(tmp_path):
    path = jsonl(tmp_path / "rows.jsonl", ['{"i": 1}', "{oops", '{"i": 3}'])
    (ref1, row1), (ref2, err), (ref3, row3) = rows_of(resolve(path))
    assert (ref1, row1, ref3, row3) == (f"{path}:1", {"i": 1}, f"{path}:3", {"i": 3})
    assert ref2 == f"{path}:2"
    assert isinstance(err, InputError) and err.where == f"{path}:2"
    assert "malformed JSON" in err.problem


def test_jsonl_gz_is_one_unit_with_line_refs(tmp_path):
    path = tmp_path / "rows.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(LINES))
    spec = resolve(path)
    assert plan_units(spec, 2) == [WorkUnit(str(path), "jsonl.gz")]
    assert rows_of(spec, 2) == [(f"{path}:{n}", row) for n, row in ROWS.items()]


@pytest.mark.parametrize("gz", [False, True], ids=["json", "json.gz"])
def test_json_array_and_single_object(tmp_path, gz):
    opener = gzip.open if gz else open
    suffix = ".json.gz" if gz else ".json"
    array, single = tmp_path / f"array{suffix}", tmp_path / f"single{suffix}"
    with opener(array, "wt", encoding="utf-8") as fh:
        json.dump([{"i": 0}, {"i": 1, "t": "é"}, {"i": 2}], fh)
    with opener(single, "wt", encoding="utf-8") as fh:
        json.dump({"i": 7}, fh)
    kind = "json.gz" if gz else "json"
    spec = resolve(array)
    assert plan_units(spec, 1) == [WorkUnit(str(array), kind)]  # a whole file, whatever size
    assert rows_of(spec, 1) == [(f"{array}[#0]", {"i": 0}), (f"{array}[#1]", {"i": 1, "t": "é"}),
                                (f"{array}[#2]", {"i": 2})]
    assert rows_of(resolve(single)) == [(f"{single}[#0]", {"i": 7})]


def test_json_that_is_not_rows_is_an_error(tmp_path):
    path = tmp_path / "scalar.json"
    path.write_text("42", encoding="utf-8")
    with pytest.raises(InputError, match="expected a JSON array of rows, found int"):
        rows_of(resolve(path))


def test_parquet_has_one_unit_per_row_group_and_row_refs(tmp_path):
    path = tmp_path / "rows.parquet"
    table = pa.table({"i": list(range(7)), "t": [f"r{i}" for i in range(7)]})
    pq.write_table(table, path, row_group_size=3)
    spec = resolve(path)
    units = plan_units(spec, 1000)  # batch_size does not cut a row group
    assert [(u.kind, u.start, u.end, u.first_line) for u in units] == \
        [("parquet", 0, 1, 0), ("parquet", 1, 2, 3), ("parquet", 2, 3, 6)]
    assert [ref for ref, _ in read_unit(units[1])] == [f"{path}[#{i}]" for i in (3, 4, 5)]
    assert rows_of(spec) == [(f"{path}[#{i}]", {"i": i, "t": f"r{i}"}) for i in range(7)]


def test_not_a_parquet_file_is_an_error_when_planning(tmp_path):
    path = tmp_path / "fake.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match="not a readable parquet file"):
        plan_units(resolve(path), 10)


def make_tree(root: Path) -> None:
    root.mkdir()
    (root / "sub").mkdir()
    (root / ".git").mkdir()
    (root / ".cache").mkdir()
    jsonl(root / "b.jsonl", ['{"f": "b"}'])
    jsonl(root / "sub" / "z.jsonl", ['{"f": "sub/z"}'])
    (root / "a.json").write_text('[{"f": "a"}]', encoding="utf-8")
    pq.write_table(pa.table({"f": ["c"]}), root / "c.parquet")
    jsonl(root / "UPPER.JSONL", ['{"f": "UPPER"}'])
    jsonl(root / ".hidden.jsonl", ['{"f": "hidden"}'])
    jsonl(root / ".git" / "x.jsonl", ['{"f": "git"}'])
    jsonl(root / ".cache" / "y.jsonl", ['{"f": "cache"}'])
    (root / "notes.txt").write_text("not an input", encoding="utf-8")


def names(spec: InputSpec, root: Path) -> list[str]:
    return [Path(f["path"]).relative_to(root).as_posix() for f in spec.files]


def test_a_folder_is_read_recursively_sorted_without_hidden_paths(tmp_path):
    root = tmp_path / "in"
    make_tree(root)
    spec = resolve(root)
    assert names(spec, root) == ["UPPER.JSONL", "a.json", "b.jsonl", "c.parquet", "sub/z.jsonl"]
    assert spec.description == f"local files {root}"
    assert [row["f"] for _, row in rows_of(spec)] == ["UPPER", "a", "b", "c", "sub/z"]


def test_globs_are_sorted_and_skip_hidden_files(tmp_path):
    root = tmp_path / "in"
    make_tree(root)
    assert names(resolve(f"{root}/*.jsonl"), root) == ["b.jsonl"]
    assert names(resolve(f"{root}/**/*.jsonl"), root) == ["b.jsonl", "sub/z.jsonl"]
    assert names(resolve(f"{root}/[ab].*"), root) == ["a.json", "b.jsonl"]
    assert names(resolve(f"{root}/*"), root) == ["UPPER.JSONL", "a.json", "b.jsonl",
                                                 "c.parquet"]  # notes.txt skipped


def test_nothing_to_read_is_an_error(tmp_path):
    (tmp_path / "only.txt").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="no input files found there"):
        resolve(tmp_path)
    with pytest.raises(InputError, match="no such file, folder or glob match"):
        resolve(tmp_path / "missing.jsonl")
    with pytest.raises(InputError, match="no such file, folder or glob match"):
        resolve(f"{tmp_path}/*.jsonl")
    with pytest.raises(InputError, match="no input files found there.*e.g. only.txt"):
        resolve(f"{tmp_path}/*")


def test_fingerprint_and_describe(tmp_path):
    root = tmp_path / "in"
    make_tree(root)
    spec = resolve(root)
    described = spec.describe()
    assert described["description"] == f"local files {root}"
    assert (described["hub_id"], described["revision"]) == (None, None)
    assert described["fingerprint"] == spec.fingerprint
    assert [f["name"] for f in described["files"]] == ["UPPER.JSONL", "a.json", "b.jsonl",
                                                      "c.parquet", "z.jsonl"]
    for entry, file in zip(described["files"], spec.files):
        data = Path(file["path"]).read_bytes()
        assert entry == {"name": Path(file["path"]).name, "bytes": len(data),
                         "sha256": hashlib.sha256(data).hexdigest()}
    lines = "".join(f"{f['name']}\t{f['bytes']}\t{f['sha256']}\n" for f in described["files"])
    assert spec.fingerprint == hashlib.sha256(lines.encode()).hexdigest()
    json.dumps(described)  # goes into manifest.json as it is

    moved = tmp_path / "elsewhere"
    shutil.copytree(root, moved)
    assert resolve(moved).fingerprint == spec.fingerprint  # where the files are does not count
    jsonl(moved / "b.jsonl", ['{"f": "B"}'])
    assert resolve(moved).fingerprint != spec.fingerprint  # what they hold does


def test_the_bundled_sample(tmp_path):
    spec = resolve_input(None, sample="ultrachat_sample.jsonl", default_hub_id="org/unused",
                         revision=None)
    assert spec.description == "bundled sample ultrachat_sample.jsonl"
    assert [f["path"] for f in spec.files] == [str(readers.sample_path("ultrachat_sample.jsonl"))]
    units = plan_units(spec, 50)
    assert [u.first_line for u in units] == [1, 51, 101]
    rows = [row for unit in units for row in read_unit(unit)]
    assert len(rows) == 125
    assert all(not isinstance(row, InputError) and "data" in row for _, row in rows)
