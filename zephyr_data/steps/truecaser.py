"""Restore the capitalization of chat messages whose casing is broken, as the Zephyr paper did.

About 5% of UltraChat has messages such as "hello. how are you? i am fine." A message is
*broken* when a sentence starts with a lower-case word or when it has a lone lower-case "i".
Only broken messages are changed; well-formed text comes out as it went in.

In a broken message, the words of each sentence are cased by the ``truecase`` package's model
(trained on English text; it ships in the wheel and needs no download), the first word of each
sentence is capitalized, and "i" becomes "I". Tokens come from NLTK's Treebank tokenizer by
*span*, and only letters inside those spans may go from lower to upper case, so whitespace,
newlines and markdown are kept. Code (fenced and inline), URLs, e-mail addresses, HTML tags
and words that look like identifiers (``iPhone``, ``snake_case``, ``file.py``) are never
touched. The result always has the same length as the input and equals it when both are
lower-cased; a change that would break this is not made.
"""

from __future__ import annotations

import functools
import math
import re
import string
from dataclasses import dataclass
from typing import Any

PROTECTED = re.compile(
    r"```.*?(?:```|\Z)"            # fenced code
    r"|~~~.*?(?:~~~|\Z)"
    r"|`[^`\n]+`"                 # inline code
    r"|<[^<>\n]{1,200}>"          # HTML tags and <placeholders>
    r"|\b(?:https?|ftp)://\S+"    # URLs
    r"|\bwww\.\S+"
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail addresses
    r"|\$\$.+?\$\$"               # display math
    r"|\$[^$\n]{1,60}\$",          # inline math
    re.S,
)
# A sentence ends at . ! ? followed by white space. A closing quote after the mark does not end
# one: '"Is it true?" she asked' goes on in lower case.
SENTENCE_END = re.compile(r"[.!?]\s+")
PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_LOWER_NEXT = r"(?=[\"“‘*_]*[a-z])"  # finding broken text only needs lower-case starts
SENTENCE_END_LOWER = re.compile(SENTENCE_END.pattern + _LOWER_NEXT)
PARAGRAPH_LOWER = re.compile(PARAGRAPH.pattern + _LOWER_NEXT)
LINE_START = re.compile(r"\n[ \t]*")
LIST_MARKER = re.compile(r"(?:[-*+•>]|\d{1,3}[.)]|[a-zA-Z][.)]|#{1,6})[ \t]+")
CODE_LINE = re.compile(
    r"(?:import|from)\s+[\w.]+[\w.;, *]*\s*$"                            # import os
    r"|(?:def|class|function|const|let|var|public|private)\s+[\w$]+\s*[=(:{<]"
    r"|(?:return|print|for|if|while|elif|switch|catch|echo)\s*\("
    r"|(?:if|elif|while)\s[^\n]{0,60}[=<>][^\n]*[:{]\s*$|(?:else|try|finally)\s*[:{]\s*$"
    r"|for\s+\w+\s+in\s+\S+:\s*$|(?:sudo|pip|npm|git|cd|ls)\s+-?\w+"
    r"|[\w.\[\]]+\s*(?:[-+*/<>!=]?=|[<>])\s*\S"                          # x = 1, st >= 0.3
    r"|[^\n]*(?:[{}]|\w\(\))")
LABEL = re.compile(r"[a-z]\w*(?: \w+){0,2}:")  # "answer:", "input question:", "step 1:"
OPENERS = re.compile(r"[\"“‘*_]*")
WORD = re.compile(r"[a-z]+(?:['’-][a-z]+)*")
AFTER_I = ("am|was|have|had|has|think|thought|will|would|can|can't|cannot|could|couldn't|do|"
           "don't|did|didn't|want|wanted|like|liked|love|loved|need|needed|know|knew|feel|felt|"
           "believe|hope|guess|mean|see|saw|just|really|also|went|got|get|usually|always|never|"
           "should|might|must|may|wish|agree|understand|recommend|suggest|apologize|found|made|"
           "tried|try|use|used|visited|live|lived|work|worked|heard|read|remember|enjoy|enjoyed|"
           "hate|prefer|still|only|often|recently|personally|definitely|completely|totally|"
           "actually|already|haven't|wasn't|won't|wouldn't|shouldn't|appreciate|wonder|decided|"
           "started|learned|noticed|believe|understood|say|said|told|asked|look|plan|am")
LONE_I = re.compile(r"(?<![\w'’\[({=+*/.$\\-])i(?:(?=['’](?:m|ve|ll|d)\b)|(?= (?:" + AFTER_I
                    + r")\b))")
# A superset of what ``broken_spots`` can find, in the syntax shared by Python's ``re`` and
# Rust's ``regex`` (polars), so a batch can be screened column-wise.
CANDIDATE = (r"^\s*[\"“‘*_]*[a-z]|[.!?]\s+[\"“‘*_]*[a-z]|\n[ \t]*\n\s*[\"“‘*_]*[a-z]"
             r"|\bi(?:['’]| [a-z])")
QUICK_CHECK = re.compile(CANDIDATE)
# The screen the truecasing step runs in polars: the same superset, made precise enough that
# most messages it lets through are broken. It follows ``broken_spots`` more closely: a start
# needs a word of two letters (``WORD``) on a line of two words or more, and of four or more
# unless the line ends a sentence (``_word_at``); a lone "i" needs the words ``LONE_I`` names.
# White space is Python's (``\s`` in Rust leaves out U+001C..U+001F). ``_word_at`` counts words
# on the masked text, where a fenced code block or display math spanning lines is one token:
# a message holding one (``SPANNING``) is screened with the broader ``CANDIDATE``.
_WS, _NONWS = r"(?:[^\S\n]|[\x1c-\x1f])", r"[^\s\x1c-\x1f]"
_LEAD = r"[\s\x1c-\x1f]"
_WORD2 = (r"[\"“‘*_]*[a-z](?:[a-z]|['’-][a-z])" + _NONWS + "*" + _WS + "+"
          + r"(?:" + _NONWS + "+(?:" + _WS + "+" + _NONWS + "+){2}"
          + r"|[^\n]*[.!?:][\"'”’)\]*]*" + _WS + r"*(?:\n|$))")
PRECISE_POLARS = (r"^" + _LEAD + "*" + _WORD2 + r"|[.!?]" + _LEAD + "+" + _WORD2
                  + r"|\n[ \t]*\n" + _LEAD + "*" + _WORD2
                  + r"|(?-u:\b)i(?:['’](?:m|ve|ll|d)(?-u:\b)| (?:" + AFTER_I + r")(?-u:\b))")
SPANNING = r"```|~~~|\$\$"
# The broad screen for polars: an ASCII word boundary is several times faster in Rust's regex
# and still a superset (Python's check rejects a word character before "i" either way),
# and Python's white space (Rust's ``\s`` leaves out U+001C..U+001F).
CANDIDATE_POLARS = CANDIDATE.replace(r"\b", r"(?-u:\b)").replace(r"\s", r"[\s\x1c-\x1f]")


def candidates(texts: Any) -> Any:
    """Which of ``texts`` (a polars String Series) the Python truecaser may change: a superset
    of the broken ones, screened column-wise in polars."""
    precise = texts.str.contains(PRECISE_POLARS)
    spanning = texts.str.contains(SPANNING) & texts.str.contains(CANDIDATE_POLARS)
    return (precise | spanning).fill_null(False)


ABBREVIATIONS = frozenset(
    "e.g i.e etc vs approx cf al fig figs no nos dr mr mrs ms st jr sr inc ltd co corp u.s u.k "
    "a.m p.m ca esp ex incl est dept vol vols pp ed eds ch sec eq eqs ref refs op mt ft lb lbs "
    "oz pt qt min max avg sq mi km cm mm kg mg ml hr hrs e.t.c viz resp".split())
MIN_WORDS = 4  # shorter lines ("yes", "negative") are often lower case by design
MIN_ENGLISH = 0.7  # share of words the truecase model knows; below it, leave the text alone


@dataclass(frozen=True)
class Repair:
    """The result for one message: the new text and how many letters changed."""

    text: str
    letters_changed: int


_PROTECTED_HINTS = ("`", "~~~", "<", "://", "www.", "@", "$")


def _masked(text: str) -> str:
    """``text`` with protected spans replaced by NUL characters of the same length."""
    if not any(hint in text for hint in _PROTECTED_HINTS):
        return text
    return PROTECTED.sub(lambda m: "\0" * len(m.group()), text)


def _word_at(masked: str, pos: int, *, strict: bool = True) -> tuple[int, int] | None:
    """Span of the plain lower-case word starting at ``pos`` (after openers), if any.

    ``strict`` (finding broken text) also skips labels ("answer:"), options ("d )") and the
    "where x is" that follows a formula, which well-formed text writes in lower case.
    """
    at_line_start = pos == 0 or masked[pos - 1] == "\n"
    pos = OPENERS.match(masked, pos).end()
    m = WORD.match(masked, pos)
    if not m or len(m.group()) < 2 or not _plain_word(masked, m.start(), m.end()):
        return None
    line_end = masked.find("\n", pos)
    line = masked[pos:line_end if line_end >= 0 else len(masked)]
    if CODE_LINE.match(line):
        return None
    if strict:
        words = line.split()
        ended = line.rstrip().rstrip("\"'”’)]*").endswith((".", "!", "?", ":"))
        if len(words) < 2 or (len(words) < MIN_WORDS and not ended):
            return None
        if at_line_start and not ended and (len(words) < 8 or line.count(",") >= 2):
            return None  # a title or a line of keywords, not a sentence
        if LABEL.match(line) or words[0] in ("where", "option") \
                or masked[m.end():m.end() + 2].lstrip()[:1] == ")":
            return None
    return m.start(), m.end()


def _plain_word(masked: str, start: int, end: int) -> bool:
    """True for an ordinary word: not glued to code, digits, dots (file.py) or brackets."""
    after = masked[end:end + 2]
    before = masked[start - 1:start] if start else ""
    if before and (before.isalnum() or before in "\0_/\\.@#$"):
        return False
    if after[:1] and (after[:1].isalnum() or after[:1] in "\0_/\\(@#$=[{<"):
        return False
    if after[:1] in ".:" and len(after) > 1 and after[1].isalnum():  # file.py, key:value
        return False
    return True


def _previous_token(masked: str, end: int) -> str:
    start = end
    while start > 0 and not masked[start - 1].isspace():
        start -= 1
    return masked[start:end]


def sentence_starts(masked: str, *, lines: bool = False) -> list[int]:
    """Positions where a sentence starts: the message start, after a sentence end that is not
    an abbreviation, a number or an ellipsis, and after a blank line.

    With ``lines=False`` (finding broken text) list items and headings do not count, since in
    well-formed text they often begin in lower case. With ``lines=True`` (repairing a message
    already found broken) every line start counts, after its list marker. Finding broken text
    only looks at the starts followed by a lower-case letter.
    """
    starts = []

    def add(pos: int) -> None:
        marker = LIST_MARKER.match(masked, pos)
        if marker and lines:
            starts.append(marker.end())
        elif not marker:
            starts.append(pos)

    add(len(masked) - len(masked.lstrip()))
    for m in (SENTENCE_END if lines else SENTENCE_END_LOWER).finditer(masked):
        if "\n" in m.group():
            add(m.end())
            continue
        token = _previous_token(masked, m.start() + 1).lower().strip("\"'”’)]([“‘")
        word = token.rstrip(".!?")
        if token.endswith("..") or word in ABBREVIATIONS or len(word) <= 1 or "." in word:
            continue
        starts.append(m.end())
    for m in (LINE_START if lines else PARAGRAPH_LOWER).finditer(masked):
        add(m.end())
    return sorted(set(starts))


def english_share(masked: str) -> float:
    """Share of the words of three letters or more that the truecase model knows."""
    words = re.findall(r"[A-Za-z]{3,}", masked)
    if not words:
        return 0.0
    vocabulary = _truecaser().word_casing_lookup
    return sum(map(vocabulary.__contains__, map(str.lower, words))) / len(words)


def broken_spots(text: str, masked: str | None = None) -> list[tuple[int, int]]:
    """The spans that show broken capitalization: lower-case sentence starts and lone "i"."""
    if not QUICK_CHECK.search(text):
        return []
    masked = _masked(text) if masked is None else masked
    starts = sentence_starts(masked)
    spots = [span for pos in starts if (span := _word_at(masked, pos))]
    spots += [(m.start(), m.end()) for m in LONE_I.finditer(masked)]
    if spots and english_share(masked) < MIN_ENGLISH:
        return []
    return sorted(spots)


def is_broken(text: str) -> bool:
    return bool(broken_spots(text))


@functools.cache
def _truecaser():
    from truecase import TrueCaser

    return TrueCaser()


@functools.cache
def _tokenizer():
    from nltk.tokenize import NLTKWordTokenizer

    return NLTKWordTokenizer()


def _token_spans(sentence: str) -> list[tuple[int, int]]:
    try:
        return list(_tokenizer().span_tokenize(sentence))
    except ValueError:  # the tokenizer could not align a token: fall back to plain words
        return [m.span() for m in re.finditer(r"\w+(?:['’]\w+)*|[^\w\s]", sentence)]


def _upper_into(chars: list[str], start: int, cased: str) -> None:
    """Raise the case of ``chars[start:...]`` to match ``cased``, letter by letter."""
    for i, c in enumerate(cased):
        old = chars[start + i]
        if old != c and old.islower():
            up = old.upper()
            if len(up) == 1 and up == c and up.lower() == old:
                chars[start + i] = up


def _has_upper(text: str) -> bool:
    """Whether any character is upper case (``str.isupper``), the ASCII case in C."""
    if text.isascii():
        return text.lower() != text
    return any(c.isupper() for c in text)


def truecase(text: str) -> Repair:
    """Repair a message if its capitalization is broken; otherwise return it unchanged."""
    masked = _masked(text)
    spots = broken_spots(text, masked)
    if not spots:
        return Repair(text, 0)
    chars = list(text)
    starts = sentence_starts(masked, lines=True)
    if not _has_upper(masked):  # all lower case: proper nouns are lost too
        _model_case(masked, starts, chars)
    spots += [span for pos in starts if (span := _word_at(masked, pos, strict=False))]
    for start, end in spots:  # sentence starts and "i"
        word = masked[start:end]
        _upper_into(chars, start, word[0].upper() + word[1:])
    new_text = "".join(chars)
    if len(new_text) != len(text) or new_text.lower() != text.lower():
        return Repair(text, 0)  # never trade the case-only guarantee for a repair
    return Repair(new_text, sum(map(str.__ne__, text, new_text)))


def _model_case(masked: str, starts: list[int], chars: list[str]) -> None:
    """Case every plain word as the truecase model says, sentence by sentence."""
    bounds = sorted({0, *starts, len(masked)})
    model = _truecaser()
    for begin, end in zip(bounds, bounds[1:]):
        sentence = masked[begin:end]
        spans = [(a, b) for a, b in _token_spans(sentence) if "\0" not in sentence[a:b]]
        if not spans:
            continue
        tokens = [sentence[a:b] for a, b in spans]
        cased = _model_tokens(model, tokens)
        for (a, b), token, new in zip(spans, tokens, cased):
            if new != token and len(new) == len(token) and token.islower() \
                    and _plain_word(masked, begin + a, begin + b):
                _upper_into(chars, begin + a, new)


def _model_tokens(model, tokens: list[str]) -> list[str]:
    """``TrueCaser.get_true_case_from_tokens`` with out-of-vocabulary tokens kept as they are,
    made deterministic: the package iterates over a ``set`` of candidate casings, whose order
    changes with Python's hash seed, so ties went one way or the other from run to run."""
    out: list[str] = []
    lookup = model.word_casing_lookup
    for i, token in enumerate(tokens):
        lower = token.lower()
        candidates = lookup.get(lower)
        if token in string.punctuation or token.isdigit() or not candidates:
            out.append(token)
            continue
        if len(candidates) > 1:
            following = tokens[i + 1].lower() if i + 1 < len(tokens) else None
            best = _best_casing(out[i - 1] if i > 0 else None, lower, following)
        else:
            best = next(iter(candidates))
        out.append(best.capitalize() if i == 0 else best)
    return out


@functools.lru_cache(maxsize=1 << 18)
def _best_casing(previous: str | None, lower: str, following: str | None) -> str:
    """The casing of ``lower`` that ``TrueCaser.get_score`` rates highest between ``previous``
    and ``following`` (lower-cased), the first in sorted order among equal scores.

    The same sums, quotients and logs as ``get_score``, in the same order, so the scores are
    bit-identical; its four denominators are the same for every candidate, so they are summed
    once here instead of once per candidate (they are sums of whole numbers: exact in any
    order). A context seen before is looked up (real text repeats word trigrams a lot).
    """
    model = _truecaser()
    candidates = sorted(model.word_casing_lookup[lower])
    pseudo = 5.0
    uni, back, fwd, tri = (model.uni_dist, model.backward_bi_dist, model.forward_bi_dist,
                           model.trigram_dist)
    uni_den = sum(uni.get(c, 0) + pseudo for c in candidates)
    back_den = fwd_den = tri_den = 0.0
    if previous is not None:
        back_den = sum(back.get(f"{previous}_{c}", 0) + pseudo for c in candidates)
    if following is not None:
        fwd_den = sum(fwd.get(f"{c}_{following}", 0) + pseudo for c in candidates)
    if previous is not None and following is not None:
        tri_den = sum(tri.get(f"{previous}_{c}_{following}", 0) + pseudo for c in candidates)

    def score(c: str) -> float:
        backward = forward = trigram = 1
        if previous is not None:
            backward = (back.get(f"{previous}_{c}", 0) + pseudo) / back_den
        if following is not None:
            forward = (fwd.get(f"{c}_{following}", 0) + pseudo) / fwd_den
        if previous is not None and following is not None:
            trigram = (tri.get(f"{previous}_{c}_{following}", 0) + pseudo) / tri_den
        return (math.log((uni.get(c, 0) + pseudo) / uni_den) + math.log(backward)
                + math.log(forward) + math.log(trigram))

    return max(candidates, key=score)
