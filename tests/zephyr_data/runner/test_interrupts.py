"""Kills, interrupts, concurrent builds and a full or read-only disk, on real processes: no
process of a run outlives it, no scratch outlives the next run, the previous output stays, and
every ending is one line."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from benchmarks.synthetic import TextPool, write_ultrachat
from pipelines.build_ultrachat import main
from tests.support.paths import REPO

BUILD = [sys.executable, "-m", "pipelines.build_ultrachat", "--no-progress",
         "--decontaminate", "off"]


@pytest.fixture(scope="module")
def big_input(tmp_path_factory, shared_data) -> Path:
    """About 50 MB of raw UltraChat whose turns are real text: a build of several seconds."""
    folder = tmp_path_factory.mktemp("big")
    write_ultrachat(TextPool.load(shared_data), folder, 8000)
    return folder


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([*BUILD, *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def is_worker(process: psutil.Process, build: int) -> bool:
    """A worker: spawned, or forked by the worker server (which is the build's child)."""
    try:
        command = " ".join(process.cmdline())
        return "spawn_main" in command or ("forkserver" in command and process.ppid() != build)
    except psutil.Error:
        return False


def workers_of(proc: subprocess.Popen, n: int = 2, timeout: float = 60) -> list[psutil.Process]:
    """Every process of the run (workers, their server, the resource tracker), once ``n``
    workers are up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = psutil.Process(proc.pid).children(recursive=True)
        if sum(is_worker(c, proc.pid) for c in children) >= n:
            time.sleep(1.0)  # let them start reading
            return psutil.Process(proc.pid).children(recursive=True)
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError("the workers did not start")


def gone_within(processes: list[psutil.Process], seconds: float) -> list[psutil.Process]:
    _, alive = psutil.wait_procs(processes, timeout=seconds)
    return alive


def leftovers(parent: Path, name: str) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}"))


@pytest.fixture(scope="module")
def sample_output(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample") / "out"
    assert main(["--sample", "--output-dir", str(out), "--no-progress"]) == 0
    return out


@pytest.fixture
def previous(tmp_path, sample_output) -> tuple[Path, dict[str, bytes]]:
    """A finished build at ``tmp_path/out``, and its data files."""
    out = Path(shutil.copytree(sample_output, tmp_path / "out"))
    return out, {p.name: p.read_bytes() for p in sorted((out / "data").iterdir())}


def test_sigterm_stops_every_process_and_cleans_scratch(big_input, previous):
    out, before = previous
    proc = start("--input", str(big_input), "--output-dir", str(out), "--num-proc", "2",
                 "--batch-size", "500")
    family = workers_of(proc)
    assert leftovers(out.parent, "out")  # the build is under way: scratch and lock exist
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 143
    assert err.strip().splitlines()[-1].startswith("terminated (SIGTERM): nothing was written")
    assert "Traceback" not in err
    assert gone_within(family, 10) == []
    assert leftovers(out.parent, "out") == []
    assert {p.name: p.read_bytes() for p in sorted((out / "data").iterdir())} == before


def test_kill_9_leaves_no_process_and_the_next_run_removes_its_scratch(big_input, previous):
    out, before = previous
    proc = start("--input", str(big_input), "--output-dir", str(out), "--num-proc", "2",
                 "--batch-size", "500")
    family = workers_of(proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    assert gone_within(family, 10) == []
    stale = [n for n in leftovers(out.parent, "out") if ".tmp-" in n]
    assert stale, "a kill -9 cannot clean up: its scratch is left for the next run"
    assert {p.name: p.read_bytes() for p in sorted((out / "data").iterdir())} == before
    assert main(["--sample", "--output-dir", str(out), "--no-progress"]) == 0
    assert leftovers(out.parent, "out") == []


def test_ctrl_c_is_one_line_and_exit_130(big_input, previous):
    out, before = previous
    proc = start("--input", str(big_input), "--output-dir", str(out), "--num-proc", "2",
                 "--batch-size", "500")
    family = workers_of(proc)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends to the whole foreground group
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 130
    ending = [line for line in err.strip().splitlines() if not line.startswith("INFO ")]
    assert ending == ["interrupted: nothing was written; the previous output, "
                      "if any, is unchanged."]  # after the log lines (input format: auto)
    assert gone_within(family, 10) == []
    assert leftovers(out.parent, "out") == []
    assert {p.name: p.read_bytes() for p in sorted((out / "data").iterdir())} == before


def test_a_killed_worker_fails_the_run_in_one_line(big_input, tmp_path):
    out = tmp_path / "out"
    proc = start("--input", str(big_input), "--output-dir", str(out), "--num-proc", "2",
                 "--batch-size", "500")
    family = workers_of(proc)
    victim = next(p for p in family if is_worker(p, proc.pid))
    victim.kill()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "a worker process died before finishing its share" in err
    assert "Traceback" not in err
    assert gone_within(family, 10) == []
    assert not out.exists() and leftovers(tmp_path, "out") == []


def test_two_builds_of_one_output_at_once_never_mix(big_input, tmp_path):
    out = tmp_path / "out"
    first = start("--input", str(big_input), "--output-dir", str(out), "--batch-size", "500")
    workers_of(first, n=0)
    second = start("--input", str(big_input), "--output-dir", str(out), "--batch-size", "500")
    _, err2 = second.communicate(timeout=120)
    assert second.returncode == 2 and "another build is writing" in err2
    assert first.poll() is None  # the first build goes on undisturbed; stop it to save time
    os.kill(first.pid, signal.SIGTERM)
    first.communicate(timeout=10)
    assert first.returncode == 143
    assert leftovers(tmp_path, "out") == [] and not out.exists()


@contextlib.contextmanager
def tmpfs(path: Path, options: str):
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def sample_build_into(folder: Path) -> tuple[subprocess.CompletedProcess, str]:
    """Build the sample into ``folder / "out"``; the run and the last line of its stderr."""
    proc = subprocess.run([*BUILD, "--sample", "--output-dir", str(folder / "out")],
                          cwd=REPO, capture_output=True, text=True)
    return proc, proc.stderr.strip().splitlines()[-1]


@pytest.mark.skipif(not shutil.which("mount") or os.geteuid() != 0, reason="needs root to mount")
def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path):
    with tmpfs(tmp_path / "small", "size=64k") as small:
        proc, last = sample_build_into(small)
        assert proc.returncode == 1
        assert "No space left on device" in proc.stderr and "Traceback" not in proc.stderr
        assert last.startswith("error: ") and "No space left on device" in last
        assert os.listdir(small) == []


@pytest.mark.skipif(not shutil.which("mount") or os.geteuid() != 0, reason="needs root to mount")
def test_a_read_only_file_system_is_one_line(tmp_path):
    with tmpfs(tmp_path / "ro", "ro,size=64k") as ro:
        proc, last = sample_build_into(ro)
        assert proc.returncode == 1
        assert last.startswith("error: Read-only file system") and "read-only" in last
        assert "Traceback" not in proc.stderr
