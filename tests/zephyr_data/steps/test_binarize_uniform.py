""""rejected" is drawn uniformly: a chi-square test over 3,000 prompts that a biased draw fails."""

from __future__ import annotations

from collections import Counter

import pytest
from scipy.stats import chisquare

from tests.support.ultrafeedback import completion, process, raw_row
from zephyr_data.core.ids import seeded_rng
from zephyr_data.steps import binarize

N_PROMPTS = 3000
ALPHA = 0.001  # the seed is fixed, so this is a fixed verdict, not a flaky one


def rows_with_three_candidates() -> list[dict]:
    """A clear winner at a varying position, and three other answers with unequal scores."""
    rows = []
    for i in range(N_PROMPTS):
        others = [completion("candidate A", (1,) * 4), completion("candidate B", (2,) * 4),
                  completion("candidate C", (3,) * 4)]
        others.insert(i % 4, completion("winner", (5,) * 4))
        rows.append(raw_row(f"Prompt number {i}: say something.", others))
    return rows


def rejected_counts(**values) -> Counter:
    records, drops, _ = process(rows_with_three_candidates(), **values)
    assert not drops and len(records) == N_PROMPTS
    assert all(r["chosen"][1]["content"] == "winner" for r in records.values())
    return Counter(r["rejected"][1]["content"] for r in records.values())


def uniform_p_value(counts: Counter) -> float:
    observed = [counts[f"candidate {x}"] for x in "ABC"]
    assert sum(observed) == N_PROMPTS
    return float(chisquare(observed).pvalue)


def test_each_candidate_is_rejected_about_equally_often():
    counts = rejected_counts()
    assert uniform_p_value(counts) > ALPHA, counts
    assert all(abs(n - N_PROMPTS / 3) < 100 for n in counts.values()), counts


def test_the_draw_is_uniform_for_other_seeds_too():
    assert uniform_p_value(rejected_counts(seed=7)) > ALPHA


def test_a_biased_draw_fails_the_test(monkeypatch):
    """An off-by-one (``integers(n + 1) % n``) gives the first candidate half the draws."""

    def biased(scores, chosen, rule, seed, pid):
        others = [i for i in range(len(scores)) if i != chosen]
        return others[int(seeded_rng(seed, pid, "rejected").integers(len(others) + 1))
                      % len(others)]

    monkeypatch.setattr(binarize, "pick_rejected", biased)
    counts = rejected_counts()
    assert uniform_p_value(counts) < ALPHA, counts


def test_lowest_is_not_random():
    assert rejected_counts(rejected="lowest") == {"candidate A": N_PROMPTS}


@pytest.mark.parametrize("position", range(4))
def test_the_winners_position_does_not_bias_the_draw(position):
    """Among the prompts with the winner at one position, the draw is still uniform."""
    records, _, _ = process(rows_with_three_candidates()[position::4])
    counts = Counter(r["rejected"][1]["content"] for r in records.values())
    observed = [counts[f"candidate {x}"] for x in "ABC"]
    assert chisquare(observed).pvalue > ALPHA, counts
