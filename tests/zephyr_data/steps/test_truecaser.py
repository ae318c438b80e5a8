"""Truecasing: only the case of letters changes, broken text is repaired, good text is kept."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.truecasing_eval import break_sentence_starts, evaluate
from zephyr_data.steps.truecaser import candidates, is_broken, truecase


def assert_case_only(before: str, after: str) -> None:
    assert len(after) == len(before)
    assert after.lower() == before.lower()
    for a, b in zip(before, after):
        assert a == b or a.lower() == b.lower()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_only_case_changes_on_any_text(text):
    assert_case_only(text, truecase(text).text)


WORDS = st.sampled_from(["i", "hello", "paris", "the", "code", "`x = 1`", "i'm", "e.g.",
                         "https://example.org/a.b", "ß", "ǆ", "ı", "İ", "σ", "Σ", "iPhone", "-",
                         "\n", "\n\n", "```\nfor i in x:\n```", "1.", "what", "?", "!", "."])


@settings(max_examples=400, deadline=None)
@given(st.lists(WORDS, max_size=40).map(" ".join))
def test_only_case_changes_on_sentence_like_text(text):
    assert_case_only(text, truecase(text).text)


@pytest.mark.parametrize("broken,fixed", [
    ("hello. how are you? i am fine.", "Hello. How are you? I am fine."),
    ("i visited paris and london with john last june. it was great!",
     "I visited Paris and London with John last June. It was great!"),
    ("Thanks! i'm sure that helps. what else should i read?",
     "Thanks! I'm sure that helps. What else should I read?"),
    ("sure, here it is:\n\n```python\nimport os\nprint(os.getcwd())\n```\n\nrun it with `python "
     "main.py` and write to bob.smith@example.com. see https://example.org/docs?x=1 for more.",
     "Sure, here it is:\n\n```python\nimport os\nprint(os.getcwd())\n```\n\nRun it with `python "
     "main.py` and write to bob.smith@example.com. See https://example.org/docs?x=1 for more."),
])
def test_repairs_broken_text(broken, fixed):
    assert is_broken(broken)
    assert truecase(broken).text == fixed


@pytest.mark.parametrize("text", [
    "Hello there. This is fine, e.g. when used. Visit https://example.org/a?b=c now.",
    "- salt and pepper\n- olive oil\n\n1. preheat the oven.\n2. bake it.",
    "The iPhone and eBay are brands. Use `npm install` or pandas.read_csv().",
    "Dr. Smith arrived at 3 p.m. on Monday... and then left.",
    "yes",
    "Answer: b",
    "x = 3\ny = 4",
    "The average rate of change is:\n\nwhere m is the mass.",
])
def test_leaves_well_formed_text_alone(text):
    assert not is_broken(text)
    assert truecase(text).text == text


def test_break_sentence_starts_lowers_real_sentence_starts():
    text = "It rained. Dr. Smith came! Then we left.\n1. First item"
    broken, positions = break_sentence_starts(text)
    assert broken == "it rained. Dr. Smith came! then we left.\n1. First item"
    assert positions == [0, 27]


def test_rates_on_real_responses(responses):
    rates = evaluate(responses)
    assert rates["messages"] > 3900
    assert rates["unchanged_share"] >= 0.99, rates
    assert rates["broken_letters"] > 15_000
    assert rates["restored_share"] >= 0.99, rates


# ------------------------------------------------------------------ the polars screen

TRICKY = st.sampled_from([
    "i", "i'm", "i’ve", "i think", "i am", "e-mail", "x-ray", "o'clock", "hello", "world",
    "the", "sky", "is", "blue", "answer:", "step 1:", "where", "option", "d )", ".", "!", "?",
    "...", ",", ":", '"', "“", "*", "_", "-", "1.", "a)", "#", ">", "\n", "\n\n", "\r\n",
    "\t", "\x0c", "\x1c", "\x1f", "\x85", "\u2028", "\u00a0", "\u3000", "```", "```\ncode\n```",
    "~~~", "$$x$$", "$x$", "`y`", "<b>", "https://a.b/c d", "www.a.b", "a@b.co", "café",
    "naïve", "Paris", "I", "ok.", "def f():", "x = 1", "for i in x:", "import os", "mr", "dr.",
    "e.g.", "u.s.", "etc.", "(", ")", "[", "'", "’", "—"])


def screened(texts: list[str]) -> list[bool]:
    return candidates(pl.Series(texts, dtype=pl.String)).to_list()


@settings(max_examples=600, deadline=None)
@given(st.lists(st.lists(TRICKY, max_size=30).map(" ".join), min_size=1, max_size=8))
def test_the_screen_lets_through_every_message_the_truecaser_changes(texts):
    """``candidates`` is a superset of what ``truecase`` changes, on text made of the pieces
    its rules turn on: the Python truecaser never sees a message the screen dropped, so this
    is what keeps the output identical."""
    for text, kept in zip(texts, screened(texts)):
        if not kept:
            assert truecase(text).letters_changed == 0, text
            assert not is_broken(text), text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=200), min_size=1,
                max_size=5))
def test_the_screen_is_a_superset_on_any_text(texts):
    for text, kept in zip(texts, screened(texts)):
        if not kept:
            assert not is_broken(text), text


def test_the_screen_is_precise_on_real_replies(responses, prompts):
    """On real text, most messages the screen lets through are broken (the truecaser's cost
    follows the messages it changes)."""
    texts = prompts + [break_sentence_starts(r)[0] for r in responses[:1000]] + responses[1000:]
    kept = [t for t, k in zip(texts, screened(texts)) if k]
    changed = sum(truecase(t).letters_changed > 0 for t in kept)
    assert changed / len(kept) > 0.5, (changed, len(kept))
    missed = [t for t, k in zip(texts, screened(texts)) if not k and is_broken(t)]
    assert missed == []
