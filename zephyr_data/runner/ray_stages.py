"""The map and the reduce as Ray tasks, byte-identical to the local run.

- Map: the work units are dealt into more shares than the cluster has CPUs (for balance, and
  so that a lost worker costs little); each share is a task that runs ``map_shard`` and spills
  into its attempt's folder, and returns its counts and the files it wrote.
- Reduce, per bucket: pass A (``bucket_draws``: duplicates, draws) as a task per bucket; the
  global choices from all draws in the driver (``decide``, as locally); pass B
  (``bucket_rows``: sample, split) as a task per bucket, writing the rows it keeps.
- Write: from the rows each bucket keeps, the driver knows which rows go into which output file;
  each file is a task (``ShardedParquetWriter`` started at its first row, whose bytes depend on
  the rows only), so the output is the local output, file by file.

The dropped rows are merged in a fixed order: the map's by share, then pass A's and pass B's by
bucket. Only the files of finished attempts are read.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ..core.errors import InputError
from ..core.stats import Stats
from ..io.readers import WorkUnit
from ..io.writer import ShardedParquetWriter, arrow_schema
from ..report.stats import ReportData
from ..steps.stages import Deduplicate, SplitPlan, TargetSize
from .executor import shards
from .map import MapSetup, bucket_folder, map_shard, spilled_buckets
from .ray_tasks import attempt_folder, cluster_cpus, run_tasks
from .reduce import (
    KEYS,
    Choices,
    bucket_draws,
    bucket_rows,
    decide,
    finish_splits,
    read_spilled,
    write_kept,
)

log = logging.getLogger(__name__)
UNITS_PER_TASK = 32  # at most, so that a lost worker costs little
PART_GROUP = 4096  # rows per row group of the rows a bucket keeps, read back by the writers
UNITS = {"map": " units", "dedup": " buckets", "split": " buckets"}


@dataclasses.dataclass
class RayRun:
    """What the stages share: the connection, the run's spill folder, retries, progress."""

    ray: Any
    spill: Path
    retries: int
    name: str
    progress: bool

    def stage(self, task: Callable[..., Any], jobs: list[tuple[Any, ...]], what: str,
              total: int | None = None, weight: Callable[[int], int] = lambda i: 1
              ) -> list[Any]:
        """Run ``jobs`` as tasks, with a progress bar over what they finish."""
        bar = tqdm(total=len(jobs) if total is None else total, desc=f"{self.name}: {what}",
                   unit=UNITS.get(what, " files"), disable=not self.progress, mininterval=1.0)
        try:
            return run_tasks(self.ray, task, jobs, retries=self.retries, what=what,
                             on_done=lambda i, _: bar.update(weight(i)))
        finally:
            bar.close()


# ------------------------------------------------------------------ the map


def map_task(setup: MapSetup, shard: int, units: list[WorkUnit], root: str
             ) -> tuple[Stats, str, dict[int, list[str]]]:
    """One share of the map, spilled into a folder of this attempt's own."""
    missing = next((u.path for u in units if not os.path.isfile(u.path)), None)
    if missing is not None:
        import socket

        raise InputError(missing, None, f"not found on node {socket.gethostname()}: every node "
                         "of the cluster must see the input.", "put it on storage every node "
                         "mounts at the same path (and HF_HOME too, for a Hub input).")
    folder = attempt_folder(root, f"s{shard:05d}")
    stats = map_shard(dataclasses.replace(setup, scratch=str(folder)), shard, units,
                      lambda rows: None)
    files = {b: sorted(f.name for f in bucket_folder(folder, b).iterdir())
             for b in spilled_buckets(folder)}
    return stats, folder.name, files


def run_map(run: RayRun, setup: MapSetup, units: list[WorkUnit]
            ) -> tuple[Stats, dict[int, list[Path]], list[Path]]:
    """The counts, the spilled files per bucket, and the dumps of dropped rows (in order)."""
    root = run.spill / "map"
    root.mkdir()
    count = min(len(units), max(4 * cluster_cpus(run.ray), math.ceil(len(units) /
                                                                  UNITS_PER_TASK)))
    parts = shards(units, count) if units else []
    results = run.stage(map_task, [(setup, i, part, str(root)) for i, part in enumerate(parts)],
                        "map", total=len(units), weight=lambda i: len(parts[i]))
    stats, files, dumps = Stats(), {}, []
    for shard, (part_stats, name, written) in enumerate(results):
        stats.merge(part_stats)
        for bucket, names in written.items():
            files.setdefault(bucket, []).extend(bucket_folder(root / name, bucket) / n
                                                for n in names)
        if setup.dump:
            dumps.append(root / name / f"dropped-w{shard:03d}.jsonl")
    lost = len(list(root.iterdir())) - len(results)
    if lost:
        log.warning("map: %d task attempt(s) were lost (their worker died) and run again; "
                    "only the files of finished attempts are read", lost)
    return stats, {b: sorted(f) for b, f in sorted(files.items())}, dumps


# ------------------------------------------------------------------ the reduce


def _dumper(folder: Path, name: str, dump: bool) -> tuple[Any, Callable[[str], Any] | None]:
    if not dump:
        return None, None
    sink = open(folder / name, "w", encoding="utf-8")
    return sink, sink.write


class Drawn(NamedTuple):
    """Pass A of one bucket."""

    duplicates: int
    selects: np.ndarray
    splits: np.ndarray
    dump: str | None  # its dropped rows, when dumping


class Kept(NamedTuple):
    """Pass B of one bucket: in ``folder``, ``train.parquet`` and ``test.parquet`` (the kept
    rows of each split, in order), ``side.jsonl`` and ``dropped.jsonl`` when asked for."""

    over: int
    rows: dict[str, int]  # "train", "test"
    folder: str
    report: ReportData  # what the report shows of the kept rows


def draws_task(files: list[Path], bucket: int, root: str, dump: bool) -> Drawn:
    """Pass A on one bucket: duplicates (dumped by this attempt), draws of the rows that stay."""
    table = read_spilled(files, columns=None if dump else KEYS)
    folder = attempt_folder(root, f"a{bucket:03d}") if dump else None
    sink, write = _dumper(folder, "dropped.jsonl", dump) if folder else (None, None)
    try:
        duplicates, selects, splits = bucket_draws(table, write)
    finally:
        if sink is not None:
            sink.close()
    return Drawn(duplicates, selects, splits, str(folder / "dropped.jsonl") if folder else None)


def rows_task(files: list[Path], bucket: int, root: str, plan: SplitPlan, choices: Choices,
              dump: bool, side: bool) -> Kept:
    """Pass B on one bucket: the rows over the target size (dumped), and the kept rows of the
    train and the test split written in order, with their side records."""
    folder = attempt_folder(root, f"b{bucket:03d}")
    table = read_spilled(files)
    sink, write = _dumper(folder, "dropped.jsonl", dump)
    try:
        over, keep, is_test = bucket_rows(table, plan, choices, write)
    finally:
        if sink is not None:
            sink.close()
    records = open(folder / "side.jsonl", "w", encoding="utf-8") if side else None
    report = ReportData(plan.names[:2])
    rows = {"train": 0, "test": 0}
    writers = {name: pq.ParquetWriter(folder / f"{name}.parquet", table.schema,
                                      compression="lz4", use_dictionary=False,
                                      write_statistics=False) for name in rows}

    def write_part(in_test: bool, part: pa.Table) -> None:
        name = "test" if in_test else "train"
        writers[name].write_table(part, row_group_size=PART_GROUP)
        rows[name] += part.num_rows

    try:
        write_kept(table, keep, is_test, choices, records, report, write_part)
    finally:
        for writer in writers.values():
            writer.close()
        if records is not None:
            records.close()
    return Kept(over, rows, str(folder), report)


def read_rows(path: str, start: int, stop: int) -> pa.Table:
    """Rows ``[start, stop)`` of a parquet file, reading only the row groups that hold them."""
    file = pq.ParquetFile(path)
    groups, first, at = [], None, 0
    for group in range(file.metadata.num_row_groups):
        rows = file.metadata.row_group(group).num_rows
        if at < stop and at + rows > start:
            groups.append(group)
            first = at if first is None else first
        at += rows
    return file.read_row_groups(groups).slice(start - (first or 0), stop - start)


def shard_task(split: str, shard: int, total: int, max_rows: int,
               pieces: list[tuple[str, int, int]], schema: pa.Schema, root: str
               ) -> tuple[str, int, int]:
    """Output file ``shard`` of ``split``, from ``pieces`` (file, first row, end) in order."""
    folder = attempt_folder(root, f"{split}-{shard:05d}")
    writer = ShardedParquetWriter(folder, split, schema, max_rows, first_row=shard * max_rows)
    for path, start, stop in pieces:
        writer.write(read_rows(path, start, stop))
    (path,) = writer.close(total=total)
    return str(path), writer.num_rows, writer.num_bytes


def file_pieces(parts: list[tuple[str, int]], max_rows: int) -> list[list[tuple[str, int, int]]]:
    """For each output file, the ``(part, start, stop)`` ranges of the parts (each a file of
    ``rows`` rows, in output order) it holds."""
    files: list[list[tuple[str, int, int]]] = []
    room = 0
    for path, rows in parts:
        at = 0
        while at < rows:
            if room == 0:
                files.append([])
                room = max_rows
            take = min(room, rows - at)
            files[-1].append((path, at, at + take))
            at, room = at + take, room - take
    return files


def run_reduce(run: RayRun, pipeline: Any, files: dict[int, list[Path]], data_dir: Path,
               stats: Stats, dump: bool, report: ReportData
               ) -> tuple[dict[str, dict[str, int]], list[Path]]:
    """Deduplicate, sample, split and write as tasks; the splits and the dumps (in order);
    fill ``report`` with what its plots show."""
    config, plan = pipeline.config, pipeline.split_plan()
    root = run.spill / "reduce"
    root.mkdir()
    buckets = sorted(files)
    drawn: list[Drawn] = run.stage(draws_task, [(files[b], b, str(root), dump)
                                                for b in buckets], "dedup")
    for part in drawn:
        stats.add(dropped={Deduplicate.name: part.duplicates})
    choices = decide([d.selects for d in drawn], [d.splits for d in drawn], plan)
    kept: list[Kept] = run.stage(rows_task, [(files[b], b, str(root), plan, choices, dump,
                                              bool(pipeline.side_file)) for b in buckets],
                                 "split")
    for bucket in kept:
        stats.add(dropped={TargetSize.name: bucket.over})
        report.merge(bucket.report)
    schema, max_rows = arrow_schema(pipeline.features()), config.max_rows_per_shard
    written = {}
    for role, name in (("train", plan.train), ("test", plan.test)):
        parts = [(str(Path(k.folder) / f"{role}.parquet"), k.rows[role])
                 for k in kept if k.rows[role]]
        pieces = file_pieces(parts, max_rows)
        jobs = [(name, i, len(pieces), max_rows, p, schema, str(root))
                for i, p in enumerate(pieces)]
        results = run.stage(shard_task, jobs, f"write {name}")
        paths = []
        for path, _, _ in results:
            paths.append(data_dir / Path(path).name)
            shutil.move(path, paths[-1])  # a rename on the same file system
        if not results:  # an empty split still gets one (empty) file, as locally
            writer = ShardedParquetWriter(data_dir, name, schema, max_rows)
            paths = writer.close()
        written[name] = (paths, sum(r[1] for r in results), sum(r[2] for r in results))
    splits = finish_splits(plan, written, stats)
    if pipeline.side_file:
        with open(data_dir.parent / pipeline.side_file, "wb") as side:
            for bucket in kept:
                with open(Path(bucket.folder) / "side.jsonl", "rb") as records:
                    shutil.copyfileobj(records, side)
    if not dump:
        return splits, []
    return splits, [Path(d.dump) for d in drawn if d.dump] + \
        [Path(k.folder) / "dropped.jsonl" for k in kept]
