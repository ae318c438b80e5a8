"""The steps that turn a rated prompt into one preference pair, as in the Zephyr-7B paper.

Working columns: ``source``, ``prompt`` and ``completions`` (a list of ``{response, ratings,
overall}``: the aspect ratings, null for "N/A", or the overall score). In order:

- ``truthful_qa``: the prompt comes from TruthfulQA, an evaluation benchmark (as H4 did);
- ``empty_prompt``; ``too_few_completions`` (fewer than two);
- ``empty_response`` and ``unrated`` remove completions, not rows (counted as
  ``completions_removed_<reason>``); a row drops, for that reason, when fewer than two remain;
- ``score`` gives each completion its score: the mean of its ratings that are not "N/A"
  (``mean``, the paper) or its overall score (``overall``); none when there is nothing to average;
- ``binarize`` picks "chosen", the highest score (the first listed among equals), and
  "rejected", drawn uniformly from the others with a generator seeded from the seed and the
  row's ``prompt_id`` (``random``, the paper), or the lowest score (``lowest``);
- ``tie`` (on request) drops pairs whose scores are equal (Argilla's cleaned variant);
- ``count_source`` counts the pairs per source for the report.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from ..core.ids import prompt_ids, seeded_rng
from ..core.messages import WHITESPACE, flatten
from ..core.step import Filter, Outcome, Step, details_where

TRUTHFUL_QA = "truthful_qa"
SOURCE_PREFIX = "source:"
COMPLETION = pl.Struct({"response": pl.String, "ratings": pl.List(pl.Float64),
                        "overall": pl.Float64})


class TruthfulQA(Filter):
    """TruthfulQA is an evaluation benchmark: its prompts are removed, as H4 did."""

    name = TRUTHFUL_QA

    def details(self, batch: pl.DataFrame) -> pl.Series:
        return details_where((batch["source"] == TRUTHFUL_QA).fill_null(False),
                             "source is truthful_qa")


class EmptyPrompt(Filter):
    name = "empty_prompt"

    def details(self, batch: pl.DataFrame) -> pl.Series:
        blank = batch["prompt"].str.strip_chars(WHITESPACE).str.len_bytes() == 0
        return details_where(blank, "the instruction is empty or white space")


class TooFewCompletions(Filter):
    """A preference pair needs two completions."""

    name = "too_few_completions"

    def details(self, batch: pl.DataFrame) -> pl.Series:
        n = batch["completions"].list.len().fill_null(0)
        few = (n < 2).to_numpy()
        return details_where(few, [f"{k} completion(s) in the row"
                                   for k in n.filter(pl.Series(few)).to_list()])


class PruneCompletions(Step):
    """Removes the completions ``unusable`` picks out; drops a row left with fewer than two."""

    def __init__(self, name: str, unusable: Callable[[pl.DataFrame], pl.Series]):
        self.name, self.unusable = name, unusable
        self.counter = f"completions_removed_{name}"

    @property  # type: ignore[override]
    def reasons(self) -> tuple[str, ...]:
        return (self.name,)

    def __call__(self, batch: pl.DataFrame) -> Outcome:
        flat = flatten(batch["completions"])
        bad = self.unusable(flat.fields).fill_null(True).to_numpy()
        if not bad.any():
            return Outcome()
        removed = flat.per_row(bad)
        left = flat.lengths - removed
        drops = (removed > 0) & (left < 2)
        details = [f"{r} of {n} completions removed, {k} left"
                   for r, n, k in zip(removed[drops], flat.lengths[drops], left[drops])]
        detail = details_where(drops, details)
        return Outcome(drop=pl.select(pl.when(detail.is_not_null()).then(pl.lit(self.name))
                                      .otherwise(None).cast(pl.String)).to_series(),
                       detail=detail, columns={"completions": flat.rebuild(keep=~bad)},
                       counters={self.counter: int(removed.sum())})


def empty_response() -> PruneCompletions:
    return PruneCompletions("empty_response", lambda c: c["response"].fill_null("")
                            .str.strip_chars(WHITESPACE).str.len_bytes() == 0)


def unrated() -> PruneCompletions:
    return PruneCompletions("unrated", lambda c: c["score"].is_null())


class Score(Step):
    """Gives each completion its ``score`` (null when it has none); counts "N/A" ratings."""

    name = "score"

    def __init__(self, method: str):
        self.method = method

    def __call__(self, batch: pl.DataFrame) -> Outcome:
        flat = flatten(batch["completions"])
        counters = {}
        if self.method == "mean":
            ratings = flat.fields["ratings"]
            score = ratings.list.mean()
            counters["ratings_not_available"] = int(ratings.list.eval(
                pl.element().null_count()).list.sum().sum() or 0)
        else:
            score = flat.fields["overall"]
        return Outcome(columns={"completions": flat.rebuild({"score": score.cast(pl.Float64)})},
                       counters=counters)


def pick_chosen(scores: list[float]) -> int:
    """Index of the highest score; the first listed among equals."""
    return max(range(len(scores)), key=lambda i: (scores[i], -i))


def pick_rejected(scores: list[float], chosen: int, rule: str, seed: int, pid: str) -> int:
    """Index of "rejected" among the completions other than ``chosen``: ``random`` draws
    uniformly, from a generator seeded by ``seed`` and ``pid`` alone (so the draw does not depend
    on row order, batching or workers); ``lowest`` takes the lowest score, first among equals."""
    others = [i for i in range(len(scores)) if i != chosen]
    if rule == "random":
        return others[int(seeded_rng(seed, pid, "rejected").integers(len(others)))]
    return min(others, key=lambda i: (scores[i], i))


class Binarize(Step):
    """Picks "chosen" and "rejected"; adds ``prompt_id``, ``chosen_response``,
    ``chosen_score``, ``rejected_response``, ``rejected_score``; counts tied pairs."""

    name = "binarize"

    def __init__(self, rule: str, seed: int):
        self.rule, self.seed = rule, seed

    def __call__(self, batch: pl.DataFrame) -> Outcome:
        flat = flatten(batch["completions"])
        pids = prompt_ids(batch["prompt"].to_list())
        scores = flat.fields["score"].to_list()
        responses = flat.fields["response"].to_list()
        picked: dict[str, list] = {"chosen_response": [], "chosen_score": [],
                                   "rejected_response": [], "rejected_score": []}
        ties = 0
        for row, (start, end) in enumerate(zip(flat.offsets[:-1].tolist(),
                                               flat.offsets[1:].tolist())):
            row_scores = scores[start:end]
            chosen = pick_chosen(row_scores)
            rejected = pick_rejected(row_scores, chosen, self.rule, self.seed, pids[row])
            ties += row_scores[chosen] == row_scores[rejected]
            for side, index in (("chosen", chosen), ("rejected", rejected)):
                picked[f"{side}_response"].append(responses[start + index])
                picked[f"{side}_score"].append(row_scores[index])
        columns = {"prompt_id": pl.Series(pids, dtype=pl.String)}
        columns.update({k: pl.Series(v, dtype=pl.String if k.endswith("response")
                                     else pl.Float64) for k, v in picked.items()})
        return Outcome(columns=columns, counters={"pairs_with_tied_scores": ties})


class DropTies(Filter):
    name = "tie"

    def details(self, batch: pl.DataFrame) -> pl.Series:
        tied = (batch["chosen_score"] == batch["rejected_score"]).fill_null(False).to_numpy()
        return details_where(tied, [f"chosen and rejected both score {s:g}" for s in
                                    batch["chosen_score"].filter(pl.Series(tied)).to_list()])


class CountSource(Step):
    """Counts rows per ``source`` as ``source:<name>`` for the report; place it last, so that it
    counts the rows that passed every rule (duplicates are removed after it)."""

    name = "count_source"

    def __call__(self, batch: pl.DataFrame) -> Outcome:
        names = batch["source"].fill_null("").to_list()
        counts: dict[str, int] = {}
        for name in names:
            key = f"{SOURCE_PREFIX}{name or 'unknown'}"
            counts[key] = counts.get(key, 0) + 1
        return Outcome(counters=counts)

