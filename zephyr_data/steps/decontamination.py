"""Drop rows whose prompts overlap the benchmarks we evaluate on: MT-Bench, AlpacaEval, TruthfulQA.

Every user turn of a row is checked, not only the first, and every system turn (a system
prompt is model input too: a benchmark question there leaks the same way), against the
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
names the item: ``{"benchmark", "item_id", "match", "turn", "role", "tokens", "matched_text",
"benchmark_text"}`` (``turn``: the position of the matched turn in the conversation). Item
ids: MT-Bench ``<question_id>/turn-<k>`` (FastChat's ids); AlpacaEval and TruthfulQA the
0-based position in the evaluation set.

Benchmark prompts come from ``io.benchmarks``: the Hub by default (:meth:`BenchmarkIndex.from_hub`)
or a folder that holds the three files of ``../shared/data/benchmarks``
(:meth:`BenchmarkIndex.from_dir`). The index pickles as its items and rebuilds its lookup tables
when unpickled (tens of ms), and :func:`load_index` builds it once per process.
``python -m benchmarks.bench_decontamination`` times it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ahocorasick
import numpy as np
import polars as pl

from ..core.config import HUB, OFF
from ..core.errors import ConfigError
from ..core.messages import SYSTEM, USER, flatten
from ..core.step import Outcome, Step
from ..io.benchmarks import (
    BENCHMARKS,
    FILES,
    AlpacaEvalInstruction,
    BenchmarkFileError,
    MTBenchQuestion,
    check_folder,
    load_alpaca_eval,
    load_mt_bench,
    load_truthfulqa,
)

NGRAM = 13
MIN_TOKENS = 6
REASONS = {name: f"contaminated_{name}" for name in BENCHMARKS}
DETAIL_TEXT_CHARS = 300

_WORD = re.compile(r"[^\W_]+")
# ASCII text (most of it) takes a fast path with the same result: A-Z to a-z, every byte that
# is not a letter or digit to a space.
_ASCII = bytes(b + 32 if 65 <= b <= 90 else b if 48 <= b <= 57 or 97 <= b <= 122 else 32
               for b in range(256))


@functools.cache
def _needs_python() -> str:
    """A regex (Rust syntax) for the characters that ``tokens`` may treat other than an ASCII
    lower-case of the text would: every non-ASCII character except the punctuation, spaces,
    symbols and controls that are not word characters, whose NFKC form holds none, and that
    combine with nothing (checked one by one, in the Basic Multilingual Plane and the emoji
    blocks; anything else needs Python)."""
    safe, start = [], None
    for cp in [*range(0x80, 0x10000), *range(0x1F000, 0x1FB00), -1]:
        c = chr(cp) if cp >= 0 else ""
        ok = bool(c) and unicodedata.category(c)[0] in "PZSC" \
            and unicodedata.category(c) not in ("Cs", "Co", "Cn") \
            and unicodedata.combining(c) == 0 and not _WORD.match(c) \
            and not _WORD.search(unicodedata.normalize("NFKC", c).casefold())
        if ok and start is None:
            start = cp
        elif not ok and start is not None:
            safe.append(f"\\x{{{start:x}}}-\\x{{{cp - 1:x}}}")
            start = None
    return "[^\\x00-\\x7f" + "".join(safe) + "]"


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


def items_of(mt_bench: list[MTBenchQuestion], alpaca_eval: list[AlpacaEvalInstruction],
             truthfulqa: list[str]) -> list[BenchmarkItem]:
    """Every prompt to match, with its id: MT-Bench ``<question_id>/turn-<k>`` (both turns);
    AlpacaEval and TruthfulQA by their 0-based position in the evaluation set."""
    return ([BenchmarkItem("mt_bench", f"{q.question_id}/turn-{k}", text)
             for q in mt_bench for k, text in enumerate(q.turns, start=1)]
            + [BenchmarkItem("alpaca_eval", str(i), a.instruction)
               for i, a in enumerate(alpaca_eval)]
            + [BenchmarkItem("truthfulqa", str(i), q) for i, q in enumerate(truthfulqa)])


# ------------------------------------------------------------------ the index


@dataclass(frozen=True)
class Match:
    """Why a row is contaminated: the benchmark item and what matched."""

    item: BenchmarkItem
    kind: str  # "exact" or "overlap"
    user_turn: int  # index into the turns checked
    tokens: int  # length of the shared token run
    matched_text: str  # the shared run, normalized

    @property
    def reason(self) -> str:
        return REASONS[self.item.benchmark]

    def detail(self, turn: int = 0, role: str = USER) -> str:
        """JSON naming the item; ``turn`` and ``role`` are those of the matched turn."""
        return json.dumps({"benchmark": self.item.benchmark, "item_id": self.item.item_id,
                           "match": self.kind, "turn": turn, "role": role,
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
        # What a matching turn must hold, as text: every ``ngram``-token window of a long prompt
        # (a match shares a run that long), a whole prompt of ``min_tokens`` or more otherwise.
        windows = {" ".join(tk[j:j + self.ngram]) for tk in self._tokens if len(tk) >= s
                   for j in range(len(tk) - min(self.ngram, len(tk)) + 1)}
        self._screen = ahocorasick.Automaton()
        for window in sorted(windows):
            self._screen.add_word(f" {window} ", 0)
        if windows:
            self._screen.make_automaton()
        self._exact_texts = sorted(self._exact)

    def suspects(self, texts: pl.Series) -> np.ndarray:
        """Which texts :meth:`match` could find contaminated, screened before it runs. Each
        text is normalized as ``tokens`` does it (column-wise for ASCII text and the punctuation,
        spaces and symbols that ``_needs_python`` lets through, by ``tokens`` for the rest) and
        must hold a window a match needs (``pyahocorasick``, built once per index) or equal a
        prompt. Every text :meth:`match` would match is a suspect."""
        python = texts.str.contains(_needs_python()).fill_null(False)
        words = texts.str.to_lowercase().str.replace_all(r"[^a-z0-9]+", " ") \
            .str.strip_chars(" ").fill_null("")
        if python.any():
            rows = np.flatnonzero(python.to_numpy())
            words = words.scatter(rows, [" ".join(tokens(t)) for t in texts.gather(rows).to_list()])
        screen, searchable = self._screen, self._screen.kind == ahocorasick.AHOCORASICK
        held = np.fromiter((searchable and next(screen.iter(f" {w} "), None) is not None
                            for w in words.to_list()), bool, count=len(words))
        return held | words.is_in(self._exact_texts).to_numpy()

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
        """The three files of a folder in the layout of ``../shared/data/benchmarks``."""
        folder = check_folder(path)
        return cls(items_of(load_mt_bench(folder / FILES["mt_bench"]),
                            load_alpaca_eval(folder / FILES["alpaca_eval"]),
                            load_truthfulqa(folder / FILES["truthfulqa"])),
                   source=str(folder), **kwargs)

    @classmethod
    def from_hub(cls, **kwargs: Any) -> BenchmarkIndex:
        """The benchmarks' files on the Hub (``io.benchmarks.HUB_FILES``); needs network the
        first time, then the Hugging Face cache."""
        return cls(items_of(load_mt_bench(), load_alpaca_eval(), load_truthfulqa()),
                   source=HUB, **kwargs)

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


class Decontaminate(Step):
    """Drops a row when one of its user or system turns matches a benchmark prompt.

    ``column`` is a conversation column (its user and system turns are checked) or a text
    column (the prompt). The reason is ``contaminated_<benchmark>``; the detail is
    :meth:`Match.detail`'s JSON.
    """

    name = "contaminated"
    reasons = tuple(REASONS.values())

    def __init__(self, index: BenchmarkIndex, column: str):
        self.index, self.column = index, column

    def __call__(self, batch: pl.DataFrame) -> Outcome:
        """Only the rows with a suspect turn (``BenchmarkIndex.suspects``, column-wise) are
        matched in Python, all their user and system turns in order."""
        drop: list[str | None] = [None] * batch.height
        detail: list[str | None] = [None] * batch.height
        texts, rows, turns, roles = self.prompt_turns(batch[self.column])
        suspect_rows = np.unique(rows[self.index.suspects(texts)])
        if len(suspect_rows):
            bounds = np.searchsorted(rows, np.arange(batch.height + 1))
            for row in suspect_rows.tolist():
                start, end = int(bounds[row]), int(bounds[row + 1])
                found = self.index.match(texts.slice(start, end - start).to_list())
                if found is not None:
                    at = start + found.user_turn
                    drop[row] = found.reason
                    detail[row] = found.detail(int(turns[at]), roles[at])
        return Outcome(drop=pl.Series(drop, dtype=pl.String),
                       detail=pl.Series(detail, dtype=pl.String))

    @staticmethod
    def prompt_turns(column: pl.Series) -> tuple[pl.Series, np.ndarray, np.ndarray, pl.Series]:
        """The user and system turns of every row in order (for a text column, its values),
        with the row, the position in its conversation and the role of each."""
        if column.dtype == pl.String:
            n = len(column)
            return (column.fill_null(""), np.arange(n), np.zeros(n, np.int64),
                    pl.Series([USER] * n, dtype=pl.String))
        flat = flatten(column)
        checked = flat.role.is_in([USER, SYSTEM])
        mask = checked.to_numpy()
        return (flat.content.filter(checked), flat.row[mask], flat.turn[mask],
                flat.role.filter(checked))


# ------------------------------------------------------------------ the setting


@functools.lru_cache(maxsize=4)
def load_index(setting: str) -> BenchmarkIndex | None:
    """The index for a resolved setting, built once per process; None when 'off'."""
    if setting == OFF:
        return None
    if setting == HUB:
        try:
            return BenchmarkIndex.from_hub()
        except BenchmarkFileError as err:  # offline, network, missing or unreadable file
            raise ConfigError(f"decontaminate='hub': {err} Or pass --decontaminate off to build "
                              "without decontamination.") from None
    return BenchmarkIndex.from_dir(setting)


def describe_setting(setting: str) -> dict[str, Any]:
    """The manifest's ``decontamination`` entry."""
    index = load_index(setting)
    if index is None:
        return {"source": OFF}
    return index.describe()




def check_decontamination(setting: str | None) -> None:
    """Fail now, in the main process, on a benchmark folder that lacks a file or a field (the Hub
    is loaded when the build starts)."""
    if setting not in (None, HUB, OFF):
        load_index(setting)
