"""What the notebooks show of a build: its statistics, its plots and its dropped rows, page by
page (``--dump-dropped``)."""

from __future__ import annotations

import html
import json
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..core.messages import parity_role
from . import tables
from .build_files import Build
from .plots import PLOTS, REPORT_DIR, write_report


def summary_markdown(manifest: dict[str, Any]) -> str:
    """Splits, rows in/kept/dropped per reason, counters and decontamination, as Markdown."""
    if not manifest:
        return "_This folder has no `manifest.json`: no build statistics to show._"
    lines = [f"**Pipeline** `{manifest.get('pipeline', '?')}`, input "
             f"{(manifest.get('input') or {}).get('description', '?')}, fingerprint "
             f"`{str(manifest.get('fingerprint', ''))[:16]}`", "",
             tables.markdown(tables.split_rows(manifest.get("splits", {})), ("split", "rows"))]
    stats = manifest.get("stats")
    if stats:
        lines += ["", tables.markdown(tables.stats_rows(stats), ("rows", "count"))]
    deco = manifest.get("decontamination") or {}
    setting = deco.get("source", manifest.get("config", {}).get("decontaminate"))
    lines += ["", f"**Decontamination**: {setting if setting is not None else 'not recorded'}"]
    return "\n".join(lines)


def ensure_report(build: Build) -> list[Path]:
    """The build's ``report/`` plots; drawn into a temporary folder if the build has none."""
    existing = build.folder / REPORT_DIR
    paths = [existing / f"{name}.png" for name in PLOTS if (existing / f"{name}.png").is_file()]
    if paths:
        return paths
    return write_report(build.folder, build.manifest,
                        out_dir=Path(tempfile.mkdtemp(prefix="zephyr-report-")))


def _dump_entries(path: str | Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def dropped_counts(path: str | Path) -> dict[str, int]:
    """Rows per reason in a ``--dump-dropped`` file, most frequent first ({} if no file)."""
    if not Path(path).is_file():
        return {}
    counts = Counter(entry["reason"] for entry in _dump_entries(path))
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def dropped_markdown(path: str | Path) -> str:
    """A table of rows per reason in a ``--dump-dropped`` file, or why there is none."""
    if not Path(path).is_file():
        return (f"_No dump at `{path}`: build with `--dump-dropped PATH` and point "
                "`DROPPED` (or `ZEPHYR_DROPPED`) at it._")
    counts = dropped_counts(path)
    lines = [f"Dropped rows in `{path}`:", "", "| reason | rows |", "|---|---:|"]
    lines += [f"| `{reason}` | {n:,} |" for reason, n in counts.items()] or ["| (none) | 0 |"]
    return "\n".join(lines)


def _parse_detail(detail: Any) -> Any:
    if isinstance(detail, str) and detail.startswith("{"):
        try:
            return json.loads(detail)
        except json.JSONDecodeError:
            return detail
    return detail


def page_dropped(path: str | Path, reason: str | None = None, page: int = 0,
                 size: int = 10) -> list[dict[str, Any]]:
    """Page ``page`` (from 0) of ``size`` dropped rows, of one ``reason`` or all, in file
    order; each is ``{"reason", "detail", "ref", "row"}`` with a JSON detail decoded.
    A missing file gives an empty page."""
    out: list[dict[str, Any]] = []
    if not Path(path).is_file():
        return out
    skip = page * size
    for entry in _dump_entries(path):
        if reason is not None and entry["reason"] != reason:
            continue
        if skip:
            skip -= 1
            continue
        out.append({**entry, "detail": _parse_detail(entry.get("detail"))})
        if len(out) >= size:
            break
    return out


def _turns_of(row: Any) -> list[tuple[str, str]]:
    """(label, text) pairs of a dropped row, whatever stage dropped it."""
    if not isinstance(row, dict):
        return [("row", json.dumps(row, ensure_ascii=False))]
    turns: list[tuple[str, str]] = []
    messages = row.get("messages")
    if isinstance(messages, list) and "score_chosen" not in row:
        for i, m in enumerate(messages):
            if isinstance(m, dict):
                turns.append((str(m.get("role")), str(m.get("content"))))
            else:
                turns.append((parity_role(i), str(m)))
        return turns
    if "prompt" in row:
        turns.append(("user", str(row["prompt"])))
        for key in ("chosen", "rejected"):
            value = row.get(key)
            if isinstance(value, list) and value:
                turns.append((f"{key} (score {row.get('score_' + key)})",
                              str(value[-1].get("content"))))
            elif isinstance(value, dict):
                turns.append((f"{key} (score {value.get('score')})", str(value.get("response"))))
        if "chosen" not in row:
            for i, c in enumerate(row.get("completions") or []):
                score = c.get("score", c.get("overall", c.get("ratings")))
                turns.append((f"completion {i} (score {score})", str(c.get("response"))))
        return turns
    return [("row", json.dumps(row, ensure_ascii=False))]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f" … [{len(text) - limit:,} more chars]"


_PRE = "white-space:pre-wrap;margin:2px 0 6px 0;padding:4px;background:#f6f6f6"


def format_dropped(entries: Sequence[dict[str, Any]], max_chars: int = 800) -> str:
    """HTML for a page of dropped rows: reason, where it came from, why, and its turns."""
    if not entries:
        return "<p><i>no dropped rows on this page</i></p>"
    parts = []
    for entry in entries:
        detail = entry.get("detail")
        if isinstance(detail, dict):
            detail_html = "<br>".join(f"<b>{html.escape(str(k))}</b>: "
                                      f"{html.escape(_clip(str(v), max_chars))}"
                                      for k, v in detail.items())
        else:
            detail_html = html.escape(str(detail))
        turns = "".join(f"<div><b>{html.escape(label)}</b></div><pre style='{_PRE}'>"
                        f"{html.escape(_clip(text, max_chars))}</pre>"
                        for label, text in _turns_of(entry.get("row")))
        parts.append(f"<div style='border-top:1px solid #ccc;padding-top:4px'>"
                     f"<b>{html.escape(entry['reason'])}</b> &mdash; "
                     f"<code>{html.escape(str(entry.get('ref')))}</code><br>{detail_html}"
                     f"{turns}</div>")
    return "\n".join(parts)
