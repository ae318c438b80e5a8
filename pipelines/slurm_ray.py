"""Run a pipeline on a Ray cluster made of a Slurm allocation, one ``srun`` task per node:

    sbatch --nodes=4 --ntasks-per-node=1 --cpus-per-task=64 --exclusive --wrap \\
        "srun python -m pipelines.slurm_ray --pipeline ultrachat -- --input /shared/raw \\
         --output-dir /shared/ultrachat_200k --scratch-dir /shared/scratch --target-size 230000"

(``--print-sbatch`` writes a complete batch script.) Every node runs ``ray symmetric-run``: the
first node of the job starts the Ray head, the others join it, the head runs the pipeline with
``--executor ray`` once every node is up, and Ray stops on every node at the end. ``--dry-run``
prints each node's command instead of running it. The checkout, its environment, the input,
``--scratch-dir`` and ``--output-dir`` must be on storage every node mounts at the same path.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Mapping, Sequence

from zephyr_data.core.errors import ZephyrDataError
from zephyr_data.runner.slurm import (
    DEFAULT_PORT,
    PIPELINES,
    check_auth,
    layout_from_env,
    node_command,
    sbatch_script,
)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.slurm_ray", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", choices=sorted(PIPELINES), required=True)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="The Ray head's port.")
    parser.add_argument("--cpus-per-node", type=int,
                        help="CPUs Ray uses on each node (default: SLURM_CPUS_PER_TASK).")
    parser.add_argument("--nodelist", help="Override SLURM_JOB_NODELIST (dry runs).")
    parser.add_argument("--dry-run", action="store_true",
                        help="Print every node's command instead of running this node's.")
    parser.add_argument("--print-sbatch", action="store_true", help="Print a batch script.")
    parser.add_argument("pipeline_args", nargs="*", metavar="-- OPTIONS",
                        help="The pipeline's options (--input, --output-dir, ...), after '--'.")
    args = parser.parse_args(argv)
    env = os.environ if env is None else env
    try:
        if args.print_sbatch:
            print(sbatch_script(args.pipeline), end="")
            return 0
        layout = layout_from_env(env, nodelist=args.nodelist, port=args.port,
                                 cpus_per_node=args.cpus_per_node)
        command = node_command(layout, args.pipeline, args.pipeline_args, sys.executable)
        if not args.dry_run:
            check_auth(env)
    except ZephyrDataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.dry_run:
        cpus = f", {layout.cpus_per_node} CPUs each" if layout.cpus_per_node else ""
        print(f"# {len(layout.hosts)} nodes{cpus}; Ray head {layout.address}, which runs the "
              "pipeline once every node has joined")
        for host in layout.hosts:
            print(f"[{host}] {shlex.join(command)}")
        return 0
    print(shlex.join(command), flush=True)
    os.execvp(command[0], command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
