"""A Ray cluster on a Slurm allocation, running one pipeline (``python -m pipelines.slurm_ray``).

One ``srun`` task per node runs the same command, ``ray symmetric-run`` (Ray's own launcher for
this): on the first node of the job it starts the Ray head, waits until every node has joined
and runs the pipeline there with ``--executor ray``; on the other nodes it starts a Ray worker
that joins the head; at the end Ray stops on every node. The input, ``--scratch-dir`` and the
output must be on storage every node mounts at the same path.

Ray's token authentication is on by default for a cluster that finds a token; the nodes and the
driver must agree, so the launcher asks for ``RAY_AUTH_MODE`` to be set: the batch script sets
``token`` with a fresh ``RAY_AUTH_TOKEN`` for the job, which ``srun`` passes to every node.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..core.errors import ConfigError

DEFAULT_PORT = 6379
PIPELINES = {"ultrachat": "pipelines.build_ultrachat",
             "ultrafeedback": "pipelines.build_ultrafeedback"}
# How long the head waits for every node to join (Ray's default is 30 s).
JOIN_TIMEOUT_S = 300


def expand_hostlist(hostlist: str) -> list[str]:
    """Expand a Slurm hostlist such as ``gpu[01-02,07],login1`` (what ``scontrol show hostnames``
    does) into host names, keeping zero padding."""
    hosts: list[str] = []
    for match in re.finditer(r"([^,\[]+)(?:\[([^\]]+)\])?([^,]*)", hostlist):
        prefix, ranges, suffix = match.groups()
        if not ranges:
            hosts.append(prefix + suffix)
            continue
        for part in ranges.split(","):
            lo, _, hi = part.partition("-")
            hi = hi or lo
            if not (lo.isdigit() and hi.isdigit()) or int(hi) < int(lo):
                raise ConfigError(f"Cannot read the range {part!r} in hostlist {hostlist!r}.")
            hosts.extend(f"{prefix}{i:0{len(lo)}d}{suffix}" for i in range(int(lo), int(hi) + 1))
    if not hosts:
        raise ConfigError(f"Hostlist {hostlist!r} names no hosts.")
    return hosts


@dataclass
class RayLayout:
    """The nodes of the job; the first is the Ray head."""

    hosts: list[str]
    port: int = DEFAULT_PORT
    cpus_per_node: int | None = None

    @property
    def address(self) -> str:
        return f"{self.hosts[0]}:{self.port}"


def job_hosts(env: Mapping[str, str], nodelist: str | None, error: type[Exception],
              example: str) -> list[str]:
    """The hosts of the Slurm job this runs in (or of ``nodelist``, for a dry run), checked
    against ``SLURM_NNODES``; a missing or inconsistent nodelist raises ``error``."""
    nodelist = nodelist or env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
    if not nodelist:
        raise error("No Slurm nodelist: SLURM_JOB_NODELIST is unset, so this is not running "
                    "inside a Slurm job. Run it with srun inside an allocation, or pass "
                    f"--nodelist '{example}' with --dry-run to see the commands.")
    try:
        hosts = expand_hostlist(nodelist)
    except ConfigError as err:
        raise error(str(err)) from None
    nnodes = env.get("SLURM_NNODES")
    if nnodes and int(nnodes) != len(hosts):
        raise error(f"SLURM_NNODES={nnodes} but the nodelist {nodelist!r} names "
                    f"{len(hosts)} hosts.")
    return hosts


def layout_from_env(env: Mapping[str, str], *, nodelist: str | None = None,
                    port: int = DEFAULT_PORT, cpus_per_node: int | None = None) -> RayLayout:
    """The layout of the Slurm job this runs in (or of ``nodelist``, for a dry run)."""
    hosts = job_hosts(env, nodelist, ConfigError, "node[01-04]")
    cpus = cpus_per_node or next((int(env[k]) for k in ("SLURM_CPUS_PER_TASK",
                                                         "SLURM_CPUS_ON_NODE") if env.get(k)),
                                 None)
    return RayLayout(hosts, port, cpus)


def check_auth(env: Mapping[str, str]) -> None:
    """Every node and the driver must use the same Ray authentication: say which."""
    mode = env.get("RAY_AUTH_MODE", "")
    if mode not in ("token", "disabled"):
        raise ConfigError(f"RAY_AUTH_MODE={mode!r}: set it to 'token' with RAY_AUTH_TOKEN (one "
                          "for the job, as the --print-sbatch script does), or to 'disabled' "
                          "on a trusted network, so that every node and the driver agree.")
    if mode == "token" and not env.get("RAY_AUTH_TOKEN") and not env.get("RAY_AUTH_TOKEN_PATH"):
        raise ConfigError("RAY_AUTH_MODE=token but RAY_AUTH_TOKEN is unset: export one for the "
                          "job, e.g. RAY_AUTH_TOKEN=$(python -c 'import secrets; "
                          "print(secrets.token_hex(32))').")


def node_command(layout: RayLayout, pipeline: str, args: Sequence[str],
                 python: str = "python") -> list[str]:
    """The command every node runs: Ray on all nodes, the pipeline on the head."""
    if pipeline not in PIPELINES:
        raise ConfigError(f"--pipeline {pipeline!r}: expected one of {sorted(PIPELINES)}.")
    for flag in ("--executor", "--ray-address"):
        if any(a == flag or a.startswith(flag + "=") for a in args):
            raise ConfigError(f"{flag} is set by the launcher (--executor ray --ray-address "
                              f"{layout.address}): leave it out of the pipeline's options.")
    if not any(a == "--output-dir" or a.startswith("--output-dir=") for a in args):
        raise ConfigError("the pipeline's options lack --output-dir: pass it after '--', on "
                          "storage every node sees.")
    cpus = ["--num-cpus", str(layout.cpus_per_node)] if layout.cpus_per_node else []
    return ["ray", "symmetric-run", "--address", layout.address,
            "--min-nodes", str(len(layout.hosts)), *cpus, "--",
            python, "-m", PIPELINES[pipeline], "--executor", "ray", "--ray-address",
            layout.address, "--no-progress", *args]


SBATCH_TEMPLATE = """#!/bin/bash
#SBATCH --job-name=zephyr-data-{pipeline}
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=64
#SBATCH --exclusive
#SBATCH --output=logs/%x-%j.out
# Every node must see the checkout, its virtual environment, the input, --scratch-dir and the
# output at the same paths (a shared file system). Pass the pipeline's options after "--".
set -euo pipefail
export RAY_SYMMETRIC_RUN_CLUSTER_WAIT_TIMEOUT={timeout}
# One Ray token for the job: srun passes it to every node and to the driver on the head.
export RAY_AUTH_MODE=token
export RAY_AUTH_TOKEN=$(python -c 'import secrets; print(secrets.token_hex(32))')
srun --kill-on-bad-exit=1 python -m pipelines.slurm_ray --pipeline {pipeline} -- "$@"
"""


def sbatch_script(pipeline: str) -> str:
    if pipeline not in PIPELINES:
        raise ConfigError(f"--pipeline {pipeline!r}: expected one of {sorted(PIPELINES)}.")
    return SBATCH_TEMPLATE.format(pipeline=pipeline, timeout=JOIN_TIMEOUT_S)
