"""UltraChat (``stingning/ultrachat``) to the schema of ``HuggingFaceH4/ultrachat_200k``.

Raw rows are ``{"id": ..., "data": [user, assistant, user, ...]}``. Dialogues with structural
defects or persona answers are dropped by named rules (``steps.chat_rules``); messages with
broken capitalization are truecased (``steps.truecase``); the rest become ``{"prompt",
"prompt_id", "messages": [{"content", "role"}]}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, ClassVar

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from ..core.config import ConfigError, PipelineConfig, load_yaml, option
from ..core.errors import InputError
from ..core.ids import fields_key, prompt_ids
from ..core.messages import ASSISTANT, MESSAGES, USER, flatten, parity_role
from ..core.schema import ultrachat_features
from ..core.step import Step
from ..io.columnar import json_lines_table
from ..io.readers import WorkUnit
from ..steps.chat_rules import STRUCTURAL, PersonaAnswer
from ..steps.decontamination import Decontaminate, check_decontamination, load_index
from ..steps.stages import SplitPlan
from ..steps.truecase import CHANGES, Truecase
from . import ultrachat_card
from .spec import Pipeline

FILTERS_FILE = "ultrachat_filters.yaml"


def default_filters() -> dict[str, Any]:
    return load_yaml(str(resources.files("zephyr_data") / "configs" / FILTERS_FILE))


@dataclass
class UltraChatConfig(PipelineConfig):
    truecase: bool = option(True, "Restore broken capitalization (about 5%% of UltraChat).")
    target_size: int | None = option(None, "Keep this many dialogues (train and test together), "
                                     "sampled with the seed; the paper kept about 200k. "
                                     "Default: keep all.")
    filters_file: str | None = option(None, "YAML file with the filter rules and their phrases "
                                      f"(default: the package's configs/{FILTERS_FILE}).")
    filters: list[str] | None = option(None, "Rules to run, in order (comma-separated); "
                                       "default: all rules of the filters file.")

    def validate(self) -> None:
        super().validate()
        if self.target_size is not None and self.target_size < 1:
            raise ConfigError(f"target_size={self.target_size}: it must be 1 or more, or unset "
                              "to keep every dialogue.")
        self.filter_rules()  # fail now, not in a worker
        check_decontamination(self.decontaminate)

    def filter_rules(self) -> tuple[list[str], dict[str, list[str]]]:
        spec = load_yaml(self.filters_file) if self.filters_file else default_filters()
        unknown = sorted(set(spec) - {"filters", "persona_rules"})
        if unknown:
            raise ConfigError(f"filters file: unknown key(s) {unknown}; expected 'filters' and "
                              "'persona_rules'.")
        persona = spec.get("persona_rules") or {}
        names = self.filters if self.filters is not None else spec.get("filters", [])
        known = set(STRUCTURAL) | set(persona)
        bad = [n for n in names if n not in known]
        if bad:
            raise ConfigError(f"filters: unknown rule(s) {bad}. Known rules: {sorted(known)}. "
                              "Add persona rules to the filters file under 'persona_rules'.")
        for name, patterns in persona.items():
            if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
                raise ConfigError(f"persona rule {name!r}: expected a list of regex strings.")
            for p in patterns:
                try:
                    re.compile(p)
                    pl.Series([""], dtype=pl.String).str.contains("(?i)" + p)
                except (re.error, pl.exceptions.PolarsError) as err:
                    raise ConfigError(f"persona rule {name!r}: bad regex {p!r}: {err}. Patterns "
                                      "must work in both Python's re and Rust's regex (no "
                                      "look-around, no back-references).") from None
        return list(names), persona


ROW_HINT = 'each row must look like {"id": ..., "data": [user, assistant, ...]}.'
RAW_SCHEMA = pa.schema([("id", pa.string()), ("data", pa.list_(pa.string()))])


def parse_row(ref: str, raw: Any) -> dict[str, Any]:
    """A raw UltraChat row as working columns: ``id`` and ``messages`` (roles by position)."""
    if not isinstance(raw, dict):
        raise InputError(ref, None, f"expected a JSON object, found {type(raw).__name__}.",
                         ROW_HINT)
    if "data" not in raw:
        raise InputError(ref, "data", f"missing; the row has keys {sorted(raw)}.",
                         'each row needs "data": the list of turns, user first.')
    data = raw["data"]
    if not isinstance(data, list):
        raise InputError(ref, "data", f"expected a list of strings, found "
                         f"{type(data).__name__}.")
    for i, turn in enumerate(data):
        if not isinstance(turn, str):
            raise InputError(ref, f"data[{i}]", f"expected a string, found "
                             f"{type(turn).__name__}: {str(turn)[:60]!r}.")
    return {"id": str(raw.get("id", ref)),
            "messages": [{"content": t, "role": parity_role(i)} for i, t in enumerate(data)]}


class UltraChatPipeline(Pipeline):
    name = "ultrachat"
    default_hub_id = "stingning/ultrachat"
    sample_file = "ultrachat_sample.jsonl"
    config_class = UltraChatConfig
    working_schema: ClassVar[dict[str, pl.DataType]] = {"id": pl.String, "messages": MESSAGES}
    side_file = "truecased.jsonl"  # every truecased message of the output, before and after
    pretty_name = "UltraChat, filtered and truecased (ultrachat_200k style)"
    license = "mit"
    task_categories: ClassVar[list[str]] = ["text-generation"]
    tags: ClassVar[list[str]] = ["ultrachat", "sft"]
    card_intro = ultrachat_card.INTRO
    config: UltraChatConfig

    def features(self) -> Any:
        return ultrachat_features()

    def parse(self, ref: str, raw: Any) -> dict[str, Any]:
        return parse_row(ref, raw)

    def parse_unit(self, unit: WorkUnit) -> pl.DataFrame | None:
        """Raw rows read by pyarrow in one go; any row that ``parse_row`` would refuse (or
        whose id is not a string) sends the unit back to the row by row path."""
        read = json_lines_table(unit, RAW_SCHEMA)
        if read is None:
            return None
        table, refs = read
        ids, data = table["id"], table["data"]
        if ids.null_count or data.null_count or pc.list_flatten(data).null_count:
            return None
        role = pl.when(pl.int_range(pl.len()) % 2 == 0).then(pl.lit(USER)) \
            .otherwise(pl.lit(ASSISTANT))
        turns = pl.from_arrow(data.combine_chunks()).cast(pl.List(pl.String))
        return pl.DataFrame({"id": pl.from_arrow(ids.combine_chunks()).cast(pl.String),
                             "messages": turns, "_ref": pl.Series(refs, dtype=pl.String)}) \
            .with_columns(pl.col("messages").list.eval(pl.struct(content=pl.element(), role=role))
                          .cast(MESSAGES))

    def steps(self) -> list[Step]:
        names, persona = self.config.filter_rules()
        steps: list[Step] = [STRUCTURAL[n]() if n in STRUCTURAL else PersonaAnswer(n, persona[n])
                             for n in names]
        index = load_index(self.config.decontaminate)
        if index is not None:  # first, so contamination is reported before any other reason
            steps.insert(0, Decontaminate(index, "messages"))
        if self.config.truecase:
            steps.append(Truecase())
        return steps

    def output(self, batch: pl.DataFrame) -> pl.DataFrame:
        flat = flatten(batch["messages"])
        contents = flat.content.to_list()
        bounds = flat.offsets.tolist()
        turns = [contents[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        prompts = [t[0] for t in turns]
        keys = pl.Series([fields_key(t) for t in turns], dtype=pl.String)
        extra = batch[CHANGES] if CHANGES in batch.columns else \
            pl.Series([None] * batch.height, dtype=pl.String)
        return pl.DataFrame({"prompt": pl.Series(prompts, dtype=pl.String),
                             "prompt_id": pl.Series(prompt_ids(prompts), dtype=pl.String),
                             "messages": batch["messages"], "_dedup_key": keys,
                             "_order_key": keys, "_ref": batch["_ref"], "_extra": extra})

    def preload(self) -> list[str]:
        return ["zephyr_data.steps.truecaser_model"] if self.config.truecase else []

    def split_plan(self) -> SplitPlan:
        return SplitPlan(train="train_sft", test="test_sft",
                         mirrors={"train_gen": "train_sft", "test_gen": "test_sft"},
                         test_share=self.config.test_share, target_size=self.config.target_size)

    def card_splits(self) -> str:
        return ultrachat_card.splits(self.config)

    def card_method(self) -> str:
        return ultrachat_card.method(self.config)
