"""Every step through the one contract, ``step(batch) -> Outcome``, on small inputs: its exact
reasons (named after the step), details and counters. A step class that this table does not
cover fails the last test, so no step goes without one."""

from __future__ import annotations

import importlib
import json
import pkgutil

import polars as pl
import pytest

import zephyr_data.steps
from tests.support.steps import decide, dialogues
from tests.support.ultrafeedback import completion, config, rated, raw_row
from zephyr_data.core.messages import MESSAGES
from zephyr_data.core.stats import Stats
from zephyr_data.core.step import Step, check_reason_names
from zephyr_data.pipelines.ultrafeedback import UltraFeedbackPipeline
from zephyr_data.runner.chain import parse_rows, run_steps
from zephyr_data.steps.binarize import (
    Binarize,
    CountSource,
    DropTies,
    EmptyPrompt,
    PruneCompletions,
    Score,
    TooFewCompletions,
    TruthfulQA,
    empty_response,
    unrated,
)
from zephyr_data.steps.chat_rules import (
    EmptyDialogue,
    EmptyTurn,
    NoAssistantTurn,
    OddTurnCount,
    PersonaAnswer,
    RolesNotAlternating,
    ToolTurn,
)
from zephyr_data.steps.decontamination import BenchmarkIndex, Decontaminate
from zephyr_data.steps.truecase import Truecase


def feedback(*rows, score: str = "mean") -> pl.DataFrame:
    """The working batch of raw UltraFeedback rows, parsed as the runner parses them."""
    pipeline = UltraFeedbackPipeline(config(score=score))
    return parse_rows([(f"row{i}", r) for i, r in enumerate(rows)], pipeline.parse,
                      pipeline.working_schema, Stats(), False, None)


def chats(*rows: list[tuple[str, str]]) -> pl.DataFrame:
    """A batch of conversations with explicit roles: each row a list of (role, content)."""
    return pl.DataFrame({"messages": pl.Series([[{"content": c, "role": r} for r, c in row]
                                                for row in rows], dtype=MESSAGES),
                         "_ref": [f"row{i}" for i in range(len(rows))]})


SYS, Q, A = ("system", "Be brief."), ("user", "q"), ("assistant", "a")
# Rules that read roles: (step, rows with roles, expected decision per row).
ROLE_CASES = [
    (EmptyDialogue(), [[], [SYS], [SYS, Q, A]],
     [("empty_dialogue", "no turns"), ("empty_dialogue", "only system turns"), None]),
    (ToolTurn(), [[Q, ("tool_call", ""), ("tool", "42"), A], [Q, ("tool", "42")], [SYS, Q, A]],
     [("tool_turn", "turn 1: an assistant message that calls a tool"),
      ("tool_turn", "turn 1: a tool or function result"), None]),
    (RolesNotAlternating(),
     [[Q, Q, A], [A, Q], [SYS, A], [Q, A, SYS, Q, A], [SYS], [SYS, SYS, Q, A, Q, A]],
     [("roles_not_alternating", "turn 1: 'user' follows 'user'"),
      ("roles_not_alternating", "turn 0: starts with 'assistant', not 'user'"),
      ("roles_not_alternating", "turn 1: the first turn after the system turns is "
                                "'assistant', not 'user'"),
      ("roles_not_alternating", "turn 2: a system turn after the conversation started"),
      ("roles_not_alternating", "no user turn"), None]),
    (NoAssistantTurn(), [[SYS, Q], [SYS, Q, A]], [("no_assistant_turn", "only a user turn"), None]),
    (OddTurnCount(), [[SYS, Q, A, Q], [SYS, Q, A]],
     [("odd_turn_count", "3 turns: the last user turn has no answer"), None]),
    (EmptyTurn(), [[("system", " "), Q, A]], [("empty_turn", "turn 0 (system) is empty or white "
                                                             "space")]),
    (PersonaAnswer("as_an_ai", ["as an ai"]), [[("system", "As an AI, be brief."), Q, A]],
     [None]),  # system turns are instructions, not answers
]


@pytest.mark.parametrize("step,rows,expected", ROLE_CASES, ids=lambda v: getattr(v, "name", ""))
def test_chat_rules_read_roles(step, rows, expected):
    assert decide(step, chats(*rows)) == expected
    _, stats = through([step], chats(*rows))
    assert stats.dropped == ({step.name: sum(e is not None for e in expected)}
                             if any(expected) else {})


def test_system_turns_are_not_truecased_but_are_decontaminated(shared_data):
    batch = chats([("system", "answer in lower case. i mean it."), ("user", "hello. how are "
                                                                              "you?"), A])
    kept, stats = through([Truecase()], batch)
    assert [m["content"] for m in kept["messages"].to_list()[0][:2]] == \
        ["answer in lower case. i mean it.", "Hello. How are you?"]
    assert stats.counters["truecased_messages"] == 1
    index = BenchmarkIndex.from_dir(shared_data / "benchmarks")
    question = next(i.text for i in index.items if i.benchmark == "mt_bench")
    decided = decide(Decontaminate(index, "messages"), chats([("system", question), Q, A]))
    assert decided[0][0] == "contaminated_mt_bench"
    assert (json.loads(decided[0][1])["turn"], json.loads(decided[0][1])["role"]) == \
        (0, "system")


def through(steps: list[Step], batch: pl.DataFrame) -> tuple[pl.DataFrame, Stats]:
    stats = Stats(rows_in=batch.height)
    return run_steps(batch, steps, stats, None), stats


CHAT_CASES = [
    (EmptyDialogue(), [[], ["q", "a"]], [("empty_dialogue", "no turns"), None]),
    (NoAssistantTurn(), [["q"], ["q", "a"]], [("no_assistant_turn", "only a user turn"), None]),
    (OddTurnCount(), [["q", "a", "q"], ["q", "a"]],
     [("odd_turn_count", "3 turns: the last user turn has no answer"), None]),
    (EmptyTurn(), [["q", " "], [" ", "a"], ["q", "a"]],
     [("empty_turn", "turn 1 (assistant) is empty or white space"),
      ("empty_turn", "turn 0 (user) is empty or white space"), None]),
    (PersonaAnswer("as_an_ai", ["as an ai"]),
     [["Are you human?", "As an AI, I am not."], ["as an ai?", "No."], ["q", "a"]],
     [("as_an_ai", "turn 1: 'As an AI'"), None, None]),
]


@pytest.mark.parametrize("step,rows,expected", CHAT_CASES, ids=lambda v: getattr(v, "name", ""))
def test_chat_rules(step, rows, expected):
    assert decide(step, dialogues(*rows)) == expected
    _, stats = through([step], dialogues(*rows))
    assert stats.dropped == {step.name: sum(e is not None for e in expected)}
    assert not stats.counters


def test_truecase_changes_and_counts():
    kept, stats = through([Truecase()], dialogues(["hi there. i am here.", "Good."], ["A.", "B."]))
    assert kept["messages"].to_list()[0][0]["content"] == "Hi there. I am here."
    assert not stats.dropped
    assert stats.counters == {"truecasing_screened_messages": 1, "truecased_messages": 1,
                              "truecased_dialogues": 1, "truecased_letters": 2}


def test_decontaminate_in_conversations_and_prompts(shared_data):
    index = BenchmarkIndex.from_dir(shared_data / "benchmarks")
    question = next(i.text for i in index.items if i.benchmark == "truthfulqa")
    decided = decide(Decontaminate(index, "messages"), dialogues(["Hello.", "Hi.", question, "A"],
                                                                 ["q", question]))
    assert decided[0][0] == "contaminated_truthfulqa"
    assert json.loads(decided[0][1])["turn"] == 2 and decided[1] is None
    prompts = pl.DataFrame({"prompt": [question, "Plain."]})
    assert [d and d[0] for d in decide(Decontaminate(index, "prompt"), prompts)] == \
        ["contaminated_truthfulqa", None]


def test_filters_of_preference_rows():
    batch = feedback(raw_row("Q?", rated(5, 1), source="truthful_qa"), raw_row("  ", rated(5, 1)),
                     raw_row("Q?", rated(5)), raw_row("Q?", rated(5, 1)))
    assert decide(TruthfulQA(), batch) == [("truthful_qa", "source is truthful_qa"), None,
                                           None, None]
    assert decide(EmptyPrompt(), batch)[1] == ("empty_prompt",
                                               "the instruction is empty or white space")
    assert decide(TooFewCompletions(), batch) == [None, None, ("too_few_completions",
                                                               "1 completion(s) in the row"), None]


def test_pruning_removes_completions_and_drops_rows_left_with_one():
    batch = feedback(raw_row("Q1", [completion(""), completion("a"), completion("b")]),
                     raw_row("Q2", [completion(" "), completion("a")]))
    kept, stats = through([empty_response()], batch)
    assert stats.dropped == {"empty_response": 1}
    assert stats.counters == {"completions_removed_empty_response": 2}
    assert [c["response"] for c in kept["completions"].to_list()[0]] == ["a", "b"]
    assert decide(empty_response(), batch)[1] == ("empty_response",
                                                  "1 of 2 completions removed, 1 left")
    scored, _ = through([Score("mean")], feedback(raw_row("Q", rated(5, "N/A", 3))))
    kept, stats = through([unrated()], scored)
    assert stats.counters == {"completions_removed_unrated": 1} and kept.height == 1


def test_score_binarize_ties_and_sources():
    batch = feedback(raw_row("Q1", [completion("x", (5, 4, "N/A", None)), completion("y")]),
                     raw_row("Q2", rated(3, 3), source="sharegpt"))
    kept, stats = through([Score("mean"), Binarize("lowest", 0), CountSource()], batch)
    assert kept["chosen_score"].to_list() == [5.0, 3.0]
    assert kept["rejected_score"].to_list() == [4.5, 3.0]
    assert kept["chosen_response"].to_list() == ["y", "answer 0"]
    assert stats.counters == {"ratings_not_available": 2, "pairs_with_tied_scores": 1,
                              "source:evol_instruct": 1, "source:sharegpt": 1}
    assert decide(DropTies(), kept) == [None, ("tie", "chosen and rejected both score 3")]
    overall = feedback(raw_row("Q", [completion("x", overall=7.0), completion("y", overall=None)]),
                       score="overall")
    scored, stats = through([Score("overall")], overall)
    assert [c["score"] for c in scored["completions"].to_list()[0]] == [7.0, None]
    assert not stats.counters


COVERED = {EmptyDialogue, NoAssistantTurn, OddTurnCount, EmptyTurn, PersonaAnswer, Truecase,
           ToolTurn, RolesNotAlternating,
           Decontaminate, TruthfulQA, EmptyPrompt, TooFewCompletions, PruneCompletions, Score,
           Binarize, DropTies, CountSource}


def test_every_step_is_covered_and_its_reasons_carry_its_name(shared_data):
    for module in pkgutil.iter_modules(zephyr_data.steps.__path__):
        importlib.import_module(f"zephyr_data.steps.{module.name}")
    found, todo = set(), list(Step.__subclasses__())
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo += cls.__subclasses__()
    concrete = {c for c in found if c.__module__.startswith("zephyr_data.steps.")}
    assert concrete <= COVERED, f"steps without a contract test: {concrete - COVERED}"
    index = BenchmarkIndex.from_dir(shared_data / "benchmarks")
    for step in [*(case[0] for case in CHAT_CASES + ROLE_CASES), Truecase(),
                 Decontaminate(index, "prompt"),
                 TruthfulQA(), EmptyPrompt(), TooFewCompletions(), empty_response(), unrated(),
                 Score("mean"), Binarize("random", 1), DropTies(), CountSource()]:
        check_reason_names(step)
