"""Stage 1, the map: a worker (or a task on a cluster) reads its share of the work units,
parses their rows, runs the steps, adds the draws of the global stages and spills the rows that
pass into ``prompt_id`` buckets on disk, so memory stays bounded by one unit and one spill
buffer per worker.

The draws are the runner's, not the pipeline's: ``_select`` (sampling to a target size) is
seeded from the global seed and the pipeline's ``sample_key`` column, ``_split`` (train or test)
is the first 64 bits of the ``prompt_id``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ..core.config import PipelineConfig
from ..core.ids import seeded_u64s
from ..core.stats import Stats
from ..io.readers import WorkUnit, read_unit
from .chain import parse_rows, run_steps

NUM_BUCKETS = 64  # at least; more for a large input (``bucket_count``)
BUCKET_INPUT_BYTES = 256 << 20  # of input per bucket at most: the reduce holds one bucket
MAX_BUCKETS = 65536  # the first four hex digits of the prompt_id
SPILL_ROWS = 8_000  # per worker: bounds the spill buffer to about 100 MB of dialogues
INTERNAL = {"_dedup_key": pa.string(), "_order_key": pa.string(), "_ref": pa.string(),
            "_extra": pa.string(), "_select": pa.uint64(), "_split": pa.uint64()}


def spill_schema(features: Any, side_file: bool) -> pa.Schema:
    """The output columns in their published types, then the runner's keys."""
    internal = [pa.field(k, v) for k, v in INTERNAL.items() if side_file or k != "_extra"]
    return pa.schema(list(features.arrow_schema) + internal)


@dataclass(frozen=True)
class MapSetup:
    """What every map task needs, sent once to each worker."""

    pipeline_class: type
    config: PipelineConfig
    scratch: str
    dump: bool
    buckets: int = NUM_BUCKETS


def bucket_count(input_bytes: int) -> int:
    """How many ``prompt_id`` ranges the rows are spilled into: enough that one bucket holds
    about ``BUCKET_INPUT_BYTES`` of input at most, so that the reduce's memory does not grow
    with the input. The output does not depend on it."""
    return min(MAX_BUCKETS, max(NUM_BUCKETS, -(-input_bytes // BUCKET_INPUT_BYTES)))


def bucket_of(prompt_ids: pl.Series, buckets: int = NUM_BUCKETS) -> pl.Series:
    return (prompt_ids.str.slice(0, 4).str.to_integer(base=16) * buckets // 65536) \
        .cast(pl.Int32)


def bucket_folder(root: Path, bucket: int) -> Path:
    return root / "buckets" / f"{bucket:05d}"


def spilled_buckets(root: Path) -> list[int]:
    """The buckets that rows were spilled to under ``root``, in order."""
    folder = root / "buckets"
    return sorted(int(b.name) for b in folder.iterdir()) if folder.is_dir() else []


def add_draws(frame: pl.DataFrame, seed: int, sample_key: str) -> pl.DataFrame:
    """The keys of the global stages: ``_select`` and ``_split`` (see the module docstring)."""
    selects = seeded_u64s(seed, frame[sample_key].to_list(), "select")
    splits = frame["prompt_id"].str.slice(0, 16).str.to_integer(base=16, dtype=pl.UInt64)
    return frame.with_columns(_select=pl.Series(selects, dtype=pl.UInt64), _split=splits)


class Spiller:
    """Buffers output rows and spills them to one parquet file per bucket and flush."""

    def __init__(self, scratch: Path, tag: str, schema: pa.Schema, buckets: int = NUM_BUCKETS):
        self.scratch, self.tag, self.schema, self.buckets = scratch, tag, schema, buckets
        self.frames: list[pl.DataFrame] = []
        self.buffered, self.files = 0, 0

    def add(self, frame: pl.DataFrame) -> None:
        if frame.height:
            self.frames.append(frame)
            self.buffered += frame.height
        if self.buffered >= SPILL_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.frames:
            return
        merged = pl.concat(self.frames, how="vertical_relaxed")
        merged = merged.with_columns(_bucket=bucket_of(merged["prompt_id"], self.buckets))
        for (bucket,), part in merged.partition_by("_bucket", as_dict=True,
                                                    include_key=False).items():
            folder = bucket_folder(self.scratch, bucket)
            folder.mkdir(parents=True, exist_ok=True)
            table = part.to_arrow().select(self.schema.names).cast(self.schema)
            pq.write_table(table, folder / f"{self.tag}-{self.files:06d}.parquet",
                           compression="lz4", use_dictionary=False, write_statistics=False)
        self.files += 1
        self.frames, self.buffered = [], 0


def map_rows(pipeline: Any, steps: list[Any], rows: Iterable[tuple[str, Any]], stats: Stats,
             dump: Callable[[str], None] | None) -> pl.DataFrame:
    """The output rows, with their draws, of raw ``(ref, row)`` pairs run through ``steps``;
    every row is counted in ``stats`` and every dropped row goes to ``dump``."""
    batch = parse_rows(rows, pipeline.parse, pipeline.working_schema, stats,
                       pipeline.config.on_bad_row == "drop", dump)
    return map_batch(pipeline, steps, batch, stats, dump)


def map_unit(pipeline: Any, steps: list[Any], unit: WorkUnit, stats: Stats,
             dump: Callable[[str], None] | None) -> pl.DataFrame:
    """``map_rows`` of a work unit: read columnar when the pipeline can, else row by row."""
    batch = pipeline.parse_unit(unit)
    if batch is None:
        return map_rows(pipeline, steps, read_unit(unit), stats, dump)
    stats.rows_in += batch.height
    return map_batch(pipeline, steps, batch, stats, dump)


def map_batch(pipeline: Any, steps: list[Any], batch: pl.DataFrame, stats: Stats,
              dump: Callable[[str], None] | None) -> pl.DataFrame:
    config = pipeline.config
    kept = run_steps(batch, steps, stats, dump)
    if not kept.height:  # the steps' new columns may be missing from an empty batch
        return pl.DataFrame()
    return add_draws(pipeline.output(kept), config.seed, pipeline.sample_key)


def map_shard(setup: MapSetup, shard: int, units: list[WorkUnit],
              report: Callable[[int], None]) -> Stats:
    """Run the map on ``units``; return their counts (their dropped rows go to
    ``dropped-w<shard>.jsonl`` in the scratch folder when dumping)."""
    pipeline: Any = setup.pipeline_class(setup.config)
    steps = pipeline.steps()
    scratch = Path(setup.scratch)
    spiller = Spiller(scratch, f"w{shard:03d}",
                      spill_schema(pipeline.features(), bool(pipeline.side_file)),
                      setup.buckets)
    stats = Stats()
    dump_file = open(scratch / f"dropped-w{shard:03d}.jsonl", "w", encoding="utf-8") \
        if setup.dump else None
    dump = dump_file.write if dump_file is not None else None
    try:
        for unit in units:
            before = stats.rows_in
            spiller.add(map_unit(pipeline, steps, unit, stats, dump))
            report(stats.rows_in - before)
        spiller.flush()
    finally:
        if dump_file is not None:
            dump_file.close()
    return stats
