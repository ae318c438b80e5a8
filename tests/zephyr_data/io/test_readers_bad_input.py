"""Hostile but realistic input, through the real pipelines' ``main``: each case is a clear error
naming file, line and field (exit status 2, nothing written), or, with ``--on-bad-row drop``, a
counted ``invalid_row``; never a traceback, a hang or a silent change of meaning."""

from __future__ import annotations

import gzip
import json
import logging
import os
import random
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.build_ultrachat import main as ultrachat_main
from pipelines.build_ultrafeedback import main as ultrafeedback_main
from tests.support.paths import REPO
from tests.support.ultrafeedback import rated, raw_row

MAINS = {"ultrachat": ultrachat_main, "ultrafeedback": ultrafeedback_main}
GOOD = {"ultrachat": {"id": "1", "data": ["How do I boil an egg?", "Boil it for 8 minutes."]},
        "ultrafeedback": raw_row("How do I boil an egg?", rated(5, 3))}
DEEP = '{"id":"d","data":' + "[" * 100000 + "]" * 100000 + "}"


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def build(pipeline: str, inp: Path | str, out: Path, *extra: str) -> int:
    return MAINS[pipeline](["--input", str(inp), "--output-dir", str(out), "--no-progress",
                            "--decontaminate", "off", *extra])


def stats(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())["stats"]


def good_lines(pipeline: str, n: int) -> list[str]:
    """``n`` distinct good rows (distinct prompts, so no duplicate drops)."""
    rows = []
    for i in range(n):
        row = json.loads(json.dumps(GOOD[pipeline]))
        if pipeline == "ultrachat":
            row["data"][0] += f" (variant {i})"
        else:
            row["instruction"] += f" (variant {i})"
        rows.append(json.dumps(row))
    return rows


def check_error_then_drop(pipeline, inp, tmp_path, capsys, expected, dropped=1, kept=1):
    """The run stops naming ``expected`` (every part of it); with drop, ``dropped`` rows are
    counted as invalid_row and ``kept`` rows are written."""
    out = tmp_path / "out"
    assert build(pipeline, inp, out) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    for part in expected:
        assert part in err, (part, err)
    assert not out.exists()
    dump = tmp_path / "dropped.jsonl"
    assert build(pipeline, inp, out, "--on-bad-row", "drop", "--dump-dropped", str(dump)) == 0
    counts = stats(out)
    assert counts["dropped"].get("invalid_row") == dropped
    assert counts["kept"] == kept
    reasons = [json.loads(line)["reason"] for line in dump.read_text().splitlines()]
    assert reasons.count("invalid_row") == dropped


# ------------------------------------------------------------------ rows that are not data


@pytest.mark.parametrize("pipeline", ["ultrachat", "ultrafeedback"])
def test_deeply_nested_json_is_a_bad_row(pipeline, tmp_path, capsys):
    inp = write(tmp_path / "raw.jsonl", [json.dumps(GOOD[pipeline]), DEEP])
    check_error_then_drop(pipeline, inp, tmp_path, capsys,
                          [f"{inp}:2:", "nested too deeply", "--on-bad-row drop"])


def test_deeply_nested_json_file_names_the_file(tmp_path, capsys):
    inp = tmp_path / "raw.json"
    inp.write_text("[" + DEEP + "]", encoding="utf-8")
    assert build("ultrachat", inp, tmp_path / "out") == 2
    assert f"error: {inp}: JSON nested too deeply" in capsys.readouterr().err


def test_lone_surrogate_names_file_line_and_field_ultrachat(tmp_path, capsys):
    bad = '{"id": "s", "data": ["cut emoji \\ud83d", "an answer"]}'
    pair = '{"id": "p", "data": ["a whole emoji \\ud83d\\ude00", "an answer"]}'  # valid: kept
    inp = write(tmp_path / "raw.jsonl", [json.dumps(GOOD["ultrachat"]), bad, pair])
    check_error_then_drop("ultrachat", inp, tmp_path, capsys,
                          [f"{inp}:2: field 'data[0]'", "lone UTF-16 surrogate"], kept=2)


def test_lone_surrogate_names_file_line_and_field_ultrafeedback(tmp_path, capsys):
    row = json.loads(json.dumps(GOOD["ultrafeedback"]))
    row["instruction"] = "another prompt"
    row["completions"][1]["response"] = "SURROGATE"
    bad = json.dumps(row).replace("SURROGATE", "text \\uDC00 here")  # upper-case hex too
    inp = write(tmp_path / "raw.jsonl", [json.dumps(GOOD["ultrafeedback"]), bad])
    check_error_then_drop("ultrafeedback", inp, tmp_path, capsys,
                          [f"{inp}:2: field 'completions[1].response'", "lone UTF-16 surrogate"])


def test_lone_surrogate_in_a_json_array_file(tmp_path, capsys):
    inp = tmp_path / "raw.json"
    bad = '{"id": "s", "data": ["q", "a \\udfff"]}'
    inp.write_text(f'[{json.dumps(GOOD["ultrachat"])}, {bad}]', encoding="utf-8")
    assert build("ultrachat", inp, tmp_path / "out") == 2
    assert f"error: {inp}[#1]: field 'data[1]': holds a lone UTF-16 surrogate" in \
        capsys.readouterr().err


# ------------------------------------------------------------------ damaged files


def corrupt_gzip(path: Path, lines: list[str]) -> Path:
    data = bytearray(gzip.compress("".join(f"{line}\n" for line in lines).encode(), mtime=0))
    data[12] ^= 0xFF  # inside the first deflate block's header: "invalid code lengths set"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("name", ["raw.jsonl.gz", "raw.json.gz"])
def test_corrupt_deflate_stream_names_the_file(name, tmp_path, capsys):
    lines = good_lines("ultrachat", 50)
    inp = corrupt_gzip(tmp_path / name, lines if name.startswith("raw.jsonl")
                       else ["[" + ",".join(lines) + "]"])
    for mode in ("error", "drop"):  # a damaged file is not a row: drop does not hide it
        assert build("ultrachat", inp, tmp_path / "out", "--on-bad-row", mode) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {inp}: cannot read")
        assert "corrupt deflate stream" in err and "Traceback" not in err
        assert not (tmp_path / "out").exists()


def test_corrupt_parquet_page_names_the_file_and_row_group(tmp_path, capsys):
    rng = random.Random(0)
    rows = [{"id": str(i), "data": ["".join(rng.choice("abcdefgh ") for _ in range(200)),
                                    "an answer " * 20]} for i in range(300)]
    inp = tmp_path / "raw.parquet"
    pq.write_table(pa.Table.from_pylist(rows), inp, compression="snappy", use_dictionary=False)
    column = pq.ParquetFile(inp).metadata.row_group(0).column(1)  # data.list.element
    data = bytearray(inp.read_bytes())
    start = column.data_page_offset + 1000  # inside the compressed page, far from its header
    data[start:start + 64] = bytes(rng.randrange(256) for _ in range(64))
    inp.write_bytes(bytes(data))
    assert build("ultrachat", inp, tmp_path / "out", "--on-bad-row", "drop") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {inp}: row group 0 (rows from #0) cannot be read")
    assert "Traceback" not in err and not (tmp_path / "out").exists()


# ------------------------------------------------------------------ which files are read


@pytest.mark.parametrize("name", ["raw.txt", "raw.jsonl.bz2", "raw.csv"])
def test_single_file_with_an_unsupported_suffix_is_a_clear_error(name, tmp_path, capsys):
    inp = write(tmp_path / name, good_lines("ultrachat", 2))
    assert build("ultrachat", inp, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --input {inp}: unsupported file type")
    for suffix in (".jsonl", ".ndjson", ".json", ".parquet", ".jsonl.gz", ".json.gz"):
        assert suffix in err
    assert "any letter case" in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["raw.JSONL", "raw.NDJSON.GZ"])
def test_supported_suffixes_in_any_case(name, tmp_path):
    lines = good_lines("ultrachat", 3)
    inp = tmp_path / name
    if name.endswith(".GZ"):
        inp.write_bytes(gzip.compress("".join(f"{line}\n" for line in lines).encode()))
    else:
        write(inp, lines)
    assert build("ultrachat", inp, tmp_path / "out") == 0
    assert stats(tmp_path / "out")["rows_in"] == 3


def test_folder_skips_hidden_paths_and_logs_unsupported_files(tmp_path, caplog):
    folder = tmp_path / "raw"
    (folder / ".git").mkdir(parents=True)
    (folder / "more").mkdir()
    lines = good_lines("ultrachat", 6)
    write(folder / "a.jsonl", lines[:3])
    write(folder / "more" / "b.ndjson", lines[3:5])
    (folder / "more" / "c.Json").write_text("[" + lines[5] + "]")
    write(folder / ".hidden.jsonl", ["{not json"])  # would stop the run if it were read
    write(folder / ".git" / "x.jsonl", ["{not json"])
    write(folder / "notes.txt", ["some notes"])
    write(folder / "more" / "README.md", ["# read me"])
    with caplog.at_level(logging.INFO, logger="zephyr_data.io.readers"):
        assert build("ultrachat", folder, tmp_path / "out") == 0
    assert stats(tmp_path / "out")["rows_in"] == 6
    names = [f["name"] for f in json.loads((tmp_path / "out" / "manifest.json").read_text())
             ["input"]["files"]]
    assert names == ["a.jsonl", "b.ndjson", "c.Json"]
    logged = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(logged) == 1 and "skipped 2 file(s)" in logged[0]
    assert "notes.txt" in logged[0] and "README.md" in logged[0]


def test_existing_file_with_brackets_is_taken_literally(tmp_path):
    literal = write(tmp_path / "raw[1].jsonl", good_lines("ultrachat", 4))
    write(tmp_path / "raw1.jsonl", good_lines("ultrachat", 2))  # what the glob would match
    assert build("ultrachat", literal, tmp_path / "out") == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["stats"]["rows_in"] == 4
    assert [f["name"] for f in manifest["input"]["files"]] == ["raw[1].jsonl"]
    assert build("ultrachat", tmp_path / "raw[12].jsonl", tmp_path / "out2") == 0  # a glob
    assert stats(tmp_path / "out2")["rows_in"] == 2


def test_fifo_or_device_in_a_glob_or_folder_is_an_error_before_reading(tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    write(folder / "a.jsonl", good_lines("ultrachat", 2))
    os.mkfifo(folder / "b.jsonl")
    os.symlink("/dev/zero", folder / "c.jsonl")
    cases = [(f"{folder}/*.jsonl", f"{folder / 'b.jsonl'}: is a FIFO (named pipe)"),
             (str(folder), f"{folder / 'c.jsonl'}: is a character device (a link to /dev/zero)")]
    for inp, expected in cases:  # a glob, then a folder
        result = subprocess.run(  # a subprocess with a timeout: a regression cannot hang
            [sys.executable, "-m", "pipelines.build_ultrachat", "--input", inp, "--output-dir",
             str(tmp_path / "out"), "--no-progress", "--decontaminate", "off"],
            cwd=REPO, capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, result.stderr
        assert expected in result.stderr and "not a regular file" in result.stderr
        assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()
        (folder / "b.jsonl").unlink(missing_ok=True)


# ------------------------------------------------------------------ UltraFeedback ratings


def with_rating(value, index: int = 0) -> str:
    row = json.loads(json.dumps(GOOD["ultrafeedback"]))
    row["instruction"] = f"Prompt {index}."
    row["completions"][1]["annotations"]["honesty"]["Rating"] = value
    return json.dumps(row)


BAD_RATINGS = [" 4", "5.0", 4.5, "2.5", "1e0", 5.0, 0, 6, "five", True]


def test_rating_outside_the_raw_values_is_a_bad_row(tmp_path, capsys):
    good = json.dumps(GOOD["ultrafeedback"])
    for value in BAD_RATINGS:
        inp = write(tmp_path / "raw.jsonl", [good, with_rating(value)])
        assert build("ultrafeedback", inp, tmp_path / "out") == 2, value
        err = capsys.readouterr().err
        assert err.startswith(f"error: {inp}:2: field 'completions[1].annotations.honesty."
                              f"Rating': expected a rating \"1\"..\"5\" or \"N/A\""), err
        assert f"found {value!r} (JSON integers 1..5 are accepted too" in err
        assert "Traceback" not in err
    assert not (tmp_path / "out").exists()
    inp = write(tmp_path / "raw.jsonl", [good] + [with_rating(v, i) for i, v in
                                                   enumerate(BAD_RATINGS)])
    assert build("ultrafeedback", inp, tmp_path / "out", "--on-bad-row", "drop") == 0
    counts = stats(tmp_path / "out")
    assert counts["dropped"] == {"invalid_row": len(BAD_RATINGS)} and counts["kept"] == 1


def test_rating_strings_integers_and_na_are_accepted(tmp_path):
    """The second completion of GOOD is rated 3 on each aspect; its honesty is changed."""
    accepted = {"3": 3.0, 3: 3.0, "N/A": 3.0, None: 3.0, 1: 2.5, "5": 3.5}
    inp = write(tmp_path / "raw.jsonl", [with_rating(v, i) for i, v in enumerate(accepted)])
    assert build("ultrafeedback", inp, tmp_path / "out", "--rejected", "lowest",
                 "--test-share", "0") == 0
    table = pq.read_table(next((tmp_path / "out" / "data").glob("train_prefs-*.parquet")))
    scores = dict(zip(table.column("prompt").to_pylist(),
                      table.column("score_rejected").to_pylist()))
    assert scores == {f"Prompt {i}.": score for i, score in enumerate(accepted.values())}
