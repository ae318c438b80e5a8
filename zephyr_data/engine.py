"""The runner shared by every pipeline.

1. The input is resolved to local files and cut into work units (``readers``).
2. Workers parse and run each row through the pipeline's steps, and spill the rows that pass
   into hash buckets on disk by ``prompt_id``; memory stays bounded by one unit per worker.
3. Each bucket is then sorted by ``prompt_id`` and deduplicated, rows are sampled to the target
   size and assigned to splits from their ``prompt_id``, and written as parquet shards.

Sorting by ``prompt_id`` makes the output independent of input order and worker count, and
every random choice is seeded from the global seed and the row's own key.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from .config import PipelineConfig
from .errors import InputError
from .readers import InputSpec, WorkUnit, read_unit
from .steps import Drop, Stats, Step, run_steps
from .workers import run_in_processes
from .writer import ShardedParquetWriter, arrow_schema

NUM_BUCKETS = 64
INTERNAL = {"_dedup_key": pa.string(), "_order_key": pa.string(), "_ref": pa.string(),
            "_extra": pa.string(),
            "_select": pa.uint64(), "_split": pa.uint64()}
SPILL_ROWS = 8_000  # per worker: bounds the buffer to about 100 MB of dialogues


def prompt_id(prompt: str) -> str:
    """The id the H4 datasets publish: ``sha256(prompt.encode("utf-8")).hexdigest()``."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def seeded_u64(seed: int, key: str, purpose: str) -> int:
    """A uniform 64-bit number from the global seed and a row's own key."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{purpose}:{key}".encode()).digest()[:8], "big")


def seeded_rng(seed: int, key: str, purpose: str) -> np.random.Generator:
    """A generator for one row, so its draws depend on nothing but the seed and the row."""
    return np.random.default_rng(seeded_u64(seed, key, purpose))


@dataclass
class SplitPlan:
    """How kept rows become splits.

    ``train``/``test`` receive the sampled rows by ``prompt_id``; every split in ``mirrors``
    holds the same rows as the split it names. ``test_size`` asks for an exact test count;
    ``max_test_share``, when set, caps it at that share of the rows, so that a small input
    (a bundled sample) still keeps a train split.
    """

    train: str
    test: str
    mirrors: dict[str, str] = field(default_factory=dict)
    test_share: float = 0.1
    test_size: int | None = None
    target_size: int | None = None
    max_test_share: float | None = None

    @property
    def names(self) -> list[str]:
        return [self.train, self.test, *self.mirrors]


class Pipeline:
    """What a pipeline adds to the runner. Subclasses set the class attributes and methods."""

    name: str = ""
    default_hub_id: str = ""
    default_revision: str | None = None
    sample_file: str = ""
    config_class: type[PipelineConfig] = PipelineConfig
    # A JSON Lines file written beside the data for the rows in the output: each record may
    # carry ``_extra``, a JSON list of objects, written one per line after the row's prompt_id.
    side_file: str | None = None

    def __init__(self, config: PipelineConfig):
        self.config = config

    def features(self) -> Any:
        raise NotImplementedError

    def parse(self, ref: str, raw: Any) -> dict[str, Any] | Drop:
        """Validate a raw row into the pipeline's working form, or raise/return a drop."""
        raise NotImplementedError

    def steps(self) -> list[Step]:
        raise NotImplementedError

    def to_record(self, row: dict[str, Any]) -> dict[str, Any]:
        """The output columns, plus ``prompt_id``, ``_dedup_key``, ``_order_key``, ``_ref``,
        ``_select``, ``_split`` and optionally ``_extra`` (see ``side_file``)."""
        raise NotImplementedError

    def split_plan(self) -> SplitPlan:
        raise NotImplementedError


# ---------------------------------------------------------------- stage 1: workers


@dataclass
class _WorkerSetup:
    pipeline_class: type[Pipeline]
    config: PipelineConfig
    scratch: str
    dump: bool


def _bucket_of(pid: str) -> int:
    return int(pid[:4], 16) * NUM_BUCKETS // 65536


class _Spiller:
    """Buffers records per bucket and spills them to parquet files in the scratch folder.

    Nested columns (lists of messages) travel as JSON text: encoding them with ``json`` is far
    cheaper than building nested arrow arrays row by row, and they are decoded column-wise,
    only for the rows that are written (:func:`_decode_nested`).
    """

    def __init__(self, scratch: Path, schema: pa.Schema, tag: str):
        self.scratch, self.schema, self.tag = scratch, schema, tag
        self.nested = [f.name for f in schema if f.metadata and b"json" in f.metadata]
        self.buffers: dict[int, list[dict[str, Any]]] = {}
        self.buffered, self.files = 0, 0

    def add(self, record: dict[str, Any]) -> None:
        record.setdefault("_extra", "")
        for name in self.nested:
            record[name] = json.dumps(record[name], ensure_ascii=False)
        self.buffers.setdefault(_bucket_of(record["prompt_id"]), []).append(record)
        self.buffered += 1
        if self.buffered >= SPILL_ROWS:
            self.flush()

    def flush(self) -> None:
        for bucket, records in self.buffers.items():
            folder = self.scratch / "buckets" / f"{bucket:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            table = pa.Table.from_pylist(records, schema=self.schema)
            pq.write_table(table, folder / f"{self.tag}-{self.files:06d}.parquet",
                           compression="lz4", use_dictionary=False, write_statistics=False)
        self.files += 1
        self.buffers, self.buffered = {}, 0


def _dump_line(ref: str, row: Any, drop: Drop) -> str:
    if isinstance(row, InputError):
        row = None
    return json.dumps({"reason": drop.reason, "detail": drop.detail, "ref": ref, "row": row},
                      ensure_ascii=False, default=str) + "\n"


def _run_worker(setup: _WorkerSetup, index: int, units: list[WorkUnit],
                report: Callable[[int], None]) -> Stats:
    pipeline = setup.pipeline_class(setup.config)
    steps = pipeline.steps()
    schema = _spill_schema(pipeline)
    scratch = Path(setup.scratch)
    spiller = _Spiller(scratch, schema, f"w{index:03d}")
    stats = Stats()
    dump = open(scratch / f"dropped-w{index:03d}.jsonl", "w", encoding="utf-8") \
        if setup.dump else None

    def on_drop(ref: str, row: Any, drop: Drop) -> None:
        if dump is not None:
            dump.write(_dump_line(ref, row, drop))

    def parse(ref: str, raw: Any) -> dict[str, Any] | Drop:
        try:
            if isinstance(raw, InputError):
                raise raw
            return pipeline.parse(ref, raw)
        except InputError as err:
            if setup.config.on_bad_row == "drop":
                return Drop("invalid_row", str(err))
            raise

    try:
        for unit in units:
            before = stats.rows_in
            for row in run_steps(read_unit(unit), parse, steps, stats, on_drop):
                spiller.add(pipeline.to_record(row))
            report(stats.rows_in - before)
        spiller.flush()
    finally:
        if dump is not None:
            dump.close()
    return stats


def _spill_schema(pipeline: Pipeline) -> pa.Schema:
    """The output columns, nested ones as JSON text, then the internal keys."""
    fields = [pa.field(f.name, pa.string(), metadata={"json": "1"})
              if pa.types.is_nested(f.type) else f for f in pipeline.features().arrow_schema]
    return pa.schema(fields + [pa.field(name, type_) for name, type_ in INTERNAL.items()])


def _decode_nested(table: pa.Table, schema: pa.Schema, out_schema: pa.Schema) -> pa.Table:
    """Turn the JSON text columns of a spilled table back into nested arrow columns."""
    import polars as pl

    for i, column in enumerate(schema):
        if column.metadata and b"json" in column.metadata:
            target = out_schema.field(column.name).type
            decoded = pl.from_arrow(table.column(i)).str.json_decode(
                pl.from_arrow(pa.array([], type=target)).dtype)
            table = table.set_column(i, out_schema.field(column.name),
                                     decoded.to_arrow().cast(target))
    return table


def run_workers(pipeline: Pipeline, units: list[WorkUnit], scratch: Path, dump: bool) -> Stats:
    config = pipeline.config
    setup = _WorkerSetup(type(pipeline), config, str(scratch), dump)
    bar = tqdm(total=None, desc=f"{pipeline.name}: rows", unit=" rows",
               disable=not config.progress, mininterval=1.0)
    stats = Stats()
    workers = min(config.num_proc, max(1, len(units)))
    try:
        if workers == 1:
            return stats.merge(_run_worker(setup, 0, units, bar.update))
        jobs = [(setup, i, units[i::workers]) for i in range(workers)]
        for part in run_in_processes(_run_worker, jobs, bar.update):
            stats.merge(part)  # a worker's InputError was raised above, the others stopped
        return stats
    finally:
        bar.close()


# ---------------------------------------------------------------- stage 2: buckets to splits


KEYS = ["prompt_id", *(name for name in INTERNAL if name != "_extra")]


def _read_bucket(scratch: Path, bucket: int, schema: pa.Schema,
                 columns: list[str] | None = None) -> pa.Table | None:
    folder = scratch / "buckets" / f"{bucket:03d}"
    if not folder.exists():
        return None
    files = sorted(folder.glob("*.parquet"))
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns])
    table = pa.concat_tables([pq.read_table(f, schema=schema, columns=columns) for f in files])
    return table.sort_by([("prompt_id", "ascending"), ("_dedup_key", "ascending"),
                          ("_order_key", "ascending"), ("_ref", "ascending")])


def _duplicate_mask(table: pa.Table) -> np.ndarray:
    keys = table["_dedup_key"].to_numpy(zero_copy_only=False)
    mask = np.zeros(len(keys), dtype=bool)
    if len(keys) > 1:
        mask[1:] = keys[1:] == keys[:-1]
    return mask


def _kth_smallest(values: np.ndarray, k: int) -> int:
    return int(np.partition(values, k - 1)[k - 1])


def finalize(pipeline: Pipeline, scratch: Path, data_dir: Path, stats: Stats,
             dump: Callable[[str], None] | None) -> dict[str, dict[str, int]]:
    """Deduplicate, sample and split the spilled rows; write the parquet shards."""
    plan = pipeline.split_plan()
    config = pipeline.config
    schema = _spill_schema(pipeline)
    out_schema = arrow_schema(pipeline.features())
    bar_kw = {"disable": not config.progress, "unit": " buckets", "mininterval": 1.0}

    # Pass A: duplicates, and the draws that sampling and test assignment are based on.
    selects, splits = [], []
    for bucket in tqdm(range(NUM_BUCKETS), desc=f"{pipeline.name}: dedup", **bar_kw):
        table = _read_bucket(scratch, bucket, schema, columns=None if dump else KEYS)
        if table is None:
            continue
        dup = _duplicate_mask(table)
        if dup.any():
            stats.dropped["duplicate"] += int(dup.sum())
            if dump is not None:
                dups = _decode_nested(table.filter(pa.array(dup)), schema, out_schema)
                for rec in dups.to_pylist():
                    dump(_dump_record(rec, Drop("duplicate", "same as an earlier row")))
        unique = table.filter(pa.array(~dup))
        selects.append(unique["_select"].to_numpy())
        splits.append(unique["_split"].to_numpy())
    select_all = np.concatenate(selects) if selects else np.zeros(0, np.uint64)
    split_all = np.concatenate(splits) if splits else np.zeros(0, np.uint64)

    select_max = None
    if plan.target_size is not None and len(select_all) > plan.target_size:
        select_max = _kth_smallest(select_all, plan.target_size)
        split_all = split_all[select_all <= select_max]
    if plan.test_size is not None:
        k = min(plan.test_size, len(split_all))
        if plan.max_test_share is not None:
            k = min(k, int(plan.max_test_share * len(split_all)))
        test_max = _kth_smallest(split_all, k) if k else -1
    else:
        test_max = int(plan.test_share * 2**64) - 1 if plan.test_share > 0 else -1

    side = open(data_dir.parent / pipeline.side_file, "w", encoding="utf-8") \
        if pipeline.side_file else None
    writers = {name: ShardedParquetWriter(data_dir, name, out_schema, config.max_rows_per_shard)
               for name in (plan.train, plan.test)}
    # Pass B: write.
    for bucket in tqdm(range(NUM_BUCKETS), desc=f"{pipeline.name}: write", **bar_kw):
        table = _read_bucket(scratch, bucket, schema)
        if table is None:
            continue
        table = table.filter(pa.array(~_duplicate_mask(table)))
        if select_max is not None:
            chosen = pc.less_equal(table["_select"], pa.scalar(select_max, pa.uint64()))
            over = table.filter(pc.invert(chosen))
            stats.dropped["over_target_size"] += over.num_rows
            if dump is not None:
                for rec in _decode_nested(over, schema, out_schema).to_pylist():
                    dump(_dump_record(rec, Drop("over_target_size",
                                                f"not sampled into {plan.target_size} rows")))
            table = table.filter(chosen)
        table = _decode_nested(table, schema, out_schema)
        is_test = pc.less_equal(table["_split"], pa.scalar(max(test_max, 0), pa.uint64())) \
            if test_max >= 0 else pa.array(np.zeros(table.num_rows, bool))
        if side is not None:
            _write_side(side, table)
        parts = {plan.train: table.filter(pc.invert(is_test)), plan.test: table.filter(is_test)}
        for name, part in parts.items():
            if part.num_rows:
                writers[name].write(part)
    if side is not None:
        side.close()
    splits = {}
    for name, writer in writers.items():
        files = writer.close()
        splits[name] = {"num_examples": writer.num_rows, "num_bytes": writer.num_bytes}
        for mirror in [m for m, source in plan.mirrors.items() if source == name]:
            for path in files:  # the same rows give the same bytes: copy, don't re-encode
                shutil.copyfile(path, path.with_name(path.name.replace(name, mirror, 1)))
            splits[mirror] = dict(splits[name])
    splits = {name: splits[name] for name in plan.names}
    stats.kept = splits[plan.train]["num_examples"] + splits[plan.test]["num_examples"]
    return splits


def _write_side(sink: Any, table: pa.Table) -> None:
    """The side records of the rows being written, in their (``prompt_id``) order."""
    rows = table.select(["prompt_id", "_extra"]).filter(pc.not_equal(table["_extra"], ""))
    for pid, extra in zip(rows["prompt_id"].to_pylist(), rows["_extra"].to_pylist()):
        for item in json.loads(extra):
            sink.write(json.dumps({"prompt_id": pid, **item}, ensure_ascii=False) + "\n")


def _dump_record(rec: dict[str, Any], drop: Drop) -> str:
    ref = rec.get("_ref", "")
    row = {k: v for k, v in rec.items() if not k.startswith("_")}
    return _dump_line(ref, row, drop)


def merge_dumps(scratch: Path) -> Iterator[str]:
    """The dropped rows of every worker, then those of the global stages, line by line."""
    for path in sorted(scratch.glob("dropped-*.jsonl")):
        with open(path, encoding="utf-8") as fh:
            yield from fh


def describe_input(spec: InputSpec) -> dict[str, Any]:
    return {"description": spec.description, "hub_id": spec.hub_id, "revision": spec.revision,
            "fingerprint": spec.fingerprint,
            "files": [{"name": os.path.basename(f["path"]), "bytes": f["bytes"],
                       "sha256": f["sha256"]} for f in spec.files]}
