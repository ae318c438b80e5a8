"""Drop rows whose prompts overlap the benchmarks we evaluate on: MT-Bench, AlpacaEval, TruthfulQA.

Every user turn of a row is checked (``user_turns(row)``), not only the first, against the
prompts of the three benchmarks: both turns of the 80 MT-Bench questions, the 805 AlpacaEval
instructions and the 817 TruthfulQA questions.

Text is first normalized: Unicode NFKC, case-folded, and cut into runs of letters and digits,
so case, white space and punctuation do not matter ("What is X?" matches "what  is x"). A turn
is contaminated by a benchmark prompt when

- ``exact``: their tokens are equal (a prompt of any length), or
- ``overlap``: they share a run of at least ``min(NGRAM, len(prompt))`` consecutive tokens, for
  prompts of at least ``MIN_TOKENS`` tokens. A long prompt is caught by any shared 13-gram (a
  partial copy, a copy with text added or cut); a prompt shorter than 13 tokens when the turn
  holds all of it (a copy with a sentence added). Prompts under 6 tokens ("Are vampires real?",
  "Who are you?") only match exactly: inside longer text they are common phrases, not copies.

Why 13 and 6. 13-grams are what GPT-3 (Brown et al., 2020) and lm-evaluation-harness use to
decontaminate. On the real public data beside the checkout (2,000 UltraFeedback prompts, 3,998
replies, the UltraChat sample) no text shares a 10-gram with the benchmarks; 9-grams are shared
by 1 text, 8-grams by 5, 7-grams by 38 (phrases such as "i want you to act as a"), so 13 leaves a
margin for a corpus a thousand times larger. A whole benchmark prompt of 6 or more tokens inside
one of those 6,000 texts happens once, in a reply ("What is the capital of Australia?"), never in
a prompt; prompts of 5 tokens and fewer are common questions ("What is your favorite color?",
"Who invented the light bulb?") that long turns contain by chance.

A dropped row's reason names the benchmark (``contaminated_mt_bench``,
``contaminated_alpaca_eval``, ``contaminated_truthfulqa``) and its detail is a JSON object that
names the item: ``{"benchmark", "item_id", "match", "user_turn", "tokens", "matched_text",
"benchmark_text"}``. Item ids: MT-Bench ``<question_id>/turn-<k>`` (FastChat's ids); AlpacaEval
and TruthfulQA the 0-based position in the evaluation set.

Benchmarks load from the Hub by default (:meth:`BenchmarkIndex.from_hub`) or from a folder that
holds the three files of ``../shared/data/benchmarks`` (:meth:`BenchmarkIndex.from_dir`). The
index pickles as its items and rebuilds its lookup tables when unpickled (tens of ms), and
:func:`load_index` builds it once per process.

    python -m zephyr_data.decontamination --bench     # time it on 64,000 real-text prompts
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import json
import logging
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .hubcalls import hub_call
from .realtext import DEFAULT_DATA, real_prompts, real_replies
from .steps import Drop, Stats, Step

log = logging.getLogger("zephyr_data")

NGRAM = 13
MIN_TOKENS = 6
OFF, HUB = "off", "hub"
BENCHMARKS = ("mt_bench", "alpaca_eval", "truthfulqa")
REASONS = {name: f"contaminated_{name}" for name in BENCHMARKS}
FILES = {"mt_bench": "mt_bench_question.jsonl",
         "alpaca_eval": "alpaca_eval_instructions.jsonl",
         "truthfulqa": "truthfulqa_TruthfulQA.csv"}
# What from_hub loads: FastChat's question file as H4 mirrors it (the file zephyr_train answers),
# AlpacaEval's evaluation set, TruthfulQA's generation task (817 questions, one split).
HUB_SOURCES = {
    "mt_bench": {"path": "json",
                 "data_files": "hf://datasets/HuggingFaceH4/mt_bench_prompts/raw/question.jsonl",
                 "split": "train"},
    "alpaca_eval": {"path": "json",
                    "data_files": "hf://datasets/tatsu-lab/alpaca_eval/alpaca_eval.json",
                    "split": "train"},
    "truthfulqa": {"path": "truthfulqa/truthful_qa", "name": "generation", "split": "validation"},
}
DETAIL_TEXT_CHARS = 300

_WORD = re.compile(r"[^\W_]+")
# ASCII text (most of it) takes a fast path with the same result: A-Z to a-z, every byte that
# is not a letter or digit to a space.
_ASCII = bytes(b + 32 if 65 <= b <= 90 else b if 48 <= b <= 57 or 97 <= b <= 122 else 32
               for b in range(256))


def tokens(text: str) -> list[str]:
    """Normalized tokens: NFKC, case-folded, runs of letters and digits."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII).decode("ascii").split()
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


# ------------------------------------------------------------------ benchmark items


@dataclass(frozen=True)
class BenchmarkItem:
    """One benchmark prompt: ``benchmark`` (one of BENCHMARKS), its ``item_id`` and ``text``."""

    benchmark: str
    item_id: str
    text: str


def _need(record: dict[str, Any], keys: Sequence[str], where: str) -> Any:
    for key in keys:
        if key in record:
            return record[key]
    raise ConfigError(f"{where}: no {' or '.join(repr(k) for k in keys)} field (the record has "
                      f"{sorted(record)}).")


def mt_bench_items(records: Iterable[dict[str, Any]],
                   where: str = "MT-Bench") -> list[BenchmarkItem]:
    """Every turn of every question: FastChat's ``question_id`` and ``turns`` (H4: ``prompt``)."""
    items = []
    for i, rec in enumerate(records):
        qid = _need(rec, ("question_id", "prompt_id"), f"{where}, record {i}")
        turns = _need(rec, ("turns", "prompt"), f"{where}, record {i}")
        if isinstance(turns, str) or not all(isinstance(t, str) for t in turns):
            raise ConfigError(f"{where}, record {i}: 'turns' must be a list of strings.")
        items += [BenchmarkItem("mt_bench", f"{qid}/turn-{k}", t)
                  for k, t in enumerate(turns, start=1)]
    return items


def alpaca_eval_items(records: Iterable[dict[str, Any]],
                      where: str = "AlpacaEval") -> list[BenchmarkItem]:
    return [BenchmarkItem("alpaca_eval", str(i), _need(rec, ("instruction",), f"{where}, "
                                                       f"record {i}"))
            for i, rec in enumerate(records)]


def truthfulqa_items(records: Iterable[dict[str, Any]],
                     where: str = "TruthfulQA") -> list[BenchmarkItem]:
    """Questions: ``Question`` in the CSV, ``question`` on the Hub."""
    return [BenchmarkItem("truthfulqa", str(i), _need(rec, ("Question", "question"),
                                                      f"{where}, record {i}"))
            for i, rec in enumerate(records)]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# ------------------------------------------------------------------ the index


@dataclass(frozen=True)
class Match:
    """Why a row is contaminated: the benchmark item and what matched."""

    item: BenchmarkItem
    kind: str  # "exact" or "overlap"
    user_turn: int  # index into user_turns(row)
    tokens: int  # length of the shared token run
    matched_text: str  # the shared run, normalized

    @property
    def reason(self) -> str:
        return REASONS[self.item.benchmark]

    def detail(self) -> str:
        return json.dumps({"benchmark": self.item.benchmark, "item_id": self.item.item_id,
                           "match": self.kind, "user_turn": self.user_turn,
                           "tokens": self.tokens,
                           "matched_text": _clip(self.matched_text),
                           "benchmark_text": _clip(self.item.text)}, ensure_ascii=False)


def _clip(text: str) -> str:
    return text if len(text) <= DETAIL_TEXT_CHARS else text[:DETAIL_TEXT_CHARS] + "…"


class BenchmarkIndex:
    """Benchmark prompts, indexed for exact and long-overlap matching of user turns.

    ``exact`` maps a normalized prompt to its items; ``seeds`` maps the first ``min_tokens``
    tokens of every run that could make a match (positions ``0 .. len - min(ngram, len)`` of a
    prompt of at least ``min_tokens`` tokens) to ``(item, position)``. A turn whose
    ``min_tokens``-grams miss ``seeds`` entirely (nearly every turn) costs one set test in C.
    """

    def __init__(self, items: Iterable[BenchmarkItem], *, ngram: int = NGRAM,
                 min_tokens: int = MIN_TOKENS, source: str = ""):
        if not 1 <= min_tokens <= ngram:
            raise ValueError(f"need 1 <= min_tokens ({min_tokens}) <= ngram ({ngram}).")
        self.items = list(items)
        self.ngram, self.min_tokens, self.source = ngram, min_tokens, source
        self._build()

    def _build(self) -> None:
        self._tokens = [tuple(tokens(item.text)) for item in self.items]
        self._exact: dict[str, int] = {}
        self._seeds: dict[tuple[str, ...], list[tuple[int, int]]] = {}
        s = self.min_tokens
        for i, tk in enumerate(self._tokens):
            if not tk:
                continue
            self._exact.setdefault(" ".join(tk), i)  # the first benchmark listed wins a tie
            if len(tk) >= s:
                for j in range(len(tk) - min(self.ngram, len(tk)) + 1):
                    self._seeds.setdefault(tk[j:j + s], []).append((i, j))

    def __getstate__(self) -> dict[str, Any]:
        return {"items": self.items, "ngram": self.ngram, "min_tokens": self.min_tokens,
                "source": self.source}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._build()

    def __len__(self) -> int:
        return len(self.items)

    # -------------------------------------------------------------- loading

    @classmethod
    def from_dir(cls, path: str | Path, **kwargs: Any) -> BenchmarkIndex:
        """The three files of ``../shared/data/benchmarks``: FastChat's MT-Bench question file,
        AlpacaEval's instructions (JSON Lines or a JSON list) and TruthfulQA's CSV."""
        folder = Path(path)
        missing = [name for name in FILES.values() if not (folder / name).is_file()]
        if missing:
            raise ConfigError(f"decontaminate={str(path)!r}: the folder lacks {missing}. It must "
                              f"hold {list(FILES.values())}, as ../shared/data/benchmarks "
                              "does; or pass 'hub' to load the benchmarks from the Hub.")
        mt = folder / FILES["mt_bench"]
        alpaca = folder / FILES["alpaca_eval"]
        tqa = folder / FILES["truthfulqa"]
        with open(tqa, encoding="utf-8", newline="") as fh:
            tqa_rows = list(csv.DictReader(fh))
        items = (mt_bench_items(_read_jsonl(mt), str(mt))
                 + alpaca_eval_items(_read_jsonl(alpaca), str(alpaca))
                 + truthfulqa_items(tqa_rows, str(tqa)))
        return cls(items, source=str(folder), **kwargs)

    @classmethod
    def from_hub(cls, **kwargs: Any) -> BenchmarkIndex:
        """Load the benchmarks with ``datasets.load_dataset`` (``HUB_SOURCES``); needs network
        the first time, then the Hugging Face cache."""
        from datasets import load_dataset

        loaded = {name: load_dataset(**spec) for name, spec in HUB_SOURCES.items()}
        items = (mt_bench_items(loaded["mt_bench"], "HuggingFaceH4/mt_bench_prompts")
                 + alpaca_eval_items(loaded["alpaca_eval"], "tatsu-lab/alpaca_eval")
                 + truthfulqa_items(loaded["truthfulqa"], "truthfulqa/truthful_qa"))
        return cls(items, source=HUB, **kwargs)

    # -------------------------------------------------------------- matching

    def match(self, turns: Sequence[str]) -> Match | None:
        """The first contaminated turn's best match (exact, else the longest shared run), or
        None. Deterministic: turns in order, then run length, then benchmark and item order."""
        s = self.min_tokens
        seeds = self._seeds
        for t, text in enumerate(turns):
            tk = tokens(text)
            m = len(tk)
            if m < s:  # only an equally short prompt can match: look it up
                item = self._exact.get(" ".join(tk)) if tk else None
                if item is not None:
                    return Match(self.items[item], "exact", t, m, " ".join(tk))
                continue
            if seeds.keys().isdisjoint(zip(*(tk[k:] for k in range(s)))):
                continue  # the common case: no run of `s` tokens in common with any prompt
            best: tuple[int, bool, int, int] | None = None  # (run, exact, -item, start)
            for i in range(m - s + 1):
                for item, j in seeds.get(tuple(tk[i:i + s]), ()):
                    itk = self._tokens[item]
                    run = s
                    while i + run < m and j + run < len(itk) and tk[i + run] == itk[j + run]:
                        run += 1
                    if run < min(self.ngram, len(itk)):
                        continue
                    key = (run, run == m == len(itk), -item, i)
                    if best is None or key[:3] > best[:3]:
                        best = key
            if best is not None:
                run, exact, item, i = best[0], best[1], -best[2], best[3]
                return Match(self.items[item], "exact" if exact else "overlap", t, run,
                             " ".join(tk[i:i + run]))
        return None

    def describe(self) -> dict[str, Any]:
        """For the manifest: where the prompts came from, how many, and a hash of them."""
        benchmarks = {}
        for name in BENCHMARKS:
            texts = [item.text for item in self.items if item.benchmark == name]
            benchmarks[name] = {"prompts": len(texts), "sha256": hashlib.sha256(
                json.dumps(texts, ensure_ascii=False).encode()).hexdigest()}
        return {"source": self.source, "ngram": self.ngram, "min_tokens": self.min_tokens,
                "benchmarks": benchmarks}


# ------------------------------------------------------------------ the step


def ultrachat_user_turns(row: dict[str, Any]) -> list[str]:
    """UltraChat working rows: ``{"messages": [user, assistant, user, ...]}``."""
    return row["messages"][0::2]


@dataclass(frozen=True)
class PromptTurns:
    """A single-turn row whose prompt is under ``key`` (UltraFeedback: ``"prompt"``)."""

    key: str = "prompt"

    def __call__(self, row: dict[str, Any]) -> list[str]:
        return [row[self.key]]


class Decontaminate(Step):
    """Drops a row when one of its user turns matches a benchmark prompt.

    The reason is ``contaminated_<benchmark>``; the detail is :meth:`Match.detail`'s JSON.
    """

    name = "decontaminate"

    def __init__(self, index: BenchmarkIndex, user_turns: Callable[[dict[str, Any]], list[str]]):
        self.index, self.user_turns = index, user_turns

    def apply(self, row: dict[str, Any], stats: Stats) -> dict[str, Any] | Drop:
        found = self.index.match(self.user_turns(row))
        return row if found is None else Drop(found.reason, found.detail())


# ------------------------------------------------------------------ the option


SETTING_HELP = ("Drop rows whose user turns overlap MT-Bench, AlpacaEval or TruthfulQA prompts: "
                "'hub' (load them from the Hub), 'off', or a folder holding "
                f"{', '.join(FILES.values())}. Default: 'hub', or 'off' with --sample (offline).")


def check_setting(value: str | None) -> None:
    """Raise ConfigError unless ``value`` is None, 'hub', 'off' or a folder with the files."""
    if value is None or value in (HUB, OFF):
        return
    if not Path(value).is_dir():
        raise ConfigError(f"decontaminate={value!r}: not 'hub', 'off' or an existing folder. "
                          f"Pass a folder holding {list(FILES.values())} (as "
                          "../shared/data/benchmarks), 'hub' or 'off'.")
    BenchmarkIndex.from_dir(value)  # fail now, naming a missing file or field, not in a worker


def resolve_setting(value: str | None, *, sample: bool) -> str:
    """The setting a run uses: None means 'hub', or 'off' for a ``--sample`` run (offline)."""
    if value is not None:
        return value
    if sample:
        log.info("decontamination is off for --sample runs (they are offline); pass "
                 "--decontaminate PATH to check against local benchmark files.")
        return OFF
    return HUB


@functools.lru_cache(maxsize=4)
def load_index(setting: str) -> BenchmarkIndex | None:
    """The index for a resolved setting, built once per process; None when 'off'."""
    if setting == OFF:
        return None
    if setting == HUB:
        with hub_call(lambda detail: ConfigError(  # offline, network, missing dataset
                f"decontaminate='hub': could not load the benchmark prompts from the Hub "
                f"({detail[:300]}). Pass --decontaminate PATH, a folder holding "
                f"{list(FILES.values())} (as ../shared/data/benchmarks), or --decontaminate "
                "off to build without decontamination.")):
            return BenchmarkIndex.from_hub()
    return BenchmarkIndex.from_dir(setting)


def describe_setting(setting: str) -> dict[str, Any]:
    """The manifest's ``decontamination`` entry."""
    index = load_index(setting)
    if index is None:
        return {"source": OFF}
    return index.describe()


def card_text(setting: str) -> str:
    """A bullet for a card's Method section."""
    if setting == OFF:
        return ("- Decontamination: off (`--decontaminate off`, the default of `--sample` runs, "
                "which are offline). No benchmark prompts were checked.")
    index = load_index(setting)
    assert index is not None
    counts = index.describe()["benchmarks"]
    source = "the Hugging Face Hub" if setting == HUB else f"`{setting}`"
    return (f"- Decontamination (`--decontaminate {setting}`): a dialogue is dropped when any "
            f"user turn matches a prompt of MT-Bench ({counts['mt_bench']['prompts']} turns), "
            f"AlpacaEval ({counts['alpaca_eval']['prompts']}) or TruthfulQA "
            f"({counts['truthfulqa']['prompts']}), loaded from {source}. Text is compared "
            "case-folded, by runs of letters and digits: equal text, or a shared run of "
            f"{index.ngram} tokens (the whole prompt when it is shorter, if it has at least "
            f"{index.min_tokens}). Drops are counted per benchmark as `contaminated_mt_bench`, "
            "`contaminated_alpaca_eval`, `contaminated_truthfulqa`.")


# ------------------------------------------------------------------ benchmark


def realistic_prompts(data: Path, rows: int) -> list[str]:
    """``rows`` prompts cycled from the real UltraFeedback prompts and replies in ``data``
    (prompt, reply, prompt, ...): replies stand in for the longer user turns of UltraChat."""
    prompts, replies = real_prompts(data), real_replies(data)
    mixed = [text for pair in zip(prompts, replies) for text in pair]
    mixed += prompts[len(replies):] + replies[len(prompts):]
    return [mixed[i % len(mixed)] for i in range(rows)]


def bench(data: Path, rows: int) -> dict[str, Any]:
    """Time building the index and running the step over ``rows`` UltraFeedback-style rows."""
    started = time.perf_counter()
    index = BenchmarkIndex.from_dir(data / "benchmarks")
    build_s = time.perf_counter() - started
    texts = realistic_prompts(data, rows)
    step = Decontaminate(index, PromptTurns("prompt"))
    stats = Stats()
    started, cpu = time.perf_counter(), time.process_time()
    for text in texts:
        result = step.apply({"prompt": text}, stats)
        if isinstance(result, Drop):
            stats.dropped[result.reason] += 1
    run_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    matched = sorted({(m.item.benchmark, m.item.item_id, m.item.text) for text in set(texts)
                      if (m := index.match([text])) is not None})
    return {"rows": rows, "tokens": sum(len(text.split()) for text in texts),
            "benchmark_prompts": len(index), "index_build_s": build_s, "decontaminate_s": run_s,
            "decontaminate_cpu_s": cpu_s, "dropped": dict(stats.dropped), "matched": matched}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zephyr_data.decontamination",
                                     description="Time decontamination on real-text prompts.")
    parser.add_argument("--bench", action="store_true", required=True,
                        help="Run the timing benchmark.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="The shared data folder (benchmarks/ and ultrafeedback/).")
    parser.add_argument("--rows", type=int, default=64_000, help="Prompts to check.")
    args = parser.parse_args(argv)
    r = bench(args.data, args.rows)
    total = r["index_build_s"] + r["decontaminate_s"]
    print(f"prompts checked                {r['rows']:>12,}")
    print(f"whitespace tokens in them      {r['tokens']:>12,}")
    print(f"benchmark prompts indexed      {r['benchmark_prompts']:>12,}")
    print(f"index build                    {r['index_build_s']:>11.2f}s")
    print(f"decontaminate step             {r['decontaminate_s']:>11.2f}s "
          f"({r['rows'] / r['decontaminate_s']:,.0f} rows/s; CPU {r['decontaminate_cpu_s']:.2f} s)")
    print(f"added to the run               {total:>11.2f}s   target < 10 s")
    print(f"dropped                        {json.dumps(r['dropped']) if r['dropped'] else 0}")
    for benchmark, item_id, text in r["matched"]:
        print(f"  distinct match: {benchmark} #{item_id} {text[:60]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
