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

A row that does not have this structure (not an object, no ``instruction``, ``completions`` not
a list, a rating other than "1".."5", "N/A" or an integer 1..5, ...) is an :class:`InputError`
naming the row and field: it stops the run, or is counted as ``invalid_row`` with
``--on-bad-row drop``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, Literal

from .config import ConfigError, PipelineConfig, option
from .decontamination import Decontaminate, PromptTurns, card_text, load_index
from .engine import Pipeline, SplitPlan, prompt_id, seeded_rng, seeded_u64
from .errors import InputError
from .report import SourceCounter
from .schemas import ultrafeedback_features
from .steps import Drop, Filter, Stats, Step

ASPECTS = ("helpfulness", "honesty", "instruction_following", "truthfulness")
NOT_RATED = "N/A"
TRUTHFUL_QA = "truthful_qa"
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
    completion: dict[str, Any] = {"response": response}
    if score == "mean":
        completion["ratings"] = _aspect_ratings(raw.get("annotations"), ref, where)
    else:
        completion["overall"] = parse_overall(raw.get("overall_score"), ref,
                                              f"{where}.overall_score")
    return completion


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
    return {"ref": ref, "source": raw["source"], "prompt": raw["instruction"],
            "completions": completions}


# ------------------------------------------------------------------ rules


class TruthfulQA(Filter):
    """TruthfulQA is an evaluation benchmark: its prompts are removed, as H4 did."""

    name = "truthful_qa"

    def check(self, row: dict[str, Any]) -> str | None:
        return "source is truthful_qa" if row["source"] == TRUTHFUL_QA else None


class EmptyPrompt(Filter):
    name = "empty_prompt"

    def check(self, row: dict[str, Any]) -> str | None:
        return "the instruction is empty or white space" if not row["prompt"].strip() else None


class TooFewCompletions(Filter):
    """A preference pair needs two completions."""

    name = "too_few_completions"

    def check(self, row: dict[str, Any]) -> str | None:
        n = len(row["completions"])
        return f"{n} completion(s) in the row" if n < 2 else None


class PruneCompletions(Step):
    """Removes the completions that ``is_unusable``; drops the row if fewer than two remain."""

    counter = ""

    def is_unusable(self, completion: dict[str, Any]) -> bool:
        raise NotImplementedError

    def apply(self, row: dict[str, Any], stats: Stats) -> dict[str, Any] | Drop:
        completions = row["completions"]
        kept = [c for c in completions if not self.is_unusable(c)]
        removed = len(completions) - len(kept)
        if not removed:
            return row
        stats.counters[self.counter] += removed
        if len(kept) < 2:
            return Drop(self.name, f"{removed} of {len(completions)} completions removed, "
                        f"{len(kept)} left")
        return {**row, "completions": kept}


class DropEmptyResponses(PruneCompletions):
    name = "empty_response"
    counter = "completions_removed_empty_response"

    def is_unusable(self, completion: dict[str, Any]) -> bool:
        return not completion["response"].strip()


class Score(Step):
    """Gives each completion its ``score`` (None when it has none) and counts "N/A" ratings."""

    name = "score"

    def __init__(self, method: str):
        self.method = method

    def apply(self, row: dict[str, Any], stats: Stats) -> dict[str, Any]:
        scored, not_available = [], 0
        for c in row["completions"]:
            if self.method == "mean":
                rated = [r for r in c["ratings"] if r is not None]
                not_available += len(c["ratings"]) - len(rated)
                score = sum(rated) / len(rated) if rated else None
            else:
                score = c["overall"]
            scored.append({**c, "score": score})
        if not_available:
            stats.counters["ratings_not_available"] += not_available
        return {**row, "completions": scored}


class DropUnrated(PruneCompletions):
    name = "unrated"
    counter = "completions_removed_unrated"

    def is_unusable(self, completion: dict[str, Any]) -> bool:
        return completion["score"] is None


def pick_chosen(scores: list[float]) -> int:
    """Index of the highest score; the first listed among equals."""
    return max(range(len(scores)), key=lambda i: (scores[i], -i))


def pick_rejected(scores: list[float], chosen: int, rule: str, seed: int, pid: str) -> int:
    """Index of "rejected" among the completions other than ``chosen``.

    ``random``: uniform, from a generator seeded by ``seed`` and ``pid`` alone, so the draw does
    not depend on row order, batching or workers. ``lowest``: the lowest score, first listed
    among equals.
    """
    others = [i for i in range(len(scores)) if i != chosen]
    if rule == "random":
        return others[int(seeded_rng(seed, pid, "rejected").integers(len(others)))]
    return min(others, key=lambda i: (scores[i], i))


class Binarize(Step):
    """Picks "chosen" and "rejected"; counts the pairs whose scores tie."""

    name = "binarize"

    def __init__(self, rule: str, seed: int):
        self.rule, self.seed = rule, seed

    def apply(self, row: dict[str, Any], stats: Stats) -> dict[str, Any]:
        pid = prompt_id(row["prompt"])
        scores = [c["score"] for c in row["completions"]]
        chosen = pick_chosen(scores)
        rejected = pick_rejected(scores, chosen, self.rule, self.seed, pid)
        if scores[chosen] == scores[rejected]:
            stats.counters["pairs_with_tied_scores"] += 1
        return {**row, "prompt_id": pid, "chosen": row["completions"][chosen],
                "rejected": row["completions"][rejected]}


class DropTies(Filter):
    name = "tie"

    def check(self, row: dict[str, Any]) -> str | None:
        score = row["chosen"]["score"]
        return f"chosen and rejected both score {score:g}" \
            if score == row["rejected"]["score"] else None


def content_hash(prompt: str, chosen: dict[str, Any], rejected: dict[str, Any]) -> str:
    """sha256 of everything a pair writes; fields are length-prefixed so none can run into the
    next one. Of duplicate prompts, the runner keeps the pair with the smallest hash."""
    fields = (prompt, chosen["response"], rejected["response"], repr(chosen["score"]),
              repr(rejected["score"]))
    return hashlib.sha256("".join(f"{len(f)}:{f}" for f in fields).encode()).hexdigest()


def chat(prompt: str, response: str) -> list[dict[str, str]]:
    return [{"content": prompt, "role": "user"}, {"content": response, "role": "assistant"}]


# ------------------------------------------------------------------ pipeline


class UltraFeedbackPipeline(Pipeline):
    name = "ultrafeedback"
    default_hub_id = "openbmb/UltraFeedback"
    default_revision = DEFAULT_REVISION
    sample_file = "ultrafeedback_sample.jsonl"
    config_class = UltraFeedbackConfig
    pretty_name = "UltraFeedback, binarized (ultrafeedback_binarized style)"
    license = "mit"
    task_categories = ["text-generation"]
    tags = ["ultrafeedback", "dpo", "preference"]
    card_intro = ("Preference pairs from UltraFeedback, binarized as in the Zephyr-7B recipe "
                  "(Tunstall et al., 2023), in the schema of "
                  "`HuggingFaceH4/ultrafeedback_binarized`: `prompt`, `prompt_id` "
                  "(`sha256(prompt.encode('utf-8')).hexdigest()`), `chosen` and `rejected` "
                  "(`[{content, role}]`: the user turn, then the assistant turn), `messages` "
                  "(the same as `chosen`), and `score_chosen`/`score_rejected` (float64).")
    config: UltraFeedbackConfig

    def features(self) -> Any:
        return ultrafeedback_features()

    def parse(self, ref: str, raw: Any) -> dict[str, Any] | Drop:
        return parse_row(ref, raw, self.config.score)

    def steps(self) -> list[Step]:
        steps: list[Step] = [TruthfulQA()]  # first: it keeps H4's truthful_qa count
        index = load_index(self.config.decontaminate)
        if index is not None:
            steps.append(Decontaminate(index, PromptTurns("prompt")))
        steps += [EmptyPrompt(), TooFewCompletions(), DropEmptyResponses(),
                  Score(self.config.score), DropUnrated(),
                  Binarize(self.config.rejected, self.config.seed)]
        if self.config.drop_ties:
            steps.append(DropTies())
        steps.append(SourceCounter())  # counters "source:<name>" for the report
        return steps

    def to_record(self, row: dict[str, Any]) -> dict[str, Any]:
        prompt, pid = row["prompt"], row["prompt_id"]
        chosen, rejected = row["chosen"], row["rejected"]
        chosen_chat = chat(prompt, chosen["response"])
        return {"prompt": prompt, "prompt_id": pid, "chosen": chosen_chat,
                "rejected": chat(prompt, rejected["response"]), "messages": chosen_chat,
                "score_chosen": chosen["score"], "score_rejected": rejected["score"],
                "_dedup_key": pid, "_order_key": content_hash(prompt, chosen, rejected),
                "_ref": row["ref"], "_select": seeded_u64(self.config.seed, pid, "select"),
                "_split": int(pid[:16], 16)}

    def split_plan(self) -> SplitPlan:
        return SplitPlan(train="train_prefs", test="test_prefs",
                         mirrors={"train_sft": "train_prefs", "test_sft": "test_prefs",
                                  "train_gen": "train_prefs", "test_gen": "test_prefs"},
                         test_share=self.config.test_share, test_size=self.config.test_size,
                         max_test_share=self.config.test_share)

    def card_splits(self) -> str:
        size, share = self.config.test_size, self.config.test_share
        rule = (f"the {size:,} prompts (`--test-size`) whose `prompt_id` has the smallest "
                f"first 64 bits, or only {share:.0%} of the kept prompts (`--test-share`) if "
                f"{size:,} would be more, so that a small input keeps a train split"
                if size is not None else
                f"the prompts whose `prompt_id`'s first 64 bits fall in the lowest {share:.0%} "
                "of their range")
        return (f"`test_prefs` holds {rule}; `train_prefs` holds the rest. The same prompt "
                "always lands on the same side and no prompt is in both train and test. "
                "`train_prefs`/`test_prefs` are for preference tuning (DPO, reward models). "
                "`train_sft`/`test_sft` hold the same rows as `train_prefs`/`test_prefs`, for "
                "supervised fine-tuning on `messages` (the chosen answer); "
                "`train_gen`/`test_gen` hold them too, for generation (sampling answers to "
                "`prompt`). Unlike the H4 dataset, whose `test_sft`/`test_gen` hold 1,000 "
                "prompts, ours mirror `test_prefs` exactly.")

    def card_method(self) -> str:
        c = self.config
        score = ("the mean of its four aspect ratings (helpfulness, honesty, "
                 "instruction_following, truthfulness; 1 to 5), \"N/A\" or missing ratings "
                 "excluded; a completion rated \"N/A\" on all four has no score"
                 if c.score == "mean" else
                 "its `overall_score` (1 to 10, from the GPT-4 critique); a missing or \"N/A\" "
                 "`overall_score` means no score")
        rejected = ("drawn uniformly at random from the other usable completions, with a "
                    f"generator seeded from the seed ({c.seed}) and the row's `prompt_id`, so "
                    "the draw does not depend on row order or workers"
                    if c.rejected == "random" else
                    "the other usable completion with the lowest score (the first listed among "
                    "equal scores)")
        ties = ("dropped (`tie`)" if c.drop_ties
                else "kept (counted as `pairs with tied scores`)")
        return f"""### Method

- Score (`--score {c.score}`): each completion is scored by {score}.
{card_text(c.decontaminate)}
- Rules, in order; a prompt is dropped by the first one it meets:
  - `truthful_qa`: the prompt comes from TruthfulQA (`source == "truthful_qa"`), an evaluation
    benchmark, and is removed as H4 did.
  - `contaminated_<benchmark>`: see Decontamination below.
  - `empty_prompt`: the instruction is empty or white space.
  - `too_few_completions`: the raw row has fewer than two completions.
  - `empty_response`: completions with an empty or white-space response are removed (counted
    as `completions removed empty response`); the prompt is dropped if fewer than two remain.
  - `unrated`: completions with no score are removed (counted as `completions removed
    unrated`); the prompt is dropped if fewer than two remain.{'''
  - `tie`: "chosen" and "rejected" have the same score.''' if c.drop_ties else ''}
  - `duplicate`: prompts seen more than once (same `prompt_id`); the copy kept is the one whose
    output has the smallest sha256, whatever the input order.
- "chosen" is the completion with the highest score; among equal scores, the one listed first
  in the raw row's `completions`.
- "rejected" (`--rejected {c.rejected}`) is {rejected}. Pairs whose scores tie are {ties}.
- Rows are sorted by `prompt_id`, so the output does not depend on input order or workers."""
