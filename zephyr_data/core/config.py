"""Pipeline configs: dataclasses fed from YAML, overridden on the command line.

Precedence, lowest first: the dataclass defaults, the YAML file given with ``--config``, the
command line. A YAML key that is not a field is an error, as in TRL's parser. The parser is
written here rather than taken from ``transformers.HfArgumentParser`` so that the data side does
not depend on transformers.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from .errors import ConfigError

C = TypeVar("C")
log = logging.getLogger("zephyr_data")

OFF, HUB = "off", "hub"  # --decontaminate: the two settings that are not a folder
DECONTAMINATE_HELP = (
    "Drop rows whose user turns overlap MT-Bench, AlpacaEval or TruthfulQA prompts: 'hub' (load "
    "them from the Hub), 'off', or a folder holding mt_bench_question.jsonl, "
    "alpaca_eval_instructions.jsonl, truthfulqa_TruthfulQA.csv (as ../shared/data/benchmarks). "
    "Default: 'hub', or 'off' with --sample (offline).")


def option(default: Any, help: str, **kwargs: Any) -> Any:
    """A dataclass field with its ``--help`` text."""
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default),
                                 metadata={"help": help, **kwargs})
    return dataclasses.field(default=default, metadata={"help": help, **kwargs})


@dataclasses.dataclass
class PipelineConfig:
    """The options every pipeline shares, so that scripts and users can rely on them."""

    input: str | None = option(None, "Hub dataset id, or local files (a file, folder or glob of "
                               ".jsonl/.json/.parquet, optionally .gz). Default: the pipeline's "
                               "Hub dataset.")
    revision: str | None = option(None, "Revision (branch, tag or commit) of a Hub input.")
    input_split: list[str] | None = option(
        None, "Split(s) to read (comma-separated) of a Hub dataset or of a folder in the Hub's "
        "layout, e.g. train_sft; needed when it has several. Default: its only split.")
    sample: bool = option(False, "Use the raw sample bundled with the package (no network).")
    output_dir: str = option("", "Folder to write, in the Hub's dataset layout. An existing "
                             "folder is replaced only if an earlier build wrote it.")
    overwrite: bool = option(False, "Replace --output-dir even if it is not an earlier build "
                             "(everything in it is deleted).")
    allow_empty: bool = option(False, "Write an empty dataset when the input has no rows "
                               "(otherwise that is an error).")
    config: str | None = option(None, "YAML file whose keys are these options; the command "
                                "line overrides it.")
    seed: int = option(42, "Global seed; per-row randomness is seeded from it and the row id.")
    num_proc: int | None = option(None, "Worker processes of --executor local; default: every "
                                  "core this process may use. The output does not depend on it.")
    batch_size: int = option(2000, "Rows per work unit sent to a worker.")
    on_bad_row: Literal["error", "drop"] = option(
        "error", "What to do with a malformed input row: stop with an error naming file, line "
        "and field ('error'), or count it as dropped with reason 'invalid_row' ('drop').")
    dump_dropped: str | None = option(None, "Write every dropped row, with its reason, to this "
                                      "JSON Lines file.")
    test_share: float = option(0.1, "Share of prompts assigned to the test splits, by prompt_id.")
    max_rows_per_shard: int = option(250_000, "Rows per output parquet file.")
    push_to_hub: str | None = option(None, "Push the finished folder to this Hub dataset repo "
                                     "(ORG/NAME).")
    push_revision: str | None = option(None, "Branch of the Hub repo to push to (default main).")
    private: bool = option(False, "Create the Hub repo as private.")
    commit_message: str | None = option(None, "Commit message of the push.")
    progress: bool = option(True, "Show progress bars.")
    debug: bool = option(False, "Show the Python traceback of an error (by default, one line).")
    decontaminate: str | None = option(None, DECONTAMINATE_HELP)
    executor: Literal["local", "ray"] = option(
        "local", "Where the work runs: 'local' (--num-proc worker processes on this machine) or "
        "'ray' (tasks on a Ray cluster; needs pip install -e \".[ray]\"). The output is the same.")
    ray_address: str | None = option(
        None, "With --executor ray: the cluster to join (HOST:PORT, or 'auto' for the one "
        "started on this machine). Default: $RAY_ADDRESS, else a Ray started for this run.")
    ray_max_retries: int = option(
        3, "With --executor ray: how often a task whose worker died (killed, out of memory, a "
        "lost node) is run again; 0 fails the run at the first loss.")
    scratch_dir: str | None = option(
        None, "Folder for the rows spilled between the stages, on storage every node sees with "
        "--executor ray (a folder of the run's own is made in it and removed at the end). "
        "Default: inside the build's folder beside --output-dir.")

    def validate(self) -> None:
        if not self.output_dir:
            raise ConfigError("output_dir is empty: the pipeline needs a folder to write. "
                              "Pass --output-dir PATH or set output_dir in the YAML config.")
        if self.sample and self.input:
            raise ConfigError(f"both sample=True and input={self.input!r} were given: pick one, "
                              "--sample for the bundled sample or --input for your data.")
        if self.num_proc is None:
            self.num_proc = available_cores()
        if self.num_proc < 1:
            raise ConfigError(f"num_proc={self.num_proc}: it must be 1 or more.")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size={self.batch_size}: it must be 1 or more.")
        if not 0.0 <= self.test_share < 1.0:
            raise ConfigError(f"test_share={self.test_share}: it must be in [0, 1).")
        if self.max_rows_per_shard < 1:
            raise ConfigError(f"max_rows_per_shard={self.max_rows_per_shard}: it must be 1 or "
                              "more.")
        if self.executor != "ray" and self.ray_address:
            raise ConfigError(f"ray_address={self.ray_address!r} is given with executor="
                              f"{self.executor!r}: it only applies to a Ray run. Add "
                              "--executor ray, or drop --ray-address.")
        if self.ray_max_retries < 0:
            raise ConfigError(f"ray_max_retries={self.ray_max_retries}: it must be 0 or more.")
        if self.scratch_dir and Path(self.scratch_dir).exists() \
                and not Path(self.scratch_dir).is_dir():
            raise ConfigError(f"scratch_dir={self.scratch_dir!r} is a file: pass a folder (it "
                              "is made if missing).")
        self.decontaminate = _decontaminate_setting(self.decontaminate, sample=self.sample)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, as a container or Slurm sets it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _decontaminate_setting(value: str | None, *, sample: bool) -> str:
    """The setting a run uses: None means 'hub', or 'off' for a ``--sample`` run (offline).
    A folder must exist; its files are checked when the pipeline loads them, before any row."""
    if value is None:
        if sample:
            log.info("decontamination is off for --sample runs (they are offline); pass "
                     "--decontaminate PATH to check against local benchmark files.")
            return OFF
        return HUB
    if value not in (HUB, OFF) and not Path(value).is_dir():
        raise ConfigError(f"decontaminate={value!r}: not 'hub', 'off' or an existing folder. "
                          "Pass a folder holding the benchmark files (as "
                          "../shared/data/benchmarks), 'hub' or 'off'.")
    return value


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _convert(cls: type, name: str, tp: Any, value: Any, source: str) -> Any:
    """Check and convert one value from YAML or the command line to the field's type."""
    base = _strip_optional(tp)
    if value is None:
        if base is not tp:
            return None
        raise ConfigError(f"{source}: {name} is null, but it needs a value of type "
                          f"{getattr(base, '__name__', base)}.")
    origin = typing.get_origin(base)
    try:
        if origin is Literal:
            choices = typing.get_args(base)
            if value not in choices:
                raise ValueError(f"expected one of {list(choices)}")
            return value
        if origin is list:
            (item,) = typing.get_args(base)
            if isinstance(value, str):
                value = [v for v in value.split(",") if v]
            if not isinstance(value, list):
                raise ValueError("expected a list")
            return [_convert(cls, name, item, v, source) for v in value]
        if origin is dict:
            if isinstance(value, str):  # the command line: KEY=VALUE,KEY=VALUE
                pairs = [p.split("=", 1) for p in value.split(",") if p.strip()]
                if not all(len(p) == 2 and p[0].strip() for p in pairs):
                    raise ValueError("expected KEY=VALUE pairs separated by commas")
                value = {k.strip(): v.strip() for k, v in pairs}
            if not isinstance(value, dict):
                raise ValueError("expected a mapping")
            return value
        if base is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "1", "yes"):
                return True
            if isinstance(value, str) and value.lower() in ("false", "0", "no"):
                return False
            raise ValueError("expected true or false")
        if base is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError("expected an integer")
            return int(value)
        if base is float:
            if isinstance(value, bool):
                raise ValueError("expected a number")
            return float(value)
        if base is str:
            if not isinstance(value, (str, int, float)):
                raise ValueError("expected a string")
            return str(value)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{source}: {name}={value!r} is invalid for {cls.__name__}: {err}.") \
            from None
    return value


def build_parser(cls: type, prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        tp = hints[field.name]
        base = _strip_optional(tp)
        default = (field.default if field.default is not dataclasses.MISSING
                   else field.default_factory())  # type: ignore[misc]
        kwargs: dict[str, Any] = {"dest": field.name, "default": argparse.SUPPRESS,
                                  "help": field.metadata.get("help", "") + f" (default: {default})"}
        if base is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["metavar"] = field.name.upper()
            if typing.get_origin(base) is Literal:
                kwargs["choices"] = typing.get_args(base)
        parser.add_argument(_flag(field.name), **kwargs)
    return parser


def load_yaml(path: str) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"--config {path}: no such file. Pass the path of a YAML file whose "
                          "keys are the pipeline's options.")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"--config {path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected a mapping of option names to values, "
                          f"found a {type(data).__name__}.")
    return data


def make_config(cls: type[C], values: dict[str, Any], source: str) -> C:
    """Build ``cls`` from a mapping, rejecting unknown keys and checking types."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown} for {cls.__name__}. Valid keys: "
                          f"{sorted(names)}. Check the spelling (use underscores in YAML).")
    converted = {k: _convert(cls, k, hints[k], v, source) for k, v in values.items()}
    config = cls(**converted)
    validate = getattr(config, "validate", None)
    if validate is not None:
        validate()
    return config


def parse_config(cls: type[C], argv: Sequence[str] | None, prog: str, description: str) -> C:
    """Parse ``argv`` into ``cls``: defaults < ``--config`` YAML < command line."""
    parser = build_parser(cls, prog, description)
    cli = vars(parser.parse_args(argv))
    values: dict[str, Any] = {}
    if cli.get("config"):
        values.update(load_yaml(cli["config"]))
        values.pop("config", None)
    values.update(cli)
    source = f"--config {cli['config']} and the command line" if cli.get("config") \
        else "the command line"
    return make_config(cls, values, source)
