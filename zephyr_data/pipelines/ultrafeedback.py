"""UltraFeedback (``openbmb/UltraFeedback``) binarized as ``HuggingFaceH4/ultrafeedback_binarized``.

A raw row is one prompt (``instruction``) with up to four ``completions``, each rated by GPT-4
on four aspects (``annotations.{helpfulness, honesty, instruction_following, truthfulness}
.Rating``, a string "1".."5" or "N/A") and given an ``overall_score`` (1..10) from a critique.
Each row becomes one preference pair, as in the Zephyr-7B paper (Tunstall et al., 2023):

- Every completion is scored: ``mean`` (default, the paper) is the mean of the aspect ratings
  that are not "N/A" (a missing aspect counts as "N/A"); a completion whose four ratings are all
  "N/A" has no score. ``overall`` is ``overall_score`` (what the H4 card later used); a missing or
  "N/A" ``overall_score`` means no score.
- Completions are removed, not whole rows, for an empty (or white-space) ``response`` and for
  having no score; a row is kept while at least two usable completions remain. Each removed
  completion is counted in ``stats.counters``; a row that falls below two is dropped with the
  name of the rule that made it fall (``too_few_completions``, ``empty_response``, ``unrated``).
- "chosen" is the completion with the highest score; among equal scores, the one listed first
  in ``completions`` (argmax order, as H4's script).
- "rejected" is drawn uniformly from the other usable completions (``random``, the paper) with a
  generator seeded from the global seed and the row's ``prompt_id``; or it is the lowest-scored
  one, first listed among equals (``lowest``). It may tie with "chosen"; ``drop_ties`` drops
  such rows (``tie``), as Argilla's cleaned variant.
- Rows with ``source == "truthful_qa"`` are dropped (``truthful_qa``) as H4 did, since
  TruthfulQA is an evaluation benchmark; so are empty instructions (``empty_prompt``). Duplicate
  prompts are dropped by the runner (``duplicate``), keeping the copy whose output has the
  smallest content hash.

The steps are ``steps.binarize``'s; the input shapes (raw UltraFeedback, and any other set of
rated completions: ``--input-format rated``) are ``formats.rated``'s; this module wires them.

A row that does not have its shape's structure (not an object, no ``instruction``,
``completions`` not a list, a rating other than "1".."5", "N/A" or an integer 1..5, ...) is an
:class:`InputError` naming the row and field: it stops the run, or is counted as
``invalid_row`` with ``--on-bad-row drop``.

Besides the default config, the build writes the ``trl`` config (``trl_config``): the same pairs
in TRL's explicit-prompt conversational format, splits ``train`` and ``test``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import polars as pl

from ..core.config import ConfigError, PipelineConfig, option
from ..core.ids import fields_key
from ..core.schema import ultrafeedback_features
from ..core.step import Step
from ..steps.binarize import (
    COMPLETION,
    Binarize,
    CountSource,
    DropTies,
    EmptyPrompt,
    Score,
    TooFewCompletions,
    TruthfulQA,
    empty_response,
    unrated,
)
from ..steps.decontamination import Decontaminate, check_decontamination, load_index
from ..steps.stages import SplitPlan
from . import ultrafeedback_card
from .formats import first_row
from .formats.rated import AUTO, RatedShape, detect, parse_row, unknown_shape
from .formats.rated_columnar import read_ultrafeedback_unit
from .spec import DerivedConfig, Pipeline
from .trl_config import trl_config

log = logging.getLogger(__name__)

DEFAULT_REVISION = "40b436560ca83a8dba36114c22ab3c66e43f6d5e"  # with the overall_score fixes


@dataclass
class UltraFeedbackConfig(PipelineConfig):
    score: Literal["mean", "overall"] = option(
        "mean", "How a completion is scored: 'mean' of its four aspect ratings, \"N/A\" excluded "
        "(the paper), or its 'overall' score (overall_score, as the H4 dataset card).")
    rejected: Literal["random", "lowest"] = option(
        "random", "How 'rejected' is picked among the completions other than 'chosen': "
        "uniformly at random, seeded by the seed and prompt_id (the paper), or the lowest score.")
    drop_ties: bool = option(False, "Drop prompts whose chosen and rejected scores are equal "
                             "(Argilla's cleaned variant); reason 'tie'.")
    test_size: int | None = option(2000, "Prompts in test_prefs (and test_sft, test_gen), picked "
                                   "by prompt_id; at most --test-share of the kept prompts, so "
                                   "small inputs keep a train split. Unset: use --test-share.")
    input_format: Literal["auto", "ultrafeedback", "rated"] = option(
        "auto", "The shape of the input rows: raw UltraFeedback ('ultrafeedback'), or 'rated': a "
        "prompt, a list of completions and a score each (a number, or aspect ratings that are "
        "averaged). 'auto' decides from the first row's keys and logs its choice.")
    prompt_field: str = option("prompt", "rated: the field of the prompt (a string).")
    completions_field: str = option("completions", "rated: the field of the list of "
                                    "completions (objects).")
    response_field: str = option("response", "rated: a completion's field of its text.")
    score_field: str = option("score", "rated: a completion's field of its score: a number, or "
                              "an object of aspect ratings (averaged; null and \"N/A\" left "
                              "out).")
    source_field: str = option("source", "rated: the (optional) field naming where the prompt "
                               "came from; rows from 'truthful_qa' are dropped.")

    def validate(self) -> None:
        super().validate()
        if self.input_format == "rated" and self.score == "overall":
            raise ConfigError("score='overall' reads raw UltraFeedback's overall_score; a rated "
                              "input's scores come from --score-field (aspect ratings are "
                              "averaged). Drop --score overall.")
        if self.test_size is not None and self.test_size < 0:
            raise ConfigError(f"test_size={self.test_size}: it must be 0 or more, or unset to "
                              "use test_share.")
        check_decontamination(self.decontaminate)


def content_hash(prompt: str, chosen: str, rejected: str, score_chosen: float,
                 score_rejected: float) -> str:
    """sha256 of everything a pair writes; fields are length-prefixed so none can run into the
    next one. Of duplicate prompts, the runner keeps the pair with the smallest hash."""
    return fields_key((prompt, chosen, rejected, repr(score_chosen), repr(score_rejected)))


class UltraFeedbackPipeline(Pipeline):
    name = "ultrafeedback"
    default_hub_id = "openbmb/UltraFeedback"
    default_revision = DEFAULT_REVISION
    sample_file = "ultrafeedback_sample.jsonl"
    config_class = UltraFeedbackConfig
    working_schema: ClassVar[dict[str, pl.DataType]] = {
        "source": pl.String, "prompt": pl.String, "completions": pl.List(COMPLETION)}
    sample_key = "prompt_id"
    pretty_name = "UltraFeedback, binarized (ultrafeedback_binarized style)"
    license = "mit"
    task_categories: ClassVar[list[str]] = ["text-generation"]
    tags: ClassVar[list[str]] = ["ultrafeedback", "dpo", "preference"]
    card_intro = ultrafeedback_card.INTRO
    config: UltraFeedbackConfig

    def features(self) -> Any:
        return ultrafeedback_features()

    def shape(self) -> RatedShape:
        c = self.config
        return RatedShape(c.prompt_field, c.completions_field, c.response_field, c.score_field,
                          c.source_field)

    def prepare(self, units: list[Any]) -> None:
        """``--input-format auto``: the shape of the first row's keys."""
        if self.config.input_format != AUTO:
            return
        first = first_row(units)
        found = detect(first[1], self.shape()) if first is not None else "ultrafeedback"
        if found is None:
            assert first is not None
            raise unknown_shape(first[0], first[1], self.shape())
        log.info("--input-format auto: reading %s rows (the keys of %s)", found,
                 first[0] if first is not None else "the empty input")
        self.config.input_format = found
        self.config.validate()

    def parse(self, ref: str, raw: Any) -> dict[str, Any]:
        if self.config.input_format == "rated":
            return self.shape().parse(ref, raw)
        return parse_row(ref, raw, self.config.score, self.shape())

    def parse_unit(self, unit: Any) -> pl.DataFrame | None:
        """Raw UltraFeedback rows (``--score mean``) read columnar; other shapes row by row."""
        if self.config.input_format != "ultrafeedback" or self.config.score != "mean":
            return None
        return read_ultrafeedback_unit(unit, COMPLETION)

    def steps(self) -> list[Step]:
        steps: list[Step] = [TruthfulQA()]  # first: it keeps H4's truthful_qa count
        index = load_index(self.config.decontaminate)
        if index is not None:
            steps.append(Decontaminate(index, "prompt"))
        steps += [EmptyPrompt(), TooFewCompletions(), empty_response(),
                  Score("mean" if self.config.input_format == "rated" else self.config.score),
                  unrated(),
                  Binarize(self.config.rejected, self.config.seed)]
        if self.config.drop_ties:
            steps.append(DropTies())
        steps.append(CountSource())  # counters "source:<name>" for the report
        return steps

    def output(self, batch: pl.DataFrame) -> pl.DataFrame:
        def chat(response: str) -> pl.Expr:
            return pl.concat_list(pl.struct(content=pl.col("prompt"), role=pl.lit("user")),
                                  pl.struct(content=pl.col(response), role=pl.lit("assistant")))

        keys = [content_hash(*fields) for fields in zip(
            batch["prompt"].to_list(), batch["chosen_response"].to_list(),
            batch["rejected_response"].to_list(), batch["chosen_score"].to_list(),
            batch["rejected_score"].to_list())]
        return batch.select(
            "prompt", "prompt_id", chat("chosen_response").alias("chosen"),
            chat("rejected_response").alias("rejected"),
            chat("chosen_response").alias("messages"),
            pl.col("chosen_score").alias("score_chosen"),
            pl.col("rejected_score").alias("score_rejected"),
            pl.col("prompt_id").alias("_dedup_key"),
            pl.Series("_order_key", keys, dtype=pl.String), "_ref")

    def configs(self) -> list[DerivedConfig]:
        return [trl_config()]

    def split_plan(self) -> SplitPlan:
        return SplitPlan(train="train_prefs", test="test_prefs",
                         mirrors={"train_sft": "train_prefs", "test_sft": "test_prefs",
                                  "train_gen": "train_prefs", "test_gen": "test_prefs"},
                         test_share=self.config.test_share, test_size=self.config.test_size,
                         max_test_share=self.config.test_share)

    def card_splits(self) -> str:
        return ultrafeedback_card.splits(self.config)

    def card_method(self) -> str:
        return ultrafeedback_card.method(self.config)
