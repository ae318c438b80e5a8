"""Each filter rule, with positive and negative cases taken from real text in ../shared/data."""

from __future__ import annotations

import re

import pytest
from zephyr_data.ultrachat import (
    EmptyDialogue,
    EmptyTurn,
    NoAssistantTurn,
    OddTurnCount,
    PersonaAnswer,
    Truecase,
    default_filters,
)

from zephyr_data.steps import Drop, Stats

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


def dialogue(user: str, assistant: str) -> dict:
    return {"messages": [user, assistant]}


def matching(responses: list[str], phrases: list[str]) -> list[str]:
    return [r for r in responses if any(p in r for p in phrases)]


@pytest.mark.parametrize("rule", sorted(POSITIVE_PHRASES))
def test_persona_rule_drops_real_answers(rule, responses, prompts):
    found = matching(responses, POSITIVE_PHRASES[rule])
    assert len(found) >= 2, f"too few real examples for {rule}"
    for reply in found:
        result = RULES[rule].apply(dialogue(prompts[0], reply), Stats())
        assert isinstance(result, Drop) and result.reason == rule, reply[:200]


@pytest.mark.parametrize("rule", sorted(POSITIVE_PHRASES))
def test_persona_rule_keeps_the_same_words_in_a_user_turn(rule, responses):
    for reply in matching(responses, POSITIVE_PHRASES[rule])[:20]:
        row = {"messages": [reply, "Here is a summary of what you wrote."]}
        assert RULES[rule].apply(row, Stats()) is row


@pytest.mark.parametrize("rule", sorted(POSITIVE_PHRASES))
def test_persona_rule_keeps_real_answers_without_persona(rule, responses, prompts):
    plain = [r for r in responses if not TOPIC_WORDS.search(r)]
    assert len(plain) > 1000
    for reply in plain:
        row = dialogue(prompts[1], reply)
        assert RULES[rule].apply(row, Stats()) is row, reply[:200]


def test_neutral_talk_about_ai_is_kept(responses):
    neutral = [r for r in responses if "language model" in r.lower()
               and not any(rule.check(dialogue("q", r)) for rule in RULES.values())]
    assert neutral, "expected real replies that discuss language models without a persona"
    for reply in neutral:
        assert re.search(r"\b(as an? (ai|language model)|i am an ai)\b", reply, re.I) is None


def test_structural_rules_on_real_text(responses, prompts):
    q, a = prompts[2], responses[2]
    cases = {
        EmptyDialogue(): ([], [q, a]),
        NoAssistantTurn(): ([q], [q, a]),
        OddTurnCount(): ([q, a, q], [q, a, q, a]),
        EmptyTurn(): ([q, "   \n"], [q, a]),
    }
    for rule, (bad, good) in cases.items():
        dropped = rule.apply({"messages": bad}, Stats())
        assert isinstance(dropped, Drop) and dropped.reason == rule.name
        kept = {"messages": good}
        assert rule.apply(kept, Stats()) is kept
    assert EmptyTurn().check({"messages": [q, ""]}) == "turn 1 (assistant) is empty or white space"


def test_truecase_step_counts_messages_and_dialogues():
    stats = Stats()
    row = Truecase().apply({"messages": ["hello. how are you?", "Fine, thanks."]}, stats)
    assert row["messages"][0] == "Hello. How are you?"
    assert row["original"][0] == "hello. how are you?"
    assert stats.counters == {"truecased_messages": 1, "truecased_dialogues": 1,
                              "truecased_letters": 2}
