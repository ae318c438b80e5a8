"""Bad input: a clear error naming file, line and field, or a counted drop; nothing written on
a fatal error."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from pipelines.build_ultrachat import main
from zephyr_data.core.config import make_config
from zephyr_data.core.errors import InputError
from zephyr_data.pipelines.ultrachat import UltraChatConfig, UltraChatPipeline
from zephyr_data.runner.build import build

GOOD = {"id": "1", "data": ["How do I boil an egg?", "Put it in boiling water for 8 minutes."]}


def write_lines(path: Path, lines: list[str | bytes]) -> Path:
    with open(path, "wb") as fh:
        for line in lines:
            fh.write(line if isinstance(line, bytes) else line.encode())
            fh.write(b"\n")
    return path


def run(tmp_path: Path, inp: Path, **options):
    config = make_config(UltraChatConfig, {"input": str(inp), "output_dir": str(tmp_path / "out"),
                                           "progress": False, "decontaminate": "off", **options},
                         "test")
    return build(UltraChatPipeline(config))


BAD_ROWS = [
    ('{"id": "2", "data": ["unterminated"', None, "malformed JSON"),
    ('{"id": "2", "messages": ["hi", "hello"]}', "data", "missing"),
    ('{"id": "2", "data": "hi there"}', "data", "expected a list of strings, found str"),
    ('{"id": "2", "data": ["hi", 42]}', "data[1]", "expected a string, found int"),
    ('["hi", "hello"]', None, "expected a JSON object, found list"),
]


@pytest.mark.parametrize("line,field,problem", BAD_ROWS)
def test_bad_row_stops_the_run_naming_file_line_and_field(tmp_path, line, field, problem):
    inp = write_lines(tmp_path / "raw.jsonl", [json.dumps(GOOD), line])
    with pytest.raises(InputError) as info:
        run(tmp_path, inp)
    assert info.value.where == f"{inp}:2"
    assert info.value.field == field
    assert problem in str(info.value)
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out*")), "scratch folders left behind"


@pytest.mark.parametrize("line,field,problem", BAD_ROWS)
def test_bad_row_is_a_counted_drop_on_request(tmp_path, line, field, problem):
    inp = write_lines(tmp_path / "raw.jsonl", [json.dumps(GOOD), line])
    dump = tmp_path / "dropped.jsonl"
    result = run(tmp_path, inp, on_bad_row="drop", dump_dropped=str(dump))
    assert result.stats.dropped == {"invalid_row": 1}
    assert result.stats.kept == 1
    (dropped,) = [json.loads(x) for x in dump.read_text().splitlines()]
    assert dropped["reason"] == "invalid_row" and f"{inp}:2" in dropped["detail"]


def test_non_utf8_bytes_name_the_line(tmp_path):
    inp = write_lines(tmp_path / "raw.jsonl", [json.dumps(GOOD), json.dumps(GOOD),
                                               b'{"id": "3", "data": ["caf\xe9", "ok"]}'])
    with pytest.raises(InputError, match=r"raw.jsonl:3: not valid UTF-8: byte 0xe9"):
        run(tmp_path, inp)


def test_empty_data_is_a_counted_drop(tmp_path):
    inp = write_lines(tmp_path / "raw.jsonl", [json.dumps(GOOD), '{"id": "2", "data": []}'])
    result = run(tmp_path, inp)
    assert result.stats.dropped == {"empty_dialogue": 1}


def test_missing_input_path(tmp_path, capsys):
    code = main(["--input", str(tmp_path / "nope.jsonl"), "--output-dir", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert "nope.jsonl" in err and "no such file" in err
    assert not (tmp_path / "o").exists()


def test_error_in_a_worker_process_reaches_the_cli(tmp_path, capsys):
    lines = [json.dumps({**GOOD, "id": str(i)}) for i in range(30)]
    lines[23] = '{"id": "23", "data": [1, 2]}'
    inp = write_lines(tmp_path / "raw.jsonl", lines)
    code = main(["--input", str(inp), "--output-dir", str(tmp_path / "o"), "--num-proc", "2",
                 "--decontaminate", "off",
                 "--batch-size", "5", "--no-progress"])
    assert code == 2
    assert f"{inp}:24: field 'data[0]': expected a string" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_failed_rerun_keeps_the_previous_output(tmp_path):
    good = write_lines(tmp_path / "good.jsonl", [json.dumps(GOOD)])
    run(tmp_path, good)
    before = sorted(p.name for p in (tmp_path / "out" / "data").iterdir())
    bad = write_lines(tmp_path / "bad.jsonl", [json.dumps(GOOD), "{not json"])
    with pytest.raises(InputError):
        run(tmp_path, bad)
    assert sorted(p.name for p in (tmp_path / "out" / "data").iterdir()) == before


def test_reads_gzip_json_and_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{**GOOD, "id": str(i), "data": [f"Question {i}?", f"Answer {i}."]} for i in range(5)]
    with gzip.open(tmp_path / "a.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(json.dumps(r) for r in rows[:2]) + "\n")
    (tmp_path / "b.json").write_text(json.dumps(rows[2:4]))
    pq.write_table(pa.Table.from_pylist(rows[4:]), tmp_path / "c.parquet")
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.jsonl.gz", "b.json", "c.parquet"):
        (tmp_path / name).rename(folder / name)
    result = run(tmp_path, folder)
    assert result.stats.rows_in == 5 and result.stats.kept == 5
    assert len(result.manifest["input"]["files"]) == 3
