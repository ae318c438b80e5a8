"""Raw UltraChat and UltraFeedback rows at full scale, for benchmarks.

No raw rows of either dataset exist outside the Hub, so this writes rows in their exact raw
formats with text taken from real samples (``../shared/data`` when present, else the samples
bundled in the package), shaped like the real data: UltraChat has 1,468,352 dialogues of about
3.85 user/assistant rounds and about 1,470 tokens on average; about 5% have broken
capitalization and a few percent contain the persona answers the filters drop. Everything is
deterministic from the seed: file ``k`` is drawn from ``numpy.random.default_rng([seed, k])``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .readers import sample_path
from .realtext import real_prompts, real_replies
from .truecasing import is_broken
from .truecasing_eval import break_sentence_starts
from .ultrachat import default_filters

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
SOURCES = ["evol_instruct", "false_qa", "flan_v2_niv2", "sharegpt", "ultrachat", "truthful_qa",
           "flan_v2_cot", "flan_v2_p3"]
ASPECTS = ["helpfulness", "honesty", "instruction_following", "truthfulness"]


@dataclass
class TextPool:
    """Real user prompts, assistant replies and sentences to draw from."""

    prompts: list[str]
    replies: list[str]
    sentences: list[str]

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
        # Well-formed text only, so that the broken and persona shares are the planted ones.
        persona = re.compile("|".join(p for ps in default_filters()["persona_rules"].values()
                                      for p in ps), re.IGNORECASE)
        prompts = [p[:1].upper() + p[1:] for p in prompts if p.strip() and len(p) < 2000]
        prompts = [p for p in prompts if not is_broken(p)]
        replies = [r for r in replies if not is_broken(r) and not persona.search(r)]
        sentences = [s for r in replies for s in re.split(r"(?<=[.!?])\s+", r)
                     if 20 < len(s) < 300 and "\n" not in s and s[:1].isupper()]
        return cls(prompts, replies, sentences)


def _break_casing(text: str) -> str:
    broken, _ = break_sentence_starts(text)
    return re.sub(r"\bI\b(?=['’ ])", "i", broken)


def ultrachat_rows(pool: TextPool, n: int, seed: int, file_index: int, first_id: int,
                   broken_share: float = 0.05, persona_share: float = 0.03) -> Iterator[dict]:
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
        yield {"id": str(first_id + i), "data": data}


def _completion(rng: np.random.Generator, reply: str, model: str) -> dict:
    ratings = [str(int(x)) for x in rng.integers(1, 6, size=4)]
    if rng.random() < 0.03:
        ratings[int(rng.integers(4))] = "N/A"
    numeric = [int(r) for r in ratings if r != "N/A"]
    annotations = {a: {"Rating": r, "Rationale": f"The {a.replace('_', ' ')} is rated {r}."}
                   for a, r in zip(ASPECTS, ratings)}
    return {"annotations": annotations, "critique": "A critique of the response.",
            "custom_system_prompt": "You are a helpful assistant.",
            "fine-grained_score": float(np.mean(numeric)) if numeric else None,
            "model": model, "overall_score": float(rng.integers(2, 21)) / 2,
            "principle": "helpfulness", "response": reply}


def ultrafeedback_rows(pool: TextPool, n: int, seed: int, file_index: int) -> Iterator[dict]:
    """``n`` raw ``openbmb/UltraFeedback`` rows with four rated completions each."""
    rng = np.random.default_rng([seed, file_index])
    for _ in range(n):
        prompt = f"{pool.sentences[rng.integers(len(pool.sentences))]} " \
                 f"{pool.prompts[rng.integers(len(pool.prompts))]}"
        models = [MODELS[j] for j in rng.choice(len(MODELS), size=4, replace=False)]
        completions = [_completion(rng, pool.replies[rng.integers(len(pool.replies))], m)
                       for m in models]
        yield {"source": SOURCES[rng.integers(len(SOURCES))], "instruction": prompt,
               "models": models, "completions": completions,
               "correct_answers": ["None"], "incorrect_answers": ["None"]}


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
