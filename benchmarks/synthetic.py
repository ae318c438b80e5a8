"""Raw UltraChat and UltraFeedback rows at full scale, for benchmarks, whose every turn is real
text.

No raw rows of either dataset exist outside the Hub, so this writes rows in their exact raw
formats with text taken from real public samples (``../shared/data`` when present, else the
samples bundled in the package): the prompts and responses of both UltraFeedback samples, and
the AlpacaEval instructions and MT-Bench turns. Rows are shaped like the real data: UltraChat has
1,468,352 dialogues of about 3.85 user/assistant rounds. User turns are real prompts as written
(about 12% start in lower case, so the truecaser has real work); on top, 5% of dialogues get
lowered sentence starts, 3% a persona answer, and 1% a benchmark prompt as a later user turn
(which decontamination drops). Everything is deterministic from the seed: file ``k`` is drawn
from ``numpy.random.default_rng([seed, k])``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zephyr_data.io.benchmarks import FILES, load_alpaca_eval, load_mt_bench
from zephyr_data.io.readers import sample_path
from zephyr_data.pipelines.ultrachat import default_filters

from .realtext import real_prompts, real_replies
from .truecasing_eval import break_sentence_starts

ULTRACHAT_SIZE = 1_468_352
ULTRAFEEDBACK_SIZE = 64_000
PERSONA_OPENINGS = [
    "As an AI language model, I don't have personal experiences, but ",
    "I do not have personal experiences, but ",
    "As an AI, I don't have emotions. Still, ",
    "I don't have personal opinions, but ",
    "As a language model, I cannot browse the internet, but ",
]
MODELS = ["gpt-4", "gpt-3.5-turbo", "wizardlm-70b", "llama-2-70b-chat", "vicuna-33b",
          "ultralm-65b", "mpt-30b-chat", "falcon-40b-instruct", "starchat", "alpaca-7b",
          "pythia-12b", "bard"]
# UltraFeedback's prompt sources and their row counts (the openbmb/UltraFeedback card).
SOURCES = {"evol_instruct": 10_000, "false_qa": 2_339, "flan_v2_niv2": 10_000,
           "flan_v2_cot": 5_000, "flan_v2_p3": 5_000, "flan_v2_flan2021": 939,
           "sharegpt": 19_949, "truthful_qa": 811, "ultrachat": 9_929}
PRINCIPLES = ["helpfulness", "honesty", "truthfulness", "verbalized_calibration"]
ASPECTS = ["helpfulness", "honesty", "instruction_following", "truthfulness"]


@dataclass
class TextPool:
    """Real user prompts, assistant replies and sentences to draw from."""

    prompts: list[str]
    replies: list[str]
    sentences: list[str]
    benchmark_prompts: list[str]

    @classmethod
    def load(cls, shared_data: Path | None = None) -> TextPool:
        prompts: list[str] = []
        replies: list[str] = []
        if shared_data and (shared_data / "ultrafeedback").is_dir():
            prompts, replies = real_prompts(shared_data), real_replies(shared_data)
        else:  # the bundled samples
            with open(sample_path("ultrachat_sample.jsonl"), encoding="utf-8") as fh:
                for line in fh:
                    data = json.loads(line).get("data") or []
                    prompts += [t for t in data[0::2] if t.strip()]
                    replies += [t for t in data[1::2] if t.strip()]
        # Prompts as written (a real share start in lower case); replies without persona
        # answers, so that the persona share is the planted one.
        persona = re.compile("|".join(p for ps in default_filters()["persona_rules"].values()
                                      for p in ps), re.IGNORECASE)
        prompts = [p for p in prompts if p.strip() and len(p) < 2000]
        replies = [r for r in replies if not persona.search(r)]
        sentences = [s for r in replies for s in re.split(r"(?<=[.!?])\s+", r)
                     if 20 < len(s) < 300 and "\n" not in s and s[:1].isupper()]
        benchmark = []
        if shared_data and (shared_data / "benchmarks").is_dir():
            folder = shared_data / "benchmarks"
            benchmark = [t for q in load_mt_bench(folder / FILES["mt_bench"]) for t in q.turns]
            benchmark += [a.instruction for a in load_alpaca_eval(folder / FILES["alpaca_eval"])]
        return cls(prompts, replies, sentences, benchmark)


def _break_casing(text: str) -> str:
    broken, _ = break_sentence_starts(text)
    return re.sub(r"\bI\b(?=['’ ])", "i", broken)


def ultrachat_rows(pool: TextPool, n: int, seed: int, file_index: int, first_id: int,
                   broken_share: float = 0.05, persona_share: float = 0.03,
                   benchmark_share: float = 0.01) -> Iterator[dict]:
    """``n`` raw ``stingning/ultrachat`` rows: ``{"id": str, "data": [user, assistant, ...]}``."""
    rng = np.random.default_rng([seed, file_index])
    n_prompts, n_replies, n_sentences = len(pool.prompts), len(pool.replies), len(pool.sentences)
    for i in range(n):
        rounds = int(min(1 + rng.poisson(2.85), 12))
        data = []
        for r in range(rounds):
            user = pool.prompts[rng.integers(n_prompts)]
            if r == 0:  # unique opening prompts, as in UltraChat
                user = f"{pool.sentences[rng.integers(n_sentences)]} {user}"
            reply = pool.replies[rng.integers(n_replies)]
            data += [user, reply]
        if rng.random() < broken_share:
            for j in rng.choice(len(data), size=min(len(data), 1 + rng.integers(3)),
                                replace=False):
                data[j] = _break_casing(data[j])
        if rng.random() < persona_share:
            j = 1 + 2 * int(rng.integers(rounds))
            opening = PERSONA_OPENINGS[rng.integers(len(PERSONA_OPENINGS))]
            data[j] = opening + data[j][:1].lower() + data[j][1:]
        if pool.benchmark_prompts and rounds > 1 and rng.random() < benchmark_share:
            j = 2 * int(rng.integers(1, rounds))
            data[j] = pool.benchmark_prompts[int(rng.integers(len(pool.benchmark_prompts)))]
        yield {"id": str(first_id + i), "data": data}


def _snippet(rng: np.random.Generator, texts: list[str], length: int) -> str:
    text = texts[int(rng.integers(len(texts)))]
    start = int(rng.integers(max(1, len(text) - length)))
    return text[start:start + length]


def _completion(rng: np.random.Generator, pool: TextPool) -> dict:
    """A completion with everything the raw schema carries: four rated aspects with rationales,
    a critique, a system prompt and an overall score (about 1.5 KB besides the response)."""
    ratings = [str(int(rng.integers(1, 6))) if rng.random() > 0.05 else "N/A" for _ in ASPECTS]
    annotations = {}
    for aspect, rating in zip(ASPECTS, ratings):
        entry: dict = {"Rating": rating, "Rationale": _snippet(rng, pool.replies, 250)}
        if aspect in ("helpfulness", "truthfulness"):
            entry.update({"Rationale For Rating": _snippet(rng, pool.replies, 120),
                          "Type": sorted(str(t) for t in rng.choice([1, 2, 3], 2, replace=False))})
        annotations[aspect] = entry
    numbers = [int(r) for r in ratings if r != "N/A"]
    return {"annotations": annotations, "critique": _snippet(rng, pool.replies, 400),
            "custom_system_prompt": _snippet(rng, pool.replies, 200),
            "fine-grained_score": sum(numbers) / len(numbers) if numbers else "N/A",
            "model": MODELS[int(rng.integers(len(MODELS)))],
            "overall_score": float(rng.integers(2, 21)) / 2,
            "principle": PRINCIPLES[int(rng.integers(len(PRINCIPLES)))],
            "response": pool.replies[int(rng.integers(len(pool.replies)))]}


def ultrafeedback_rows(pool: TextPool, n: int, seed: int, file_index: int = 0) -> Iterator[dict]:
    """``n`` raw ``openbmb/UltraFeedback`` rows of four rated completions, with distinct prompts
    (the real ones, then the same with a variant note) and sources in UltraFeedback's shares."""
    rng = np.random.default_rng([seed, file_index])
    weights = np.array(list(SOURCES.values()), dtype=float)
    names = list(SOURCES)
    for i in range(n):
        prompt = pool.prompts[i % len(pool.prompts)]
        if i >= len(pool.prompts):
            prompt = f"{prompt}\n\n(Variant {i // len(pool.prompts)} of file {file_index}.)"
        completions = [_completion(rng, pool) for _ in range(4)]
        yield {"source": names[int(rng.choice(len(names), p=weights / weights.sum()))],
               "instruction": prompt, "models": [c["model"] for c in completions],
               "completions": completions, "correct_answers": ["None"],
               "incorrect_answers": ["None"]}


def write_jsonl(rows: Iterator[dict], path: Path) -> int:
    """Write rows as JSON Lines; return the bytes written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            line = json.dumps(row, ensure_ascii=False) + "\n"
            fh.write(line)
            size += len(line)
    return size


def write_ultrachat(pool: TextPool, folder: Path, n: int, seed: int = 0,
                    rows_per_file: int = 150_000) -> list[Path]:
    paths = []
    for k, start in enumerate(range(0, n, rows_per_file)):
        path = folder / f"train_{k}.jsonl"
        write_jsonl(ultrachat_rows(pool, min(rows_per_file, n - start), seed, k, start), path)
        paths.append(path)
    return paths
