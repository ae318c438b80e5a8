"""Bad input: a clear error naming the row and field (nothing written), or an ``invalid_row``
drop with ``--on-bad-row drop``; never a silent loss."""

from __future__ import annotations

import json

import pytest

from pipelines.build_ultrafeedback import main
from tests.support.ultrafeedback import completion, rated, raw_row, run_build
from zephyr_data.core.errors import ConfigError, InputError

GOOD = raw_row("A good prompt.", rated(5, 3))


def with_field(**changes):
    row = json.loads(json.dumps(GOOD))
    row.update(changes)
    return row


def with_completion(index, **changes):
    row = json.loads(json.dumps(GOOD))
    row["completions"][index].update(changes)
    return row


def without(key):
    row = json.loads(json.dumps(GOOD))
    del row[key]
    return row


def bad_rating(value):
    row = json.loads(json.dumps(GOOD))
    row["completions"][1]["annotations"]["honesty"]["Rating"] = value
    return row


# (second line of the file, field named in the error, words of the message)
BAD_ROWS = {
    "malformed JSON": ('{"instruction": "x", "completions": [', None, "malformed JSON"),
    "not an object": ("[1, 2, 3]", None, "expected a JSON object, found list"),
    "missing instruction": (without("instruction"), "instruction", "missing; the row has keys"),
    "instruction not a string": (with_field(instruction=["x"]), "instruction",
                                 "expected a string, found list"),
    "missing source": (without("source"), "source", "missing"),
    "completions not a list": (with_field(completions={"a": 1}), "completions",
                               "expected a list, found dict"),
    "completion not an object": (with_field(completions=["just text", "more"]),
                                 "completions[0]", "expected an object, found str"),
    "response not a string": (with_completion(1, response=42), "completions[1].response",
                              "expected a string, found int"),
    "rating not a number": (bad_rating("excellent"), "completions[1].annotations.honesty.Rating",
                            "expected a rating \"1\"..\"5\" or \"N/A\", found 'excellent'"),
    "rating out of range": (bad_rating("7"), "completions[1].annotations.honesty.Rating",
                            "found '7'"),
    "rating a boolean": (bad_rating(True), "completions[1].annotations.honesty.Rating",
                         "found True"),
    "annotations not an object": (with_completion(0, annotations="great"),
                                  "completions[0].annotations", "expected an object"),
    "aspect not an object": (with_completion(0, annotations={"honesty": 5}),
                             "completions[0].annotations.honesty", "expected an object"),
}


def write(path, second_line):
    line = second_line if isinstance(second_line, str) else json.dumps(second_line)
    path.write_text(json.dumps(GOOD) + "\n" + line + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("case", BAD_ROWS)
def test_bad_row_stops_the_run_naming_row_and_field(case, tmp_path):
    line, field, words = BAD_ROWS[case]
    path = write(tmp_path / "raw.jsonl", line)
    out = tmp_path / "out"
    with pytest.raises(InputError) as err:
        run_build(["--input", str(path), "--output-dir", str(out)])
    message = str(err.value)
    assert message.startswith(f"{path}:2:"), message
    assert err.value.field == field
    assert words in message
    assert "How to fix:" in message
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [path]  # no half-written folder left behind


@pytest.mark.parametrize("case", ["malformed JSON", "rating not a number",
                                  "completions not a list", "missing instruction"])
def test_bad_row_is_a_counted_drop_on_request(case, tmp_path):
    path = write(tmp_path / "raw.jsonl", BAD_ROWS[case][0])
    dump = tmp_path / "dropped.jsonl"
    result = run_build(["--input", str(path), "--output-dir", str(tmp_path / "out"),
                        "--on-bad-row", "drop", "--dump-dropped", str(dump)])
    assert (result.stats.rows_in, result.stats.kept) == (2, 1)
    assert dict(result.stats.dropped) == {"invalid_row": 1}
    (line,) = dump.read_text(encoding="utf-8").splitlines()
    dropped = json.loads(line)
    assert dropped["reason"] == "invalid_row" and dropped["ref"] == f"{path}:2"


def test_overall_score_not_a_number(tmp_path):
    row = raw_row("Q", [completion("a", overall="high"), completion("b")])
    path = write(tmp_path / "raw.jsonl", row)
    with pytest.raises(InputError, match=r"completions\[0\].overall_score.*found 'high'"):
        run_build(["--input", str(path), "--output-dir", str(tmp_path / "out"), "--score",
                   "overall"])


def test_non_utf8_bytes(tmp_path):
    path = tmp_path / "raw.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + b'{"instruction": "caf\xe9"}\n')
    with pytest.raises(InputError, match=r"raw.jsonl:2: not valid UTF-8: byte 0xe9"):
        run_build(["--input", str(path), "--output-dir", str(tmp_path / "out")])
    result = run_build(["--input", str(path), "--output-dir", str(tmp_path / "out"),
                        "--on-bad-row", "drop"])
    assert dict(result.stats.dropped) == {"invalid_row": 1}


def test_cli_reports_errors_without_a_traceback(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--input", str(tmp_path / "missing.jsonl"), "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --input {tmp_path / 'missing.jsonl'}: no such file")
    assert "How to fix:" in err and not out.exists()
    path = write(tmp_path / "raw.jsonl", BAD_ROWS["rating not a number"][0])
    assert main(["--input", str(path), "--output-dir", str(out), "--no-progress",
                 "--decontaminate", "off"]) == 2
    err = capsys.readouterr().err
    assert "raw.jsonl:2: field 'completions[1].annotations.honesty.Rating'" in err


@pytest.mark.parametrize("argv, words", [
    (["--score", "median"], "invalid choice: 'median'"),
    (["--rejected", "best"], "invalid choice: 'best'"),
])
def test_bad_choices_are_refused(argv, words, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--sample", "--output-dir", str(tmp_path / "out"), *argv])
    assert words in capsys.readouterr().err


def test_negative_test_size_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="test_size=-1: it must be 0 or more"):
        run_build(["--sample", "--output-dir", str(tmp_path / "out"), "--test-size", "-1"])
