"""Measure the truecaser on real text: how much it leaves alone, and how much it restores.

``break_sentence_starts`` lower-cases the first letter of every sentence of a well-formed
message. A sentence starts at the start of the message or after ". ", "! " or "? ", except
after an abbreviation or an initial ("Dr. Smith", "John F. Kennedy") or a list number at the
start of a line ("2. Mix"), and only where the first word is a plain capitalized word (not
"iPhone", "TypeScript" or "example.com", which cannot be told apart from well-formed text once
lower-cased). A line that is a label ("Correct answer: B") or a title (no closing punctuation,
fewer than 8 words) is not a sentence. Messages that are mostly not English (the truecasing
model is English) are left out.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import Any

from zephyr_data.steps.truecaser import (
    ABBREVIATIONS,
    MIN_ENGLISH,
    PROTECTED,
    english_share,
    truecase,
)

_LABEL = re.compile(r"\w+(?: \w+){0,2}\s?:")
_START = re.compile(r"(?:^|(?<=[.!?])[ \t]+|(?<=[.!?])\n+[ \t]*)([A-Z][a-z]+)(?=[\s,;!?\"')]|$)")


def break_sentence_starts(text: str) -> tuple[str, list[int]]:
    """Lower-case the first letter of each sentence; return the text and those positions."""
    if english_share(text) < MIN_ENGLISH:
        return text, []
    protected = [m.span() for m in PROTECTED.finditer(text)]
    positions = []
    for m in _START.finditer(text):
        pos = m.start(1)
        if any(a <= pos < b for a, b in protected):
            continue
        before = text[:m.start()].rstrip()
        token = before.split()[-1].lower().strip("\"'()[]") if before.split() else ""
        word = token.rstrip(".!?")
        line = before[before.rfind("\n") + 1:]
        if before and (word in ABBREVIATIONS or len(word) <= 1 or "." in word
                       or re.fullmatch(r"\s*\d{1,3}\.", line)):
            continue
        rest = text[pos:].split("\n", 1)[0]
        ended = rest.rstrip().rstrip("\"'”’)]*").endswith((".", "!", "?", ":"))
        at_line_start = not line.strip() or re.fullmatch(r"\s*\d{1,3}\.", line)
        if _LABEL.match(rest) or (at_line_start and not ended and len(rest.split()) < 8):
            continue
        positions.append(pos)
    chars = list(text)
    for pos in positions:
        chars[pos] = chars[pos].lower()
    return "".join(chars), positions


def evaluate(messages: Iterable[str]) -> dict[str, Any]:
    """Rates on well-formed messages: unchanged share, restored share, and speed."""
    messages = [m for m in messages if m.strip()]
    started = time.perf_counter()
    unchanged = sum(truecase(m).text == m for m in messages)
    clean_seconds = time.perf_counter() - started
    broken_letters = restored = extra = 0
    started = time.perf_counter()
    words = 0
    for message in messages:
        broken, positions = break_sentence_starts(message)
        if not positions:
            continue
        words += len(message.split())
        repaired = truecase(broken).text
        broken_letters += len(positions)
        restored += sum(repaired[p] == message[p] for p in positions)
        extra += sum(a != b for a, b in zip(repaired, message)) - \
            sum(repaired[p] != message[p] for p in positions)
    repair_seconds = time.perf_counter() - started
    total_words = sum(len(m.split()) for m in messages)
    return {
        "messages": len(messages),
        "unchanged_share": unchanged / len(messages),
        "broken_letters": broken_letters,
        "restored_share": restored / broken_letters if broken_letters else 1.0,
        "other_letters_changed": extra,
        "words_per_second_clean": total_words / clean_seconds,
        "words_per_second_broken": words / repair_seconds if repair_seconds else 0.0,
    }
