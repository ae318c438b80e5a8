"""Where the map tasks run. ``local`` (the default) runs one task per worker process on this
machine; the output is the same whatever runs them and however many."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..core.stats import Stats
from ..io.readers import WorkUnit
from .map import MapSetup, map_shard
from .workers import run_in_processes


def shards(units: list[WorkUnit], count: int) -> list[list[WorkUnit]]:
    """``count`` shares of the work units, dealt round-robin so that each gets some of every
    file (the output does not depend on how they are dealt)."""
    return [units[i::count] for i in range(count)]


def run_map_local(setup: MapSetup, units: list[WorkUnit], num_proc: int,
                  on_progress: Callable[[int], Any]) -> Stats:
    """Run the map on ``num_proc`` worker processes (in this process for one)."""
    workers = min(num_proc, max(1, len(units)))
    stats = Stats()
    if workers == 1:
        return stats.merge(map_shard(setup, 0, units, on_progress))
    jobs = [(setup, i, share) for i, share in enumerate(shards(units, workers))]
    for part in run_in_processes(map_shard, jobs, on_progress):
        stats.merge(part)  # a worker's InputError was raised above, the others stopped
    return stats
