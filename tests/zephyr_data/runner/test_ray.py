"""``--executor ray`` on a two-node Ray cluster of this machine: both pipelines write the local
output file by file; a killed worker's task runs again and its rows count once (or, without
retries, the run fails in one line and writes nothing); a bad row stops the run with the local
message; SIGTERM stops the tasks and leaves nothing; without Ray the option is a one-line error.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from benchmarks.synthetic import ultrafeedback_rows, write_jsonl, write_ultrachat
from pipelines import build_ultrachat, build_ultrafeedback
from tests.support.paths import REPO
from tests.support.ray_cluster import running_task
from zephyr_data.core.errors import ConfigError, InputError
from zephyr_data.io.readers import WorkUnit
from zephyr_data.runner.ray_stages import map_task
from zephyr_data.runner.ray_tasks import attempt_folder

MAIN = {"ultrachat": build_ultrachat.main, "ultrafeedback": build_ultrafeedback.main}
# Sampling, a test split by count, and files that start inside a row group.
OPTIONS = {"ultrachat": ["--decontaminate", "off", "--target-size", "1800",
                         "--max-rows-per-shard", "700"],
           "ultrafeedback": ["--decontaminate", "off", "--max-rows-per-shard", "300"]}


def on_ray(address: str) -> list[str]:
    return ["--executor", "ray", "--ray-address", address, "--no-progress"]


def data_files(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((folder / "data").iterdir())}


def assert_same_build(local: Path, ray: Path, local_dump: Path, ray_dump: Path) -> None:
    assert data_files(ray) == data_files(local) != {}
    mine, theirs = (json.loads((f / "manifest.json").read_text()) for f in (ray, local))
    for key in ("fingerprint", "files", "splits", "stats", "config", "input"):
        assert mine[key] == theirs[key], key
    for side in ("truecased.jsonl",):
        assert (ray / side).is_file() == (local / side).is_file()
        if (local / side).is_file():
            assert (ray / side).read_bytes() == (local / side).read_bytes()
    lines = ray_dump.read_text().splitlines()
    assert sorted(lines) == sorted(local_dump.read_text().splitlines())
    assert len(lines) == mine["stats"]["dropped_total"]


def leftovers(*folders: Path) -> list[str]:
    return sorted(p.name for folder in folders if folder.is_dir() for p in folder.iterdir()
                  if p.name.startswith("."))


@pytest.fixture(scope="module")
def real_text(tmp_path_factory, text_pool) -> dict[str, Path]:
    """2,030 raw UltraChat dialogues of real text (30 repeated) and 1,000 UltraFeedback rows."""
    root = tmp_path_factory.mktemp("real")
    first, _ = write_ultrachat(text_pool, root / "ultrachat", 2000, rows_per_file=1000)
    repeats = first.read_text(encoding="utf-8").splitlines(keepends=True)[:30]
    (root / "ultrachat" / "repeats.jsonl").write_text("".join(repeats), encoding="utf-8")
    write_jsonl(ultrafeedback_rows(text_pool, 1000, 0), root / "ultrafeedback" / "rows.jsonl")
    return {name: root / name for name in MAIN}


@pytest.fixture(scope="module")
def local_real(real_text, tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """The local builds of ``real_text``, with their dumps of dropped rows."""
    root = tmp_path_factory.mktemp("local")
    builds = {}
    for name, main in MAIN.items():
        out, dump = root / name, root / f"{name}.jsonl"
        assert main(["--input", str(real_text[name]), "--output-dir", str(out),
                     "--dump-dropped", str(dump), "--batch-size", "150", "--no-progress",
                     *OPTIONS[name]]) == 0
        builds[name] = out, dump
    return builds


@pytest.mark.parametrize("name", list(MAIN))
def test_the_samples_match_the_local_build_file_by_file(name, ray_cluster, request, tmp_path):
    local, local_dump = request.getfixturevalue(f"{name}_sample")
    out, dump = tmp_path / "out", tmp_path / "dropped.jsonl"
    assert MAIN[name](["--sample", "--output-dir", str(out), "--dump-dropped", str(dump),
                       *on_ray(ray_cluster)]) == 0
    assert_same_build(local, out, local_dump, dump)


@pytest.mark.parametrize("name", list(MAIN))
def test_real_text_matches_the_local_build_file_by_file(name, ray_cluster, real_text,
                                                        local_real, tmp_path):
    out, dump = tmp_path / "out", tmp_path / "dropped.jsonl"
    assert MAIN[name](["--input", str(real_text[name]), "--output-dir", str(out),
                       "--dump-dropped", str(dump), "--batch-size", "150",
                       "--scratch-dir", str(tmp_path / "spill"), *OPTIONS[name],
                       *on_ray(ray_cluster)]) == 0
    local, local_dump = local_real[name]
    assert_same_build(local, out, local_dump, dump)
    assert len(list((local / "data").glob("train_*"))) >= 2  # several files
    assert leftovers(tmp_path / "spill", tmp_path) == []


@pytest.mark.parametrize("minimum, per_bucket, buckets", [(5, 1 << 40, 5),
                                                         (64, 32 << 10, None)])
def test_the_bucket_count_changes_no_byte(real_text, local_real, tmp_path, monkeypatch, caplog,
                                          minimum, per_bucket, buckets):
    """Buckets are ranges of prompt_id and the writer's bytes depend on the rows only (not on
    where one bucket's rows end inside a row group), so a larger input is cut into more buckets
    (the reduce holds one at a time) with the same output: here 5 buckets, and one per 32 KiB
    of input (hundreds). A local build on two workers, which get the count from the driver."""
    from zephyr_data.runner import map as map_stage

    monkeypatch.setattr(map_stage, "NUM_BUCKETS", minimum)
    monkeypatch.setattr(map_stage, "BUCKET_INPUT_BYTES", per_bucket)
    size = sum(p.stat().st_size for p in real_text["ultrachat"].iterdir())
    out = tmp_path / "out"
    with caplog.at_level("INFO", logger="zephyr_data.runner.build"):
        assert build_ultrachat.main(["--input", str(real_text["ultrachat"]), "--output-dir",
                                     str(out), "--batch-size", "150", "--no-progress",
                                     "--num-proc", "2", *OPTIONS["ultrachat"]]) == 0
    expected = buckets or -(-size // per_bucket)
    assert expected > 100 or buckets
    assert f"spilling into {expected} buckets" in caplog.text
    assert data_files(out) == data_files(local_real["ultrachat"][0])


def kill_during_map(real_text: dict[str, Path], out: Path, spill: Path, address: str,
                    *options: str) -> int:
    """Build the 1,000 UltraFeedback rows as one map task (one work unit; UltraFeedback's
    workers start fast, with no truecasing model to load) in a thread, and kill the worker
    running it once the task has made its attempt's folder and before it spills (about a
    second of work); the command's exit status."""
    argv = ["--input", str(real_text["ultrafeedback"]), "--output-dir", str(out),
            "--batch-size", "1000", "--scratch-dir", str(spill), *OPTIONS["ultrafeedback"],
            *on_ray(address), *options]
    status: list[int] = []
    thread = threading.Thread(target=lambda: status.append(build_ultrafeedback.main(argv)))
    thread.start()
    victim, deadline = None, time.monotonic() + 120
    while victim is None and thread.is_alive() and time.monotonic() < deadline:
        attempts = list(spill.glob(".*.spill-*/map/s*"))
        if attempts and not any((a / "buckets").exists() for a in attempts):
            victim = running_task("map_task")
        time.sleep(0.01)
    assert victim is not None, "the map task was not seen running"
    victim.kill()
    thread.join(timeout=300)
    return status[0]


def test_a_killed_worker_is_run_again_and_its_rows_count_once(ray_cluster, real_text,
                                                             local_real, tmp_path, caplog):
    out = tmp_path / "out"
    assert kill_during_map(real_text, out, tmp_path / "spill", ray_cluster) == 0
    assert "1 task attempt(s) were lost" in caplog.text  # the killed one, run again
    local = local_real["ultrafeedback"][0]
    assert data_files(out) == data_files(local)
    stats = [json.loads((f / "manifest.json").read_text())["stats"] for f in (out, local)]
    assert stats[0] == stats[1]  # rows_in and every drop counted once


def test_a_killed_worker_without_retries_fails_in_one_line(ray_cluster, real_text, tmp_path,
                                                          capsys):
    out, spill = tmp_path / "out", tmp_path / "spill"
    status = kill_during_map(real_text, out, spill, ray_cluster, "--ray-max-retries", "0")
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert err[-1].startswith("error: a Ray worker died running a map task, which was tried "
                              "once (--ray-max-retries 0)")
    assert "Nothing was written" in err[-1] and "Traceback" not in "\n".join(err)
    assert not out.exists() and leftovers(tmp_path, spill) == []


def test_a_bad_row_stops_the_run_with_the_local_message(ray_cluster, real_text, tmp_path,
                                                        capsys):
    lines = (real_text["ultrafeedback"] / "rows.jsonl").read_text().splitlines(keepends=True)
    row = json.loads(lines[40])
    row["completions"][1]["annotations"] = 5
    bad = tmp_path / "in" / "raw.jsonl"
    bad.parent.mkdir()
    bad.write_text("".join(lines[:40]) + json.dumps(row) + "\n" + "".join(lines[41:80]))
    errors = []
    for extra in ([], ["--scratch-dir", str(tmp_path / "spill"), *on_ray(ray_cluster)]):
        out = tmp_path / f"out{len(errors)}"
        assert build_ultrafeedback.main(["--input", str(bad), "--output-dir", str(out),
                                         "--decontaminate", "off", "--batch-size", "20",
                                         "--no-progress", *extra]) == 2
        errors.append(capsys.readouterr().err.split("error: ", 1)[1])
        assert not out.exists()
    assert errors[1] == errors[0]
    assert errors[0].startswith(f"{bad}:41: field 'completions[1].annotations': expected an "
                                "object")
    assert leftovers(tmp_path, tmp_path / "spill") == []


def test_sigterm_stops_the_tasks_and_leaves_nothing(ray_cluster, real_text, tmp_path):
    """A driver of its own (a new Ray job), stopped while its map tasks run."""
    out, spill = tmp_path / "out", tmp_path / "spill"
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.build_ultrachat", "--input",
                             str(real_text["ultrachat"]), "--output-dir", str(out),
                             "--batch-size", "250", "--scratch-dir", str(spill),
                             *OPTIONS["ultrachat"], *on_ray(ray_cluster)],
                            cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while running_task("map_task") is None and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1].startswith("terminated (SIGTERM): nothing was written")
    assert "Traceback" not in err
    deadline = time.monotonic() + 30
    while running_task("map_task") is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert running_task("map_task") is None  # cancelled, not left running
    assert not out.exists() and leftovers(tmp_path, spill) == []


def test_a_node_that_cannot_see_the_files_says_so(tmp_path):
    """What a task says on a node that does not mount the input or the spill folder (the
    task functions, called as Ray calls them on such a node)."""
    with pytest.raises(ConfigError, match=r"spill folder .*missing is not visible on node .*"
                                          "Pass --scratch-dir on storage that every node"):
        attempt_folder(str(tmp_path / "missing"), "s00000")
    unit = WorkUnit(str(tmp_path / "gone.jsonl"), "jsonl", 0, 10)
    with pytest.raises(InputError, match="gone.jsonl: not found on node .*every node of the "
                                         "cluster must see the input"):
        map_task(None, 0, [unit], str(tmp_path))


def test_without_ray_the_option_is_one_line_naming_the_install(tmp_path):
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['ray'] = None\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hide), str(REPO)])}
    proc = subprocess.run([sys.executable, "-m", "pipelines.build_ultrachat", "--sample",
                           "--executor", "ray", "--output-dir", str(tmp_path / "out")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --executor ray needs Ray, which is not installed: run "
                           'pip install -e ".[ray]"')
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()
