"""Each UltraChat rule, with positive and negative cases taken from real text in ../shared/data."""

from __future__ import annotations

import re

import pytest

from tests.support.steps import decide, dialogues
from zephyr_data.pipelines.ultrachat import default_filters
from zephyr_data.steps.chat_rules import (
    EmptyDialogue,
    EmptyTurn,
    NoAssistantTurn,
    OddTurnCount,
    PersonaAnswer,
)

PERSONA = default_filters()["persona_rules"]
RULES = {name: PersonaAnswer(name, patterns) for name, patterns in PERSONA.items()}
# Real replies that hold each kind of persona answer, found by a plain phrase, and words that
# no reply outside that kind should contain.
POSITIVE_PHRASES = {
    "as_an_ai": ["As an AI language model", "As an AI assistant", "as an AI,"],
    "no_personal_experience": ["I don't have personal experiences",
                               "I do not have personal experiences"],
    "no_emotions": ["I don't have feelings", "I do not have emotions", "I don't have emotions"],
    "no_opinions": ["I don't have personal opinions", "I do not have personal beliefs or opinions",
                    "I don't have personal beliefs"],
}
TOPIC_WORDS = re.compile(r"\b(AI|artificial intelligence|language model|experiences?|emotions?|"
                         r"feelings?|opinions?|beliefs?|preferences?|views?|biases)\b", re.I)


def matching(responses: list[str], phrases: list[str]) -> list[str]:
    return [r for r in responses if any(p in r for p in phrases)]


@pytest.mark.parametrize("rule", sorted(POSITIVE_PHRASES))
def test_persona_rule_drops_real_answers(rule, responses, prompts):
    found = matching(responses, POSITIVE_PHRASES[rule])
    assert len(found) >= 2, f"too few real examples for {rule}"
    decided = decide(RULES[rule], dialogues(*[[prompts[0], reply] for reply in found]))
    for reply, decision in zip(found, decided):
        assert decision is not None and decision[0] == rule, reply[:200]
        assert decision[1].startswith("turn 1: ")


@pytest.mark.parametrize("rule", sorted(POSITIVE_PHRASES))
def test_persona_rule_keeps_the_same_words_in_a_user_turn(rule, responses):
    found = matching(responses, POSITIVE_PHRASES[rule])[:20]
    batch = dialogues(*[[reply, "Here is a summary of what you wrote."] for reply in found])
    assert decide(RULES[rule], batch) == [None] * len(found)


@pytest.mark.parametrize("rule", sorted(POSITIVE_PHRASES))
def test_persona_rule_keeps_real_answers_without_persona(rule, responses, prompts):
    plain = [r for r in responses if not TOPIC_WORDS.search(r)]
    assert len(plain) > 1000
    assert decide(RULES[rule], dialogues(*[[prompts[1], r] for r in plain])) == [None] * len(plain)


def test_neutral_talk_about_ai_is_kept(responses):
    about = [r for r in responses if "language model" in r.lower()]
    batch = dialogues(*[["q", r] for r in about])
    decided = [decide(rule, batch) for rule in RULES.values()]
    neutral = [r for i, r in enumerate(about) if all(d[i] is None for d in decided)]
    assert neutral, "expected real replies that discuss language models without a persona"
    for reply in neutral:
        assert re.search(r"\b(as an? (ai|language model)|i am an ai)\b", reply, re.I) is None


def test_structural_rules_on_real_text(responses, prompts):
    q, a = prompts[2], responses[2]
    cases = {
        EmptyDialogue(): ([], [q, a], "no turns"),
        NoAssistantTurn(): ([q], [q, a], "only a user turn"),
        OddTurnCount(): ([q, a, q], [q, a, q, a], "3 turns: the last user turn has no answer"),
        EmptyTurn(): ([q, "   \n"], [q, a], "turn 1 (assistant) is empty or white space"),
    }
    for rule, (bad, good, detail) in cases.items():
        assert decide(rule, dialogues(bad, good)) == [(rule.name, detail), None]


def test_an_empty_turn_is_python_white_space():
    """Python's notion of white space (the old row-by-row check), not Rust's: a turn of
    information separators (U+001C..U+001F) is empty too."""
    assert decide(EmptyTurn(), dialogues(["q", "\x1c\x1f "], ["q", "a"]))[0] == \
        ("empty_turn", "turn 1 (assistant) is empty or white space")
