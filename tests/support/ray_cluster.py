"""A two-node Ray cluster on this machine (``ray.cluster_utils.Cluster``: a head and a worker
node, each with its own raylet and one CPU), with this process connected to it as the driver."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

import psutil


@contextlib.contextmanager
def two_node_cluster() -> Iterator[str]:
    """Start the cluster, connect to it; yield its address (for ``--ray-address``)."""
    import ray
    from ray.cluster_utils import Cluster

    sigterm = signal.getsignal(signal.SIGTERM)  # Ray replaces it; the other tests need ours
    cluster = Cluster(initialize_head=True,
                      head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, logging_level="WARNING")
        signal.signal(signal.SIGTERM, sigterm)
        yield cluster.address
    finally:
        ray.shutdown()
        cluster.shutdown()
        signal.signal(signal.SIGTERM, sigterm)


def running_task(name: str) -> psutil.Process | None:
    """A worker of the cluster this process started that is running a task of function
    ``name`` now (Ray titles it ``ray::NAME`` while it runs one, ``ray::IDLE`` between tasks).
    Only this process's descendants are looked at: nothing of another Ray on the machine."""
    for proc in psutil.Process(os.getpid()).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if (proc.cmdline() or [""])[0].startswith(f"ray::{name}"):
                return proc
    return None
