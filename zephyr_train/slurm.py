"""Launch a recipe on a Slurm allocation (default 2 nodes x 8 GPUs), one ``srun`` task per node:

    sbatch --nodes=2 --ntasks-per-node=1 --gpus-per-node=8 --exclusive \\
        --wrap "srun python -m zephyr_train.slurm --recipe zephyr-7b/sft"

(``python -m zephyr_train.slurm --print-sbatch`` writes a complete batch script.) Each node
derives the rendezvous host (first node of the job), its machine rank (``SLURM_NODEID``) and the
process count (nodes x GPUs per node) from Slurm and runs ``accelerate launch`` with the ZeRO-3
config. ``--dry-run`` prints the exact command of every node instead of running it.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from zephyr_data.core.errors import ConfigError
from zephyr_data.runner.slurm import expand_hostlist as _expand_hostlist
from zephyr_data.runner.slurm import job_hosts
from zephyr_train.configs import (
    ACCELERATE_CONFIGS_DIR,
    RecipeError,
    recipe_task,
    resolve_recipe,
)

DEFAULT_PORT = 29500


def expand_hostlist(hostlist: str) -> list[str]:
    """Expand a Slurm hostlist such as ``gpu[01-02,07],login1`` into host names (the data
    side's ``zephyr_data.runner.slurm.expand_hostlist``, with this module's error type)."""
    try:
        return _expand_hostlist(hostlist)
    except ConfigError as err:
        raise RecipeError(str(err)) from None


def _gpus_per_node(env: Mapping[str, str]) -> int | None:
    for key in ("SLURM_GPUS_ON_NODE", "SLURM_GPUS_PER_NODE"):
        value = env.get(key)
        if value:  # "8" or "a100:8"
            return int(value.split(":")[-1].split("(")[0])
    return None


@dataclass
class SlurmLayout:
    hosts: list[str]
    gpus_per_node: int
    port: int = DEFAULT_PORT

    @property
    def num_processes(self) -> int:
        return len(self.hosts) * self.gpus_per_node

    @property
    def main_host(self) -> str:
        return self.hosts[0]


def layout_from_env(env: Mapping[str, str], *, nodelist: str | None = None,
                    gpus_per_node: int | None = None, port: int = DEFAULT_PORT) -> SlurmLayout:
    hosts = job_hosts(env, nodelist, RecipeError, "node[01-02]")
    gpus = gpus_per_node or _gpus_per_node(env) or 8
    return SlurmLayout(hosts=hosts, gpus_per_node=gpus, port=port)


def node_command(layout: SlurmLayout, machine_rank: int, *, task: str, recipe: str,
                 accelerate_config: str, overrides: Sequence[str] = ()) -> list[str]:
    if not 0 <= machine_rank < len(layout.hosts):
        raise RecipeError(f"Machine rank {machine_rank} is outside the {len(layout.hosts)} "
                          "nodes of this job.")
    return [
        "accelerate", "launch",
        "--config_file", accelerate_config,
        "--num_machines", str(len(layout.hosts)),
        "--num_processes", str(layout.num_processes),
        "--machine_rank", str(machine_rank),
        "--main_process_ip", layout.main_host,
        "--main_process_port", str(layout.port),
        "--rdzv_backend", "static",
        "-m", f"zephyr_train.{task}",
        "--config", recipe,
        *overrides,
    ]


SBATCH_TEMPLATE = """#!/bin/bash
#SBATCH --job-name=zephyr-7b-{task}
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=96
#SBATCH --exclusive
#SBATCH --output=logs/%x-%j.out
set -euo pipefail
srun python -m zephyr_train.slurm --recipe {recipe} "$@"
"""


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zephyr_train.slurm", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="zephyr-7b/sft",
                        help="Recipe file or packaged recipe name.")
    parser.add_argument("--task", choices=["sft", "dpo"], help="Default: the recipe's file name.")
    parser.add_argument("--accelerate_config", default=str(ACCELERATE_CONFIGS_DIR / "zero3.yaml"))
    parser.add_argument("--nodelist", help="Override SLURM_JOB_NODELIST (dry runs).")
    parser.add_argument("--gpus_per_node", type=int, help="Override SLURM_GPUS_ON_NODE.")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="Rendezvous port.")
    parser.add_argument("--dry-run", action="store_true",
                        help="Print every node's command instead of running this node's.")
    parser.add_argument("--print-sbatch", action="store_true", help="Print a batch script.")
    args, overrides = parser.parse_known_args(argv)
    env = os.environ if env is None else env

    recipe = str(resolve_recipe(args.recipe))
    task = recipe_task(recipe, args.task)
    if args.print_sbatch:
        print(SBATCH_TEMPLATE.format(task=task, recipe=args.recipe), end="")
        return 0
    layout = layout_from_env(env, nodelist=args.nodelist, gpus_per_node=args.gpus_per_node,
                             port=args.port)

    def command(rank: int) -> list[str]:
        return node_command(layout, rank, task=task, recipe=args.recipe,
                            accelerate_config=args.accelerate_config, overrides=overrides)

    if args.dry_run:
        print(f"# {len(layout.hosts)} nodes x {layout.gpus_per_node} GPUs = "
              f"{layout.num_processes} processes; rendezvous {layout.main_host}:{layout.port}")
        for rank, host in enumerate(layout.hosts):
            print(f"[{host}] {shlex.join(command(rank))}")
        return 0
    if "SLURM_NODEID" not in env:
        raise RecipeError("SLURM_NODEID is unset: start this with srun (one task per node), "
                          "or use --dry-run.")
    cmd = command(int(env["SLURM_NODEID"]))
    print(shlex.join(cmd), flush=True)
    os.execvp(cmd[0], cmd)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
