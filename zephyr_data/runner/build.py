"""Run a pipeline end to end: read, process, write the Hub-layout folder, report."""

from __future__ import annotations

import json
import logging
import platform
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .. import __version__
from ..core.errors import InputError
from ..core.stats import Stats
from ..io.destination import building, spill_folder
from ..io.readers import InputSpec, WorkUnit, plan_units, resolve_input
from ..io.writer import data_fingerprint, write_lines_atomic
from ..pipelines.spec import Pipeline
from ..publish.card import render_card
from ..report import tables
from ..report.plots import report_markdown, write_report
from ..report.stats import ReportData
from ..steps.decontamination import describe_setting
from .configs import write_configs
from .executor import run_map_local
from .map import MapSetup, bucket_count
from .ray_tasks import require_ray
from .reduce import reduce
from .workers import start_workers

log = logging.getLogger(__name__)
# Options that change how a run behaves, never what it writes: left out of the manifest, so
# that a local and a Ray build of the same data have the same manifest config.
RUN_ONLY_OPTIONS = ("output_dir", "dump_dropped", "progress", "overwrite", "allow_empty",
                    "debug", "num_proc", "executor", "ray_address", "ray_max_retries",
                    "scratch_dir")
PACKAGES = ("zephyr-data", "datasets", "pyarrow", "polars", "numpy", "huggingface_hub",
            "truecase", "nltk", "matplotlib")


@dataclass
class BuildResult:
    output_dir: Path
    stats: Stats
    splits: dict[str, dict[str, int]]
    fingerprint: str
    manifest: dict[str, Any]
    seconds: float


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    versions["zephyr-data"] = __version__
    return versions


def build(pipeline: Pipeline, command: list[str] | None = None) -> BuildResult:
    """Build ``pipeline.config.output_dir``; nothing is written unless the whole run succeeds."""
    config = pipeline.config
    started = time.perf_counter()
    if config.executor == "ray":
        require_ray()  # before anything is touched: one line saying how to install it
    with building(config.output_dir, input_spec=config.input, dump_dropped=config.dump_dropped,
                  overwrite=config.overwrite, scratch_dir=config.scratch_dir) as folder, \
            spill_folder(folder, Path(config.output_dir).name, config.scratch_dir) as scratch:
        return _build(pipeline, folder, scratch, command, started)


def _build(pipeline: Pipeline, folder: Path, scratch: Path, command: list[str] | None,
           started: float) -> BuildResult:
    config = pipeline.config
    if config.executor == "local" and config.num_proc > 1:  # ready while the input is planned
        start_workers(pipeline.preload())
    spec = resolve_input(config.input, sample=pipeline.sample_file if config.sample else None,
                         default_hub_id=pipeline.default_hub_id,
                         revision=config.revision or (None if config.input
                                                      else pipeline.default_revision),
                         split=config.input_split)
    units = plan_units(spec, config.batch_size)
    decontamination = describe_setting(config.decontaminate or "off")  # loads or fails now
    pipeline.prepare(units)  # e.g. --input-format auto: the shape of the first row
    (folder / "data").mkdir()
    report_data = ReportData(pipeline.split_plan().names[:2])
    process = _process_on_ray if config.executor == "ray" else _process_locally
    stats, splits, dumps = process(pipeline, spec, units, folder, scratch, report_data)
    stats.check_accounting()
    if config.dump_dropped:
        write_lines_atomic(config.dump_dropped, merge_dumps(dumps))
    configs = write_configs(pipeline, folder, config.max_rows_per_shard)  # e.g. trl
    fingerprint, files = data_fingerprint(folder, configs)
    manifest = {
        "pipeline": pipeline.name,
        "command": command if command is not None else [sys.executable, *sys.argv],
        "config": {k: v for k, v in config.to_dict().items()
                   if k not in RUN_ONLY_OPTIONS},
        "input": spec.describe(),
        "decontamination": decontamination,
        "versions": package_versions(),
        "splits": splits,
        **({"configs": configs} if configs else {}),
        "stats": stats.to_dict(),
        "fingerprint": fingerprint,
        "files": files,
    }
    phase = time.perf_counter()
    report = write_report(folder, manifest, data=report_data)  # report/*.png, no fingerprint
    log.info("drew %d report plots in %.1f s", len(report), time.perf_counter() - phase)
    manifest["report"] = [p.relative_to(folder).as_posix() for p in report]
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True)
                                          + "\n", encoding="utf-8")
    (folder / "README.md").write_text(render_card(pipeline, manifest) + "\n"
                                      + report_markdown(report), encoding="utf-8")
    return BuildResult(Path(config.output_dir), stats, splits, fingerprint, manifest,
                       time.perf_counter() - started)


def map_setup(pipeline: Pipeline, spec: InputSpec, scratch: Path) -> MapSetup:
    """What the map's workers get; the bucket count from the input's size (logged)."""
    config = pipeline.config
    buckets = bucket_count(sum(int(f.get("bytes") or 0) for f in spec.files))
    log.info("spilling into %d buckets", buckets)
    return MapSetup(type(pipeline), config, str(scratch), bool(config.dump_dropped), buckets)


Processed = tuple[Stats, dict[str, dict[str, int]], list[Path]]


def _check_rows(stats: Stats, spec: InputSpec, allow_empty: bool, seconds: float) -> None:
    log.info("read and filtered %s rows in %.1f s", f"{stats.rows_in:,}", seconds)
    if stats.rows_in == 0 and not allow_empty:
        raise InputError(f"--input {spec.description}", None,
                         f"no rows in {len(spec.files)} file(s): they are empty or hold "
                         "only blank lines. Nothing was written.",
                         "check the input; pass --allow-empty to write an empty dataset.")


def _process_locally(pipeline: Pipeline, spec: InputSpec, units: list[WorkUnit], folder: Path,
                     scratch: Path, report: ReportData) -> Processed:
    """The map on worker processes of this machine, then the reduce in this process; the
    counts, the splits and the dumps of dropped rows in order."""
    config = pipeline.config
    phase = time.perf_counter()
    setup = map_setup(pipeline, spec, scratch)
    bar = tqdm(total=None, desc=f"{pipeline.name}: rows", unit=" rows",
               disable=not config.progress, mininterval=1.0)
    try:
        stats = run_map_local(setup, units, config.num_proc, bar.update)
    finally:
        bar.close()
    _check_rows(stats, spec, config.allow_empty, time.perf_counter() - phase)
    phase = time.perf_counter()
    with open(scratch / "dropped-z-final.jsonl", "w", encoding="utf-8") as late_drops:
        splits = reduce(pipeline, scratch, folder / "data", stats,
                        late_drops.write if config.dump_dropped else None, report)
    log.info("deduplicated, split and wrote %s rows in %.1f s", f"{stats.kept:,}",
             time.perf_counter() - phase)
    return stats, splits, sorted(scratch.glob("dropped-*.jsonl"))


def _process_on_ray(pipeline: Pipeline, spec: InputSpec, units: list[WorkUnit], folder: Path,
                    scratch: Path, report: ReportData) -> Processed:
    """The same stages as Ray tasks (``ray_stages``); the same outputs."""
    from .ray_stages import RayRun, run_map, run_reduce
    from .ray_tasks import ray_session

    config = pipeline.config
    with ray_session(config.ray_address) as ray:
        run = RayRun(ray, scratch, config.ray_max_retries, pipeline.name, config.progress)
        phase = time.perf_counter()
        setup = map_setup(pipeline, spec, scratch)
        stats, files, dumps = run_map(run, setup, units)
        _check_rows(stats, spec, config.allow_empty, time.perf_counter() - phase)
        phase = time.perf_counter()
        splits, late = run_reduce(run, pipeline, files, folder / "data", stats,
                                  bool(config.dump_dropped), report)
        log.info("deduplicated, split and wrote %s rows in %.1f s on Ray", f"{stats.kept:,}",
                 time.perf_counter() - phase)
    return stats, splits, dumps + late


def merge_dumps(paths: Sequence[Path]) -> Iterator[str]:
    """The lines of the dumps of dropped rows, in the order given (the map's, then those of
    the global stages)."""
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            yield from fh


def summary_table(result: BuildResult) -> str:
    """The table printed at the end of a run."""
    rows = tables.stats_rows(result.stats.to_dict(), result.splits, code=False)
    rows += [("fingerprint", result.fingerprint[:16]), ("wall time", f"{result.seconds:.1f}s")]
    return tables.text(rows) + f"\nwritten to {result.output_dir}"
