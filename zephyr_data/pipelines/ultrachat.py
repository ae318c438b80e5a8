"""UltraChat (``stingning/ultrachat``), or any chat data, to the schema of
``HuggingFaceH4/ultrachat_200k``.

Raw rows are ``{"id": ..., "data": [user, assistant, user, ...]}``, or another chat shape
(``--input-format``: messages, ShareGPT, Alpaca; see ``formats.chat``). Dialogues with tool
turns, roles that do not alternate, structural defects or persona answers are dropped by named
rules (``steps.chat_rules``); messages with broken capitalization are truecased
(``steps.truecase``; system turns are left as written); the rest become ``{"prompt",
"prompt_id", "messages": [{"content", "role"}]}``, with ``prompt`` the first user turn and a
system turn, if any, kept first in ``messages``.

Curation is idempotent: our own output (or ``ultrachat_200k``), read back with ``--input-format
messages`` (``auto`` finds it), gives the same ``prompt_id``s and messages, drops nothing and
truecases nothing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from typing import Any, ClassVar, Literal

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from ..core.config import ConfigError, PipelineConfig, load_yaml, option
from ..core.ids import fields_key, prompt_ids
from ..core.messages import ASSISTANT, MESSAGES, SYSTEM, USER, flatten
from ..core.schema import ultrachat_features
from ..core.step import Step
from ..io.columnar import json_lines_table
from ..io.readers import WorkUnit
from ..steps.chat_rules import REQUIRED, STRUCTURAL, PersonaAnswer
from ..steps.decontamination import Decontaminate, check_decontamination, load_index
from ..steps.stages import SplitPlan
from ..steps.truecase import CHANGES, Truecase
from . import ultrachat_card
from .formats import first_row
from .formats.chat import AUTO, TARGET_ROLES, ChatShape, detect, unknown_shape
from .spec import Pipeline

FILTERS_FILE = "ultrachat_filters.yaml"
log = logging.getLogger(__name__)


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
                                       "default: all rules of the filters file. tool_turn and "
                                       "roles_not_alternating always run.")
    input_format: Literal["auto", "ultrachat", "messages", "sharegpt", "alpaca"] = option(
        "auto", "The shape of the input rows: 'ultrachat' {data: [user, assistant, ...]}, "
        "'messages' {messages: [{role, content}]} (TRL, OpenAI, H4), 'sharegpt' "
        "{conversations: [{from, value}]}, 'alpaca' {instruction, input, output}. 'auto' "
        "decides from the first row's keys and logs its choice.")
    messages_field: str | None = option(None, "The row's list of turns (default: data, "
                                        "messages or conversations, by shape).")
    role_field: str | None = option(None, "A turn's role key (default: role; ShareGPT: from).")
    content_field: str | None = option(None, "A turn's text key (default: content; ShareGPT: "
                                       "value).")
    role_map: dict[str, str] | None = option(
        None, "Extra role names, RAW=ROLE comma-separated (e.g. human=user,bot=assistant); ROLE "
        "is system, user, assistant or tool. Known already: user, human, assistant, gpt, "
        "system, developer, tool, function, observation, function_call, ...")
    system_field: str = option("system", "A row-level system prompt (messages, ShareGPT, "
                               "Alpaca): when non-empty, it becomes the first turn.")

    def validate(self) -> None:
        super().validate()
        if self.target_size is not None and self.target_size < 1:
            raise ConfigError(f"target_size={self.target_size}: it must be 1 or more, or unset "
                              "to keep every dialogue.")
        self.filter_rules()  # fail now, not in a worker
        check_decontamination(self.decontaminate)
        bad = {k: v for k, v in (self.role_map or {}).items() if v not in TARGET_ROLES[:4]}
        if bad:
            raise ConfigError(f"role_map {bad}: a role maps to system, user, assistant or tool "
                              "(tool turns are dropped, counted as tool_turn).")

    def filter_rules(self) -> tuple[list[str], dict[str, list[str]]]:
        spec = load_yaml(self.filters_file) if self.filters_file else default_filters()
        unknown = sorted(set(spec) - {"filters", "persona_rules"})
        if unknown:
            raise ConfigError(f"filters file: unknown key(s) {unknown}; expected 'filters' and "
                              "'persona_rules'.")
        persona = spec.get("persona_rules") or {}
        names = self.filters if self.filters is not None else spec.get("filters", [])
        names = [n for n in REQUIRED if n not in names] + list(names)  # the schema needs them
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

    @cached_property
    def shape(self) -> ChatShape:
        c = self.config
        fmt = "ultrachat" if c.input_format == AUTO else c.input_format
        return ChatShape.of(fmt, c.messages_field, c.role_field, c.content_field, c.role_map,
                            c.system_field)

    def prepare(self, units: list[Any]) -> None:
        """``--input-format auto``: the shape of the first row's keys, and its list field."""
        c = self.config
        if c.input_format != AUTO:
            return
        first = first_row(units)
        found = detect(first[1], c.messages_field, c.role_field, c.content_field) \
            if first is not None else ChatShape.of("ultrachat")
        if found is None:
            assert first is not None
            raise unknown_shape(*first)
        c.input_format = found.format
        c.messages_field = c.messages_field or found.messages_field or None
        c.role_field = c.role_field or found.role_field or None
        c.content_field = c.content_field or found.content_field or None
        log.info("--input-format auto: reading %s rows%s, the shape of %s", found.name,
                 f" (field {found.messages_field!r})" if found.messages_field else "",
                 first[0] if first is not None else "the empty input")
        self.__dict__.pop("shape", None)

    def parse(self, ref: str, raw: Any) -> dict[str, Any]:
        return {"id": str(raw.get("id", ref)) if isinstance(raw, dict) else ref,
                "messages": self.shape.parse(ref, raw)}

    def parse_unit(self, unit: WorkUnit) -> pl.DataFrame | None:
        """Raw UltraChat rows read by pyarrow in one go; any row that ``parse`` would refuse
        (or whose id is not a string) sends the unit back to the row by row path. Other shapes
        are read row by row."""
        if self.shape.format != "ultrachat":
            return None
        field = self.shape.messages_field
        read = json_lines_table(unit, pa.schema([("id", pa.string()),
                                                 (field, pa.list_(pa.string()))]))
        if read is None:
            return None
        table, refs = read
        ids, data = table["id"], table[field]
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
        prompts = [contents[i] for i in flat.first_per_row((flat.role == USER).to_numpy())]
        systems = flat.per_row((flat.role == SYSTEM).to_numpy()).tolist()
        # The key of raw UltraChat's dialogues, unchanged; one with system turns in its own
        # domain (their number says which turns they are: the rules keep them first).
        keys = pl.Series([fields_key(t, f"system{k}" if k else "")
                          for t, k in zip(turns, systems)], dtype=pl.String)
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
