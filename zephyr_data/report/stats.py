"""What the report's plots show, collected column-wise from the rows as the reduce writes them,
so that drawing needs no second read of the output (``ReportData.from_folder`` reads a bounded
sample back for a folder built elsewhere).

Counts over every written row (dialogue lengths, messages per role, truecased messages per role,
scores, sources) are exact; token counts, the one costly statistic, come from a uniform sample
of at most ``SAMPLE_ROWS`` rows (by ``prompt_id``, a hash).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from ..core.messages import WHITESPACE, parity_role
from .build_files import TRUECASED_FILE, read_rows

SAMPLE_ROWS = 50_000
# A run of characters that Python's str.split() does not split on (Rust regex syntax).
_WORD = "[^" + "".join(f"\\x{{{ord(c):x}}}" for c in WHITESPACE) + "]+"


def whitespace_tokens(texts: pl.Series) -> np.ndarray:
    """``len(text.split())`` of each string, counted in polars."""
    return texts.str.count_matches(_WORD).fill_null(0).to_numpy().astype(np.int64)


@dataclass
class ReportData:
    splits: list[str]
    rows: int = 0
    lengths: Counter = field(default_factory=Counter)  # messages per dialogue -> dialogues
    role_messages: Counter = field(default_factory=Counter)
    truecased_roles: Counter = field(default_factory=Counter)  # in the output, per role
    truecased_dialogues: int = 0
    has_changes: bool = False  # whether truecasing changes were seen (a side file)
    sampled: int = 0
    tokens: dict[str, list[np.ndarray]] = field(default_factory=dict)
    chosen: list[np.ndarray] = field(default_factory=list)
    rejected: list[np.ndarray] = field(default_factory=list)
    sources: Counter | None = None

    @property
    def preference(self) -> bool:
        return bool(self.chosen)

    def token_groups(self) -> list[tuple[str, np.ndarray]]:
        return [(name, np.concatenate(parts) if parts else np.zeros(0, np.int64))
                for name, parts in self.tokens.items()]

    def add(self, table: pa.Table, sample: np.ndarray | None = None,
            changes: list[dict[str, Any]] | None = None) -> None:
        """Count the rows of ``table`` (written rows, in any order); ``sample`` marks the rows
        whose tokens are counted (all by default); ``changes`` are their truecasing records."""
        frame = pl.from_arrow(table.select([c for c in ("messages", "prompt", "chosen",
                                                        "rejected", "score_chosen",
                                                        "score_rejected", "source")
                                            if c in table.column_names]))
        assert isinstance(frame, pl.DataFrame)
        self.rows += frame.height
        picked = frame if sample is None else frame.filter(pl.Series(sample))
        self.sampled += picked.height
        if "messages" in frame.columns:
            self.lengths.update(dict(frame["messages"].list.len().value_counts().rows()))
            roles = frame["messages"].list.eval(pl.element().struct.field("role")).explode()
            self.role_messages.update(dict(roles.drop_nulls().value_counts().rows()))
        if "score_chosen" in frame.columns:
            self.chosen.append(frame["score_chosen"].to_numpy())
            self.rejected.append(frame["score_rejected"].to_numpy())
            for name, texts in (("prompt (user)", picked["prompt"]),
                                ("chosen reply", picked["chosen"].list.last().struct["content"]),
                                ("rejected reply",
                                 picked["rejected"].list.last().struct["content"])):
                self.tokens.setdefault(name, []).append(whitespace_tokens(texts))
        elif "messages" in frame.columns:
            flat = picked["messages"].explode().drop_nulls()
            counts = whitespace_tokens(flat.struct["content"])
            role = flat.struct["role"].to_numpy()
            for name in ("user", "assistant"):
                self.tokens.setdefault(name, []).append(counts[role == name])
        if "source" in frame.columns:
            self.sources = (self.sources or Counter())
            self.sources.update(frame["source"].fill_null("unknown").to_list())
        if changes is not None:
            self.has_changes = True
            self.truecased_roles.update(
                c.get("role") or (parity_role(int(c["index"])) if "index" in c else "other")
                for c in changes)
            self.truecased_dialogues += len({c["prompt_id"] for c in changes})

    def merge(self, other: ReportData) -> None:
        """Add what ``other`` counted (another bucket's rows, e.g. from a Ray task)."""
        self.rows += other.rows
        self.sampled += other.sampled
        self.lengths.update(other.lengths)
        self.role_messages.update(other.role_messages)
        self.truecased_roles.update(other.truecased_roles)
        self.truecased_dialogues += other.truecased_dialogues
        self.has_changes = self.has_changes or other.has_changes
        for name, parts in other.tokens.items():
            self.tokens.setdefault(name, []).extend(parts)
        self.chosen.extend(other.chosen)
        self.rejected.extend(other.rejected)
        if other.sources is not None:
            self.sources = (self.sources or Counter())
            self.sources.update(other.sources)

    @classmethod
    def from_folder(cls, folder: Path, manifest: dict[str, Any]) -> ReportData:
        """The same data read back from a built folder: a bounded sample of its rows, and the
        truecasing records of those rows when the folder has ``truecased.jsonl``."""
        table, splits = read_rows(folder, manifest)
        data = cls(splits)
        if not table.num_rows:
            return data
        changes = None
        path = Path(folder) / TRUECASED_FILE
        if path.is_file():
            ids = set(table["prompt_id"].to_pylist())
            records = pl.read_ndjson(path) if path.stat().st_size else pl.DataFrame()
            changes = [r for r in records.to_dicts() if r.get("prompt_id") in ids]
        data.add(table, None, changes)
        return data
