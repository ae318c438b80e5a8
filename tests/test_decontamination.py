"""Decontamination against the real MT-Bench, AlpacaEval and TruthfulQA prompts.

No real sample row overlaps the benchmarks (see ../shared/data/README.md), so positives are
planted: benchmark prompts copied verbatim, re-cased, re-spaced and with a sentence added, in the
first or a later user turn.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pickle
import re

import pytest
from zephyr_data.build import build
from zephyr_data.config import make_config, option
from zephyr_data.decontamination import (
    HUB_SOURCES,
    MIN_TOKENS,
    NGRAM,
    SETTING_HELP,
    BenchmarkIndex,
    Decontaminate,
    PromptTurns,
    check_setting,
    load_index,
    resolve_setting,
    tokens,
    ultrachat_user_turns,
)
from zephyr_data.errors import ConfigError
from zephyr_data.readers import sample_path
from zephyr_data.ultrachat import UltraChatConfig, UltraChatPipeline

from zephyr_data.steps import Drop, Stats, run_steps

# (benchmark, item id): long and short prompts, and an MT-Bench second turn.
PLANTED = [("mt_bench", "81/turn-1"), ("mt_bench", "81/turn-2"), ("mt_bench", "130/turn-1"),
           ("alpaca_eval", "0"), ("alpaca_eval", "1"), ("alpaca_eval", "500"),
           ("truthfulqa", "0"), ("truthfulqa", "3"), ("truthfulqa", "400")]
VARIANTS = {
    "verbatim": lambda t: t,
    "upper": str.upper,
    "lower": str.lower,
    "respaced": lambda t: "  " + re.sub(r"([?.!,:;])", r" \1", "\n ".join(t.split())) + "\t",
    "sentence_before": lambda t: "I have a question for you. " + t,
    "sentence_after": lambda t: t + " Please explain your answer step by step.",
}


@pytest.fixture(scope="module")
def index(shared_data):
    return BenchmarkIndex.from_dir(shared_data / "benchmarks")


def item_text(index: BenchmarkIndex, benchmark: str, item_id: str) -> str:
    return next(i.text for i in index.items if (i.benchmark, i.item_id) == (benchmark, item_id))


def test_index_holds_every_benchmark_prompt(index):
    counts = index.describe()["benchmarks"]
    assert {k: v["prompts"] for k, v in counts.items()} == {
        "mt_bench": 160, "alpaca_eval": 805, "truthfulqa": 817}
    assert index.ngram == NGRAM == 13 and index.min_tokens == MIN_TOKENS == 6


def test_tokens_ignore_case_space_and_punctuation():
    assert tokens("What's  the\nRÉSUMÉ of Ｘ?") == tokens("what s the résumé of x") \
        == ["what", "s", "the", "résumé", "of", "x"]
    assert tokens("Plain ASCII, text!") == ["plain", "ascii", "text"]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("bench_name,item_id", PLANTED)
def test_planted_copy_is_dropped_with_the_item_named(index, bench_name, item_id, variant):
    text = VARIANTS[variant](item_text(index, bench_name, item_id))
    step = Decontaminate(index, ultrachat_user_turns)
    for messages, turn in (([text, "Sure."], 0),
                           (["Hello there, how are you today?", "Fine.", text, "Sure."], 1)):
        result = step.apply({"messages": messages}, Stats())
        assert isinstance(result, Drop), (variant, text)
        assert result.reason == f"contaminated_{bench_name}"
        detail = json.loads(result.detail)
        assert (detail["benchmark"], detail["item_id"], detail["user_turn"]) == \
            (bench_name, item_id, turn)
        assert detail["match"] == ("exact" if variant in ("verbatim", "upper", "lower",
                                                          "respaced") else "overlap")
        assert detail["matched_text"] and detail["benchmark_text"]


def test_partial_copy_of_a_long_prompt_is_caught_by_a_13_gram(index):
    words = item_text(index, "mt_bench", "82/turn-1").split()
    assert len(words) > 30
    step = Decontaminate(index, PromptTurns("prompt"))
    caught = step.apply({"prompt": "Context first. " + " ".join(words[5:5 + 14])}, Stats())
    assert isinstance(caught, Drop) and json.loads(caught.detail)["item_id"] == "82/turn-1"
    kept = step.apply({"prompt": "Context first. " + " ".join(words[5:5 + 11])}, Stats())
    assert kept == {"prompt": "Context first. " + " ".join(words[5:5 + 11])}


def test_assistant_turns_are_not_checked(index):
    text = item_text(index, "alpaca_eval", "0")
    row = {"messages": ["Tell me about theatre.", text]}
    assert Decontaminate(index, ultrachat_user_turns).apply(row, Stats()) is row


def test_prompts_under_min_tokens_match_exactly_only(index):
    """A documented limit: a prompt of under 6 tokens inside a longer turn is not a match."""
    step = Decontaminate(index, PromptTurns())
    for short in ("Are vampires real?", item_text(index, "truthfulqa", "1")):
        assert len(tokens(short)) < MIN_TOKENS
        assert isinstance(step.apply({"prompt": short.upper() + "  "}, Stats()), Drop)
        row = {"prompt": f"My novel asks: {short} Write chapter one."}
        assert step.apply(row, Stats()) is row


def test_real_prompts_are_kept_and_stats_count_both(index, prompts):
    """The 2,000 real UltraFeedback prompts and the UltraChat sample pass; planted copies of
    each benchmark are dropped and counted per benchmark."""
    with open(sample_path("ultrachat_sample.jsonl"), encoding="utf-8") as fh:
        turns = [t for line in fh for t in (json.loads(line).get("data") or [])[0::2]
                 if isinstance(t, str)]
    planted = [VARIANTS["sentence_after"](item_text(index, b, i)) for b, i in PLANTED]
    rows = [(f"real:{n}", p) for n, p in enumerate(prompts + turns)]
    rows += [(f"planted:{n}", p) for n, p in enumerate(planted)]
    stats, dropped = Stats(), []
    kept = list(run_steps(rows, lambda ref, raw: {"prompt": raw},
                          [Decontaminate(index, PromptTurns())], stats,
                          lambda ref, row, drop: dropped.append(ref)))
    assert len(prompts) == 2000
    assert len(kept) == len(prompts) + len(turns)
    assert sorted(dropped) == sorted(f"planted:{n}" for n in range(len(planted)))
    assert dict(stats.dropped) == {"contaminated_mt_bench": 3, "contaminated_alpaca_eval": 3,
                                   "contaminated_truthfulqa": 3}


def test_index_pickles_small_and_matches_the_same(index):
    blob = pickle.dumps(index)
    assert len(blob) < 1_000_000
    copy = pickle.loads(blob)
    text = item_text(index, "truthfulqa", "3") + " Thanks!"
    assert copy.match([text]) == index.match([text]) is not None


def test_settings(tmp_path, shared_data, caplog):
    for ok in (None, "hub", "off", str(shared_data / "benchmarks")):
        check_setting(ok)
    with pytest.raises(ConfigError, match="not 'hub', 'off' or an existing folder"):
        check_setting("hbu")
    (tmp_path / "mt_bench_question.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="alpaca_eval_instructions.jsonl"):
        check_setting(str(tmp_path))
    with caplog.at_level(logging.INFO, logger="zephyr_data"):
        assert resolve_setting(None, sample=True) == "off"
    assert "off for --sample" in caplog.text
    assert resolve_setting(None, sample=False) == "hub"
    assert resolve_setting("off", sample=False) == "off"
    assert load_index("off") is None


def test_from_hub_reads_the_hub_schemas(monkeypatch, shared_data, index):
    """The Hub path is real (``datasets.load_dataset``) but offline here: feed it the local files
    in the Hub's column names and check every prompt arrives under the same id."""
    import csv

    import datasets

    bench = shared_data / "benchmarks"
    with open(bench / "mt_bench_question.jsonl", encoding="utf-8") as fh:
        mt = [json.loads(line) for line in fh]
    with open(bench / "alpaca_eval_instructions.jsonl", encoding="utf-8") as fh:
        alpaca = [{**json.loads(line), "output": "", "generator": "gpt4"} for line in fh]
    with open(bench / "truthfulqa_TruthfulQA.csv", encoding="utf-8", newline="") as fh:
        tqa = [{"type": r["Type"], "category": r["Category"], "question": r["Question"]}
               for r in csv.DictReader(fh)]
    tables = {"mt_bench": [{"question_id": q["question_id"], "category": q["category"],
                            "turns": q["turns"]} for q in mt],
              "alpaca_eval": alpaca, "truthfulqa": tqa}
    calls = []

    def fake_load_dataset(**kwargs):
        calls.append(kwargs)
        name = next(k for k, spec in HUB_SOURCES.items() if spec == kwargs)
        return datasets.Dataset.from_list(tables[name])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    hub = BenchmarkIndex.from_hub()
    assert calls == list(HUB_SOURCES.values())
    assert hub.source == "hub"
    assert [(i.benchmark, i.item_id, i.text) for i in hub.items] == \
        [(i.benchmark, i.item_id, i.text) for i in index.items]


# ------------------------------------------------------------------ through the pipeline
# This is the wiring the README asks for, on a subclass, so that it is tested before the lead
# moves it into UltraChatConfig / UltraChatPipeline.


@dataclasses.dataclass
class DecontaminatedConfig(UltraChatConfig):
    decontaminate: str | None = option(None, SETTING_HELP)

    def validate(self) -> None:
        super().validate()
        check_setting(self.decontaminate)
        self.decontaminate = resolve_setting(self.decontaminate, sample=self.sample)


class DecontaminatedUltraChat(UltraChatPipeline):
    config_class = DecontaminatedConfig

    def steps(self):
        steps = super().steps()
        index = load_index(self.config.decontaminate)
        if index is not None:
            steps.insert(0, Decontaminate(index, ultrachat_user_turns))
        return steps


def test_pipeline_drops_planted_dialogues_and_dumps_the_item(tmp_path, shared_data, index):
    raw = tmp_path / "raw.jsonl"
    lines = sample_path("ultrachat_sample.jsonl").read_text(encoding="utf-8").splitlines()
    for n, (b, i) in enumerate(PLANTED):
        turns = [VARIANTS["upper"](item_text(index, b, i)), "An answer."]
        if n % 2:  # in the second user turn
            turns = ["Can you help me with something?", "Of course.", *turns]
        lines.append(json.dumps({"id": f"planted-{n}", "data": turns}))
    raw.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dump = tmp_path / "dropped.jsonl"
    config = make_config(DecontaminatedConfig, {
        "input": str(raw), "output_dir": str(tmp_path / "out"), "dump_dropped": str(dump),
        "decontaminate": str(shared_data / "benchmarks"), "num_proc": 1, "batch_size": 40,
        "progress": False}, "test")
    result = build(DecontaminatedUltraChat(config))
    dropped = result.manifest["stats"]["dropped"]
    assert {k: v for k, v in dropped.items() if k.startswith("contaminated_")} == {
        "contaminated_mt_bench": 3, "contaminated_alpaca_eval": 3, "contaminated_truthfulqa": 3}
    entries = [json.loads(line) for line in dump.read_text(encoding="utf-8").splitlines()]
    planted = sorted((e["row"]["id"], json.loads(e["detail"])["item_id"]) for e in entries
                     if e["reason"].startswith("contaminated_"))
    assert planted == sorted((f"planted-{n}", i) for n, (_, i) in enumerate(PLANTED))
