"""The Slurm launcher of a Ray run (``python -m pipelines.slurm_ray``): each node's command, the
batch script, and the mistakes it refuses before anything starts."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from pipelines.slurm_ray import main
from zephyr_data.core.errors import ConfigError
from zephyr_data.runner.slurm import check_auth, expand_hostlist

ENV = {"SLURM_JOB_NODELIST": "cpu[07-09]", "SLURM_NNODES": "3", "SLURM_CPUS_PER_TASK": "64"}
ARGS = ["--input", "/shared/raw", "--output-dir", "/shared/out", "--scratch-dir",
        "/shared/scratch", "--target-size", "230000"]


@pytest.fixture(autouse=True)
def _never_exec(monkeypatch):
    def refuse(*args):
        raise AssertionError(f"the launcher ran {args}")

    monkeypatch.setattr("pipelines.slurm_ray.os.execvp", refuse)


def test_the_dry_run_prints_every_nodes_command(capsys):
    assert main(["--pipeline", "ultrachat", "--dry-run", "--", *ARGS], env=ENV) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("# 3 nodes, 64 CPUs each; Ray head cpu07:6379")
    assert [line.split()[0] for line in out[1:]] == ["[cpu07]", "[cpu08]", "[cpu09]"]
    for line in out[1:]:
        command = shlex.split(line.split(" ", 1)[1])
        assert command[:9] == ["ray", "symmetric-run", "--address", "cpu07:6379",
                               "--min-nodes", "3", "--num-cpus", "64", "--"]
        assert command[10:] == ["-m", "pipelines.build_ultrachat", "--executor", "ray",
                                "--ray-address", "cpu07:6379", "--no-progress", *ARGS]


def test_the_batch_script_starts_one_task_per_node_with_one_token(capsys):
    assert main(["--pipeline", "ultrafeedback", "--print-sbatch"], env={}) == 0
    script = capsys.readouterr().out
    assert "#SBATCH --ntasks-per-node=1" in script
    assert "export RAY_AUTH_MODE=token" in script and "export RAY_AUTH_TOKEN=$(" in script
    assert script.rstrip().endswith("srun --kill-on-bad-exit=1 python -m pipelines.slurm_ray "
                                    '--pipeline ultrafeedback -- "$@"')
    check = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("args,env,message", [
    (["--", *ARGS], {}, "SLURM_JOB_NODELIST is unset"),
    (["--", *ARGS, "--executor", "local"], ENV, "--executor is set by the launcher"),
    (["--", "--input", "/shared/raw"], ENV, "lack --output-dir"),
    (["--", *ARGS], {**ENV, "SLURM_NNODES": "2"}, "SLURM_NNODES=2 but the nodelist"),
    (["--", *ARGS], ENV, "RAY_AUTH_MODE=''"),  # not a dry run: the nodes must agree on auth
])
def test_mistakes_are_one_line_before_anything_starts(args, env, message, capsys):
    assert main(["--pipeline", "ultrachat", *args], env=env) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1


def test_ray_authentication_must_be_chosen():
    check_auth({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "ab" * 32})
    check_auth({"RAY_AUTH_MODE": "disabled"})
    with pytest.raises(ConfigError, match="RAY_AUTH_TOKEN is unset"):
        check_auth({"RAY_AUTH_MODE": "token"})


def test_hostlists():
    assert expand_hostlist("gpu[07-08]") == ["gpu07", "gpu08"]
    assert expand_hostlist("a[1,3-4]-ib,login") == ["a1-ib", "a3-ib", "a4-ib", "login"]
    with pytest.raises(ConfigError, match="Cannot read the range"):
        expand_hostlist("a[4-1]")
