"""Decontamination against the real MT-Bench, AlpacaEval and TruthfulQA prompts.

No real sample row overlaps the benchmarks (see ../shared/data/README.md), so positives are
planted: benchmark prompts copied verbatim, re-cased, re-spaced and with a sentence added, in the
first or a later user turn.
"""

from __future__ import annotations

import json
import logging
import pickle
import re
import subprocess
import sys

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.hub_server import TOKEN, HubServer, client_env
from tests.support.paths import REPO as REPO_ROOT
from tests.support.steps import decide, dialogues
from zephyr_data.core.config import make_config
from zephyr_data.core.errors import ConfigError
from zephyr_data.core.stats import Stats
from zephyr_data.io.benchmarks import FILES, HUB_FILES
from zephyr_data.io.readers import sample_path
from zephyr_data.pipelines.ultrachat import UltraChatConfig, UltraChatPipeline
from zephyr_data.runner.build import build
from zephyr_data.runner.chain import run_steps
from zephyr_data.steps.decontamination import (
    MIN_TOKENS,
    NGRAM,
    BenchmarkIndex,
    Decontaminate,
    load_index,
    tokens,
)

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
def prompts_batch(*texts: str) -> pl.DataFrame:
    return pl.DataFrame({"prompt": list(texts), "_ref": [f"row{i}" for i in range(len(texts))]})


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("bench_name,item_id", PLANTED)
def test_planted_copy_is_dropped_with_the_item_named(index, bench_name, item_id, variant):
    text = VARIANTS[variant](item_text(index, bench_name, item_id))
    batch = dialogues([text, "Sure."], ["Hello there, how are you today?", "Fine.", text, "Sure."])
    for turn, decision in enumerate(decide(Decontaminate(index, "messages"), batch)):
        assert decision is not None, (variant, text)
        reason, detail = decision[0], json.loads(decision[1])
        assert reason == f"contaminated_{bench_name}"
        assert (detail["benchmark"], detail["item_id"], detail["turn"], detail["role"]) == \
            (bench_name, item_id, 2 * turn, "user")  # the second user turn is message 2
        assert detail["match"] == ("exact" if variant in ("verbatim", "upper", "lower",
                                                          "respaced") else "overlap")
        assert detail["matched_text"] and detail["benchmark_text"]


def test_partial_copy_of_a_long_prompt_is_caught_by_a_13_gram(index):
    words = item_text(index, "mt_bench", "82/turn-1").split()
    assert len(words) > 30
    caught, kept = decide(Decontaminate(index, "prompt"), prompts_batch(
        "Context first. " + " ".join(words[5:5 + 14]), "Context first. " + " ".join(words[5:16])))
    assert caught is not None and json.loads(caught[1])["item_id"] == "82/turn-1"
    assert kept is None


def test_assistant_turns_are_not_checked(index):
    text = item_text(index, "alpaca_eval", "0")
    assert decide(Decontaminate(index, "messages"),
                  dialogues(["Tell me about theatre.", text])) == [None]


def test_prompts_under_min_tokens_match_exactly_only(index):
    """A documented limit: a prompt of under 6 tokens inside a longer turn is not a match."""
    step = Decontaminate(index, "prompt")
    for short in ("Are vampires real?", item_text(index, "truthfulqa", "1")):
        assert len(tokens(short)) < MIN_TOKENS
        exact, inside = decide(step, prompts_batch(
            short.upper() + "  ", f"My novel asks: {short} Write chapter one."))
        assert exact is not None and inside is None


def test_real_prompts_are_kept_and_stats_count_both(index, prompts):
    """The 2,000 real UltraFeedback prompts and the UltraChat sample pass; planted copies of
    each benchmark are dropped and counted per benchmark."""
    with open(sample_path("ultrachat_sample.jsonl"), encoding="utf-8") as fh:
        turns = [t for line in fh for t in (json.loads(line).get("data") or [])[0::2]
                 if isinstance(t, str)]
    planted = [VARIANTS["sentence_after"](item_text(index, b, i)) for b, i in PLANTED]
    batch = pl.DataFrame({"prompt": prompts + turns + planted,
                          "_ref": [f"real:{n}" for n in range(len(prompts) + len(turns))]
                          + [f"planted:{n}" for n in range(len(planted))]})
    stats, dumped = Stats(rows_in=batch.height), []
    kept = run_steps(batch, [Decontaminate(index, "prompt")], stats, dumped.append)
    assert len(prompts) == 2000
    assert kept.height == len(prompts) + len(turns)
    assert sorted(json.loads(line)["ref"] for line in dumped) == \
        sorted(f"planted:{n}" for n in range(len(planted)))
    assert dict(stats.dropped) == {"contaminated_mt_bench": 3, "contaminated_alpaca_eval": 3,
                                   "contaminated_truthfulqa": 3}


def test_index_pickles_small_and_matches_the_same(index):
    blob = pickle.dumps(index)
    assert len(blob) < 1_000_000
    copy = pickle.loads(blob)
    text = item_text(index, "truthfulqa", "3") + " Thanks!"
    assert copy.match([text]) == index.match([text]) is not None


def test_off_means_no_index():
    assert load_index("off") is None


UPLOAD = r"""
import sys
from huggingface_hub import HfApi
api = HfApi()
for repo, path_in_repo, local in zip(*[iter(sys.argv[1:])] * 3):
    api.create_repo(repo, repo_type="dataset", exist_ok=True)
    api.upload_file(path_or_fileobj=local, path_in_repo=path_in_repo, repo_id=repo,
                    repo_type="dataset")
"""
FROM_HUB = r"""
import json
from zephyr_data.steps.decontamination import BenchmarkIndex
index = BenchmarkIndex.from_hub()
print(json.dumps([index.source, [[i.benchmark, i.item_id, i.text] for i in index.items]]))
"""


def test_from_hub_reads_the_files_the_hub_holds(tmp_path, shared_data, index):
    """The real client against the stand-in Hub: the three files in the Hub's own formats
    (FastChat's question.jsonl, AlpacaEval's JSON list, TruthfulQA's parquet) give the same
    prompts under the same ids as the local folder."""
    import csv

    import pyarrow as pa
    import pyarrow.parquet as pq

    bench = shared_data / "benchmarks"
    alpaca = [{**json.loads(line), "output": "", "generator": "gpt4"}
              for line in (bench / FILES["alpaca_eval"]).read_text().splitlines()]
    (tmp_path / "alpaca_eval.json").write_text(json.dumps(alpaca))
    with open(bench / FILES["truthfulqa"], encoding="utf-8", newline="") as fh:
        rows = [{"type": r["Type"], "category": r["Category"], "question": r["Question"]}
                for r in csv.DictReader(fh)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "truthfulqa.parquet")
    local = {"mt_bench": bench / FILES["mt_bench"], "alpaca_eval": tmp_path / "alpaca_eval.json",
             "truthfulqa": tmp_path / "truthfulqa.parquet"}
    args = [str(x) for name, (repo, path) in HUB_FILES.items() for x in (repo, path, local[name])]
    with HubServer(token=TOKEN) as hub:
        env = client_env(hub, tmp_path / "home")
        upload = subprocess.run([sys.executable, "-c", UPLOAD, *args], cwd=REPO_ROOT, env=env,
                                capture_output=True, text=True, timeout=240)
        assert upload.returncode == 0, upload.stderr
        loaded = subprocess.run([sys.executable, "-c", FROM_HUB], cwd=REPO_ROOT, env=env,
                                capture_output=True, text=True, timeout=240)
    assert loaded.returncode == 0, loaded.stderr
    source, items = json.loads(loaded.stdout)
    assert source == "hub"
    assert items == [[i.benchmark, i.item_id, i.text] for i in index.items]


# ------------------------------------------------------------------ through the pipeline


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
    config = make_config(UltraChatConfig, {
        "input": str(raw), "output_dir": str(tmp_path / "out"), "dump_dropped": str(dump),
        "decontaminate": str(shared_data / "benchmarks"), "num_proc": 1, "batch_size": 40,
        "progress": False}, "test")
    result = build(UltraChatPipeline(config))
    dropped = result.manifest["stats"]["dropped"]
    assert {k: v for k, v in dropped.items() if k.startswith("contaminated_")} == {
        "contaminated_mt_bench": 3, "contaminated_alpaca_eval": 3, "contaminated_truthfulqa": 3}
    entries = [json.loads(line) for line in dump.read_text(encoding="utf-8").splitlines()]
    planted = sorted((e["row"]["id"], json.loads(e["detail"])["item_id"]) for e in entries
                     if e["reason"].startswith("contaminated_"))
    assert planted == sorted((f"planted-{n}", i) for n, (_, i) in enumerate(PLANTED))


def test_the_setting_is_checked_when_the_config_is_made(tmp_path, shared_data, caplog):
    def config(**values):
        return make_config(UltraChatConfig, {"output_dir": "unused", **values}, "test")

    for ok in ("hub", "off", str(shared_data / "benchmarks")):
        assert config(decontaminate=ok).decontaminate == ok
    with pytest.raises(ConfigError, match="not 'hub', 'off' or an existing folder"):
        config(decontaminate="hbu")
    (tmp_path / "mt_bench_question.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="alpaca_eval_instructions.jsonl"):
        config(decontaminate=str(tmp_path))
    with caplog.at_level(logging.INFO, logger="zephyr_data"):
        assert config(sample=True).decontaminate == "off"
    assert "off for --sample" in caplog.text
    assert config().decontaminate == "hub"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_column_screen_keeps_every_turn_that_matches(index, data):
    """``suspects`` (polars and Aho-Corasick) is a superset of ``match``: a benchmark prompt,
    whole or in part, re-cased, with punctuation, symbols and non-ASCII text around it."""
    texts = []
    for _ in range(20):
        item = data.draw(st.sampled_from(index.items))
        words = item.text.split()
        start = data.draw(st.integers(0, max(0, len(words) - 1)))
        end = data.draw(st.integers(start, len(words)))
        noise = st.sampled_from(["", "Note:", "«", "»", "—", "…", "😀", "café", "ß", "①", "ﬁ",
                                 "\u00a0", "\u2028", "\x1c", "Ｘ", "e\u0301", "™", "the"])
        piece = " ".join(words[start:end])
        piece = data.draw(st.sampled_from([piece, piece.upper(), piece.lower()]))
        texts.append(f"{data.draw(noise)} {piece} {data.draw(noise)}")
    suspects = index.suspects(pl.Series(texts, dtype=pl.String))
    for text, suspect in zip(texts, suspects):
        if not suspect:
            assert index.match([text]) is None, text
