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

The steps are ``steps.binarize``'s; this module reads the raw rows and wires the steps.

A row that does not have this structure (not an object, no ``instruction``, ``completions`` not
a list, a rating other than "1".."5", "N/A" or an integer 1..5, ...) is an :class:`InputError`
naming the row and field: it stops the run, or is counted as ``invalid_row`` with
``--on-bad-row drop``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import polars as pl

from ..core.config import ConfigError, PipelineConfig, option
from ..core.errors import InputError
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
from .spec import Pipeline

ASPECTS = ("helpfulness", "honesty", "instruction_following", "truthfulness")
NOT_RATED = "N/A"
_RATINGS = {**{str(i): float(i) for i in range(1, 6)}, NOT_RATED: None}
DEFAULT_REVISION = "40b436560ca83a8dba36114c22ab3c66e43f6d5e"  # with the overall_score fixes
ROW_HINT = ('each row must look like {"source": ..., "instruction": "...", "completions": '
            '[{"response": "...", "annotations": {...}, "overall_score": ...}, ...]}, as in '
            "openbmb/UltraFeedback; or rerun with --on-bad-row drop to count such rows as "
            "dropped.")


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

    def validate(self) -> None:
        super().validate()
        if self.test_size is not None and self.test_size < 0:
            raise ConfigError(f"test_size={self.test_size}: it must be 0 or more, or unset to "
                              "use test_share.")
        check_decontamination(self.decontaminate)


# ------------------------------------------------------------------ parsing


def parse_rating(value: Any, ref: str, field: str) -> float | None:
    """Exactly "1".."5" (as UltraFeedback writes them) or a JSON integer 1..5 (some re-exports);
    None for "N/A" or null. Anything else (" 4", "5.0", 4.5, "1e0", true) is an error."""
    if type(value) is str and value in _RATINGS:  # the common case: "1".."5", "N/A"
        return _RATINGS[value]
    if type(value) is int and 1 <= value <= 5 or value is None:  # type(): not bool
        return None if value is None else float(value)
    raise InputError(ref, field, f'expected a rating "1".."5" or "N/A", found {value!r} (JSON '
                     "integers 1..5 are accepted too; fractions and other spellings are not).",
                     "fix the rating, or rerun with --on-bad-row drop to count the row as "
                     "dropped.")


def parse_overall(value: Any, ref: str, field: str) -> float | None:
    """``overall_score``: a finite number, or None when it is missing or "N/A"."""
    if value is None or value == NOT_RATED:
        return None
    number = _number(value)
    if number is None:
        raise InputError(ref, field, f"expected a number or \"N/A\", found {value!r}.",
                         "fix the score, or rerun with --on-bad-row drop to count the row as "
                         "dropped.")
    return number


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def _aspect_ratings(annotations: Any, ref: str, where: str) -> list[float | None]:
    if annotations is None:
        return [None] * len(ASPECTS)
    if not isinstance(annotations, dict):
        raise InputError(ref, f"{where}.annotations", f"expected an object with the aspects "
                         f"{list(ASPECTS)}, found {type(annotations).__name__}.", ROW_HINT)
    ratings = []
    for aspect in ASPECTS:
        entry = annotations.get(aspect)
        if entry is not None and not isinstance(entry, dict):
            raise InputError(ref, f"{where}.annotations.{aspect}", "expected an object with a "
                             f"'Rating', found {type(entry).__name__}: {str(entry)[:60]!r}.",
                             ROW_HINT)
        value = entry.get("Rating") if entry else None
        ratings.append(parse_rating(value, ref, f"{where}.annotations.{aspect}.Rating"))
    return ratings


def parse_completion(raw: Any, ref: str, index: int, score: str) -> dict[str, Any]:
    """One completion in working form: ``response``, and ``ratings`` or ``overall``."""
    where = f"completions[{index}]"
    if not isinstance(raw, dict):
        raise InputError(ref, where, f"expected an object, found {type(raw).__name__}: "
                         f"{str(raw)[:60]!r}.", ROW_HINT)
    response = raw.get("response")
    if response is None:
        response = ""  # a null response is an empty one: counted and removed, not an error
    if not isinstance(response, str):
        raise InputError(ref, f"{where}.response", f"expected a string, found "
                         f"{type(response).__name__}: {str(response)[:60]!r}.", ROW_HINT)
    if score == "mean":
        return {"response": response, "overall": None,
                "ratings": _aspect_ratings(raw.get("annotations"), ref, where)}
    return {"response": response, "ratings": None,
            "overall": parse_overall(raw.get("overall_score"), ref, f"{where}.overall_score")}


def parse_row(ref: str, raw: Any, score: str) -> dict[str, Any]:
    """Check a raw UltraFeedback row and turn it into the working form of the steps."""
    if not isinstance(raw, dict):
        raise InputError(ref, None, f"expected a JSON object, found {type(raw).__name__}.",
                         ROW_HINT)
    for key, kind in (("instruction", str), ("source", str), ("completions", list)):
        if key not in raw:
            raise InputError(ref, key, f"missing; the row has keys {sorted(raw)}.", ROW_HINT)
        if not isinstance(raw[key], kind):
            raise InputError(ref, key, f"expected a {'list' if kind is list else 'string'}, "
                             f"found {type(raw[key]).__name__}: {str(raw[key])[:60]!r}.",
                             ROW_HINT)
    completions = [parse_completion(c, ref, i, score) for i, c in enumerate(raw["completions"])]
    return {"source": raw["source"], "prompt": raw["instruction"], "completions": completions}


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

    def parse(self, ref: str, raw: Any) -> dict[str, Any]:
        return parse_row(ref, raw, self.config.score)

    def steps(self) -> list[Step]:
        steps: list[Step] = [TruthfulQA()]  # first: it keeps H4's truthful_qa count
        index = load_index(self.config.decontaminate)
        if index is not None:
            steps.append(Decontaminate(index, "prompt"))
        steps += [EmptyPrompt(), TooFewCompletions(), empty_response(),
                  Score(self.config.score), unrated(),
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
