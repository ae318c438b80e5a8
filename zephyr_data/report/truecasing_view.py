"""Truecasing changes of a build, before and after, for the notebooks (``truecased.jsonl``)."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..core.messages import parity_role
from .build_files import TRUECASED_FILE, Build
from .explore import _PRE, _dump_entries


def truecasing_source(build: Build) -> Path | None:
    """The build's ``truecased.jsonl`` (every repaired message of the output, before and
    after), or None for a build without one (e.g. a dataset not built by this project)."""
    path = build.folder / TRUECASED_FILE
    return path if path.is_file() else None


def truecasing_changes(source: str | Path, page: int = 0, size: int = 10
                       ) -> list[dict[str, Any]]:
    """Page ``page`` of truecased messages ``{"prompt_id", "index", "role", "before",
    "after"}`` from a ``truecased.jsonl``."""
    out: list[dict[str, Any]] = []
    for i, change in enumerate(_dump_entries(source)):
        if i < page * size:
            continue
        change.setdefault("role", parity_role(int(change["index"])))
        out.append(change)
        if len(out) >= size:
            break
    return out


def _changed_spans(before: str, after: str) -> list[tuple[int, int]]:
    """Word spans of ``after`` whose letters differ from ``before`` (same-length texts)."""
    spans: list[tuple[int, int]] = []
    for m in re.finditer(r"\S+", after):
        if before[m.start():m.end()] != m.group():
            spans.append(m.span())
    return spans


def _highlight(text: str, spans: list[tuple[int, int]], color: str, lo: int, hi: int) -> str:
    out, pos = [], lo
    for start, end in spans:
        if end <= lo or start >= hi:
            continue
        out.append(html.escape(text[pos:start]))
        out.append(f"<mark style='background:{color}'>{html.escape(text[start:end])}</mark>")
        pos = end
    out.append(html.escape(text[pos:hi]))
    return "".join(out)


def format_truecasing(changes: Sequence[dict[str, Any]], context: int = 120) -> str:
    """HTML: for each truecased message, its before and after with changed words marked,
    cut to ``context`` characters around the first and last change."""
    if not changes:
        return "<p><i>no truecasing changes on this page</i></p>"
    parts = []
    for c in changes:
        before, after = c["before"], c["after"]
        if len(before) == len(after):
            spans = _changed_spans(before, after)
        else:  # not a pure case change: show it whole
            spans = [(0, len(after))]
        lo = max(0, spans[0][0] - context) if spans else 0
        hi = min(len(after), spans[-1][1] + context) if spans else len(after)
        cut_lo = "… " if lo else ""
        cut_hi = " …" if hi < len(after) else ""
        b_hi = hi if len(before) == len(after) else len(before)
        parts.append(
            f"<div style='border-top:1px solid #ccc;padding-top:4px'><code>"
            f"{html.escape(str(c['prompt_id'])[:12])}</code> message {c['index']} "
            f"({html.escape(str(c.get('role')))}), {len(spans)} word(s) changed"
            f"<pre style='{_PRE}'><b>before</b> {cut_lo}"
            f"{_highlight(before, spans, '#fdd', lo, b_hi)}{cut_hi}</pre>"
            f"<pre style='{_PRE}'><b>after</b>  {cut_lo}"
            f"{_highlight(after, spans, '#dfd', lo, hi)}{cut_hi}</pre></div>")
    return "\n".join(parts)


def truecasing_html(build: Build, page: int = 0, size: int = 5) -> str:
    """One page of a build's truecasing changes (dialogues in the output only), as HTML that
    says where they were read from."""
    source = truecasing_source(build)
    if source is None:
        return ("<p><i>This build records no truecasing changes: it has no "
                f"<code>{TRUECASED_FILE}</code>.</i></p>")
    changes = truecasing_changes(source, page, size)
    return (f"<p>Page {page} ({size} a page), read from the build's "
            f"<code>{TRUECASED_FILE}</code> (messages of the output); changed words are "
            "marked.</p>" + format_truecasing(changes))
