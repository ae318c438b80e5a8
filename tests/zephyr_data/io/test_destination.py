"""The output folder: a build replaces only what it wrote, refuses everything else before
reading, locks its output, follows the umask, and ends every failure in one line."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from pipelines.build_ultrachat import main
from pipelines.build_ultrafeedback import main as feedback_main
from zephyr_data.io.destination import output_lock

GOOD = {"id": "1", "data": ["How do I boil an egg?", "Put it in boiling water for 8 minutes."]}


def build(*args: str) -> int:
    return main([*args, "--no-progress", "--decontaminate", "off"])


def sample(out: Path, *args: str) -> int:
    return main(["--sample", "--output-dir", str(out), "--no-progress", *args])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def raw_file(path: Path, rows: int = 3) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({**GOOD, "id": str(i), "data": [f"Q{i}?", f"A{i}."]})
                            + "\n" for i in range(rows)))
    return path


def test_the_current_folder_is_never_replaced(tmp_path, monkeypatch, capsys):
    (tmp_path / "notes.txt").write_text("my notes")
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    for option in ([], ["--overwrite"]):
        assert sample(Path("."), *option) == 2
        assert "the current folder" in capsys.readouterr().err
    assert sample(tmp_path.parent, "--overwrite") == 2
    assert snapshot(tmp_path) == before


def test_a_folder_the_project_did_not_write_is_refused(tmp_path, capsys):
    work = tmp_path / "project"
    for name, text in {"notes.md": "notes", "src/main.py": "print(1)", ".git/HEAD": "ref"}.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    before = snapshot(work)
    assert sample(work) == 2
    err = capsys.readouterr().err
    assert f"--output-dir {work} is a folder this project did not write" in err
    assert "--overwrite" in err and "Traceback" not in err
    assert snapshot(work) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]  # no scratch, no lock


def test_overwrite_replaces_a_foreign_folder_on_request(tmp_path):
    work = tmp_path / "old"
    (work / "stale.txt").parent.mkdir()
    (work / "stale.txt").write_text("x")
    assert sample(work, "--overwrite") == 0
    assert not (work / "stale.txt").exists() and (work / "manifest.json").is_file()


def test_an_earlier_build_is_replaced_but_not_one_with_files_added(tmp_path, capsys):
    out = tmp_path / "out"
    assert sample(out) == 0
    assert sample(out) == 0  # a build of ours: replaced without a question
    (out / "my_analysis.ipynb").write_text("{}")
    assert sample(out) == 2
    assert "holds files a build does not write (my_analysis.ipynb)" in capsys.readouterr().err
    assert (out / "my_analysis.ipynb").is_file()


def test_the_input_folder_is_never_the_output(tmp_path, capsys):
    raw = raw_file(tmp_path / "raw" / "part.jsonl")
    before = snapshot(tmp_path / "raw")
    for output in (tmp_path / "raw", tmp_path / "raw" / "out"):
        assert build("--input", str(tmp_path / "raw"), "--output-dir", str(output)) == 2
        assert "Keep the two apart" in capsys.readouterr().err
    assert build("--input", str(tmp_path / "raw" / "**" / "*.jsonl"),
                 "--output-dir", str(tmp_path / "raw" / "out")) == 2
    assert "the next build would read its own output" in capsys.readouterr().err
    inner = raw_file(tmp_path / "built" / "in.jsonl")
    assert build("--input", str(inner), "--output-dir", str(tmp_path / "built"),
                 "--overwrite") == 2
    assert "inside the output folder" in capsys.readouterr().err
    assert snapshot(tmp_path / "raw") == before and raw.is_file() and inner.is_file()
    # a flat glob does not read the folders beside its files: an output there is fine
    assert build("--input", str(tmp_path / "raw" / "*.jsonl"),
                 "--output-dir", str(tmp_path / "raw" / "out")) == 0


def test_an_output_that_is_a_file_or_under_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "results.csv"
    target.write_text("a,b\n")
    assert sample(target) == 2
    assert "is an existing file, not a folder" in capsys.readouterr().err
    assert sample(target / "sub") == 2
    assert f"{target} is a file" in capsys.readouterr().err
    assert target.read_text() == "a,b\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]


def test_a_link_as_output_is_refused(tmp_path, capsys):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert sample(tmp_path / "link") == 2
    assert "symbolic link" in capsys.readouterr().err
    assert (tmp_path / "link").is_symlink()


def test_dump_dropped_inside_the_output_or_unwritable_fails_before_the_build(tmp_path, capsys):
    out = tmp_path / "out"
    assert sample(out, "--dump-dropped", str(out / "dropped.jsonl")) == 2
    assert "inside --output-dir" in capsys.readouterr().err
    assert not out.exists()
    (tmp_path / "afolder").mkdir()
    assert sample(out, "--dump-dropped", str(tmp_path / "afolder")) == 2
    assert "is a folder" in capsys.readouterr().err
    (tmp_path / "plain").write_text("")
    assert sample(out, "--dump-dropped", str(tmp_path / "plain" / "d.jsonl")) == 2
    assert "cannot be written" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_an_empty_input_is_an_error_unless_allowed(tmp_path, capsys, content):
    out = tmp_path / "out"
    assert sample(out) == 0
    before = snapshot(out)
    empty = tmp_path / "empty.jsonl"
    empty.write_text(content)
    assert build("--input", str(empty), "--output-dir", str(out)) == 2
    err = capsys.readouterr().err
    assert "no rows in 1 file(s)" in err and "--allow-empty" in err
    assert snapshot(out) == before
    assert build("--input", str(empty), "--output-dir", str(out), "--allow-empty") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stats"]["rows_in"] == 0 and "allow_empty" not in manifest["config"]


def test_empty_input_is_an_error_for_ultrafeedback_too(tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert feedback_main(["--input", str(empty), "--output-dir", str(tmp_path / "out"),
                          "--no-progress", "--decontaminate", "off"]) == 2
    assert "no rows in 1 file(s)" in capsys.readouterr().err


def test_a_second_build_of_the_same_output_waits_its_turn(tmp_path, capsys):
    out = tmp_path / "out"
    with output_lock(out):
        assert sample(out) == 2
        err = capsys.readouterr().err
        assert "another build is writing" in err and f"pid {os.getpid()}" in err
    assert not out.exists()
    assert sample(out) == 0  # the lock is free again, and its file is gone
    assert not (tmp_path / ".out.lock").exists()


def test_dead_builds_scratch_is_removed_but_nothing_else(tmp_path):
    out = tmp_path / "out"
    dead = tmp_path / ".out.tmp-deadbeef"
    dead.mkdir()
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid now names no process
    (dead / ".zephyr-scratch.json").write_text(json.dumps(
        {"pid": gone.pid, "host": socket.gethostname(), "created": 0}))
    (dead / "big.bin").write_bytes(b"0" * 1000)
    foreign = tmp_path / ".out.tmp-notours"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("not ours")
    assert sample(out) == 0
    assert not dead.exists()
    assert (foreign / "keep.txt").read_text() == "not ours"


@pytest.mark.parametrize("umask,mode", [(0o022, 0o755), (0o027, 0o750), (0o002, 0o775)])
def test_the_output_follows_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        assert sample(tmp_path / "out") == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "out" / "data").stat().st_mode) == mode


def test_debug_shows_the_traceback_and_the_default_does_not(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("")
    assert sample(target) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert sample(target, "--debug") == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "is an existing file" in err


def test_a_scratch_dir_is_used_and_emptied_whatever_the_ending(tmp_path, capsys):
    spill, out = tmp_path / "spill", tmp_path / "out"
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = spill / ".out.spill-deadbeef"  # left by a run killed on the spot
    dead.mkdir(parents=True)
    (dead / ".zephyr-scratch.json").write_text(json.dumps(
        {"pid": gone.pid, "host": socket.gethostname(), "created": 0}))
    foreign = spill / ".out.spill-notours"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("not ours")
    assert sample(out, "--scratch-dir", str(spill)) == 0
    assert sorted(p.name for p in spill.iterdir()) == [".out.spill-notours"]
    bad = raw_file(tmp_path / "in" / "raw.jsonl")
    bad.write_text(bad.read_text() + '{"id": "x", "data": [1]}\n')
    assert build("--input", str(bad), "--output-dir", str(tmp_path / "o2"),
                 "--scratch-dir", str(spill)) == 2
    assert "raw.jsonl:4" in capsys.readouterr().err
    assert sorted(p.name for p in spill.iterdir()) == [".out.spill-notours"]


def test_a_scratch_dir_inside_the_output_or_a_file_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    assert sample(out) == 0
    assert sample(out, "--scratch-dir", str(out / "spill")) == 2
    assert "--scratch-dir" in capsys.readouterr().err and not (out / "spill").exists()
    (tmp_path / "file").write_text("x")
    assert sample(tmp_path / "o2", "--scratch-dir", str(tmp_path / "file")) == 2
    assert "is a file" in capsys.readouterr().err
