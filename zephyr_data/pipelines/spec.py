"""What a pipeline is, for the runner and the card: everything a pipeline declares.

A pipeline names its input (the Hub dataset, a bundled sample), its config class, how one raw
row becomes a row of working columns (``parse``, which raises ``InputError`` naming the field),
its steps, how surviving rows become output columns (``output``), its splits and its card. The
runner does the rest: reading, counting, deduplication, sampling, splitting and writing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import polars as pl
import pyarrow as pa

from ..core.config import PipelineConfig
from ..core.step import Step
from ..io.readers import WorkUnit
from ..steps.stages import SplitPlan


@dataclass(frozen=True)
class DerivedConfig:
    """A second config of the output, made from splits of the default one after they are
    written: each of its ``splits`` is made from the default split it names, a row group at a
    time, by ``convert``; its files go to ``<name>/<split>-NNNNN-of-NNNNN.parquet``."""

    name: str
    splits: dict[str, str]
    features: Callable[[], Any]
    convert: Callable[[pa.Table], pa.Table]


class Pipeline:
    """Subclasses set every class attribute and implement every method without a default."""

    name: ClassVar[str] = ""
    default_hub_id: ClassVar[str] = ""
    default_revision: ClassVar[str | None] = None
    sample_file: ClassVar[str] = ""
    config_class: ClassVar[type[PipelineConfig]] = PipelineConfig
    # The columns ``parse`` gives (the runner adds ``_ref``, where each row came from).
    working_schema: ClassVar[dict[str, pl.DataType]] = {}
    # The output column that seeds each row's sampling draw (rows with equal keys are sampled
    # together).
    sample_key: ClassVar[str] = "_dedup_key"
    # A JSON Lines file written beside the data, one record per item of each written row's
    # ``_extra`` column (a JSON list), or None.
    side_file: ClassVar[str | None] = None

    # The dataset card.
    pretty_name: ClassVar[str] = ""
    license: ClassVar[str] = ""
    task_categories: ClassVar[list[str]] = []
    tags: ClassVar[list[str]] = []
    card_intro: ClassVar[str] = ""

    def __init__(self, config: PipelineConfig):
        self.config = config

    def prepare(self, units: list[Any]) -> None:
        """Called once in the main process before any row is read, with the input's work units:
        settle the choices that depend on the data (``--input-format auto``) in the config,
        which the workers receive. Default: nothing to settle."""

    def configs(self) -> list[DerivedConfig]:
        """The output's configs besides ``default`` (none by default)."""
        return []

    def features(self) -> Any:
        """The ``datasets.Features`` of the output."""
        raise NotImplementedError

    def parse(self, ref: str, raw: Any) -> dict[str, Any]:
        """One raw row as a dict of the working columns, or an ``InputError`` naming the
        field."""
        raise NotImplementedError

    def parse_unit(self, unit: WorkUnit) -> pl.DataFrame | None:
        """A whole work unit as the working batch (with ``_ref``), read columnar; or None, and
        the runner reads it row by row with ``parse``. It must give exactly what ``parse``
        would for every row, and give up (None) on any row that ``parse`` would refuse."""
        return None

    def steps(self) -> list[Step]:
        raise NotImplementedError

    def output(self, batch: pl.DataFrame) -> pl.DataFrame:
        """The output columns of the surviving rows, plus ``_dedup_key`` (equal for
        duplicates), ``_order_key`` (which duplicate is kept: the smallest), ``_ref`` and, with
        a side file, ``_extra``."""
        raise NotImplementedError

    def split_plan(self) -> SplitPlan:
        raise NotImplementedError

    def preload(self) -> list[str]:
        """Modules the workers import before their first row (costly imports, models)."""
        return []

    def card_splits(self) -> str:
        raise NotImplementedError

    def card_method(self) -> str:
        raise NotImplementedError
