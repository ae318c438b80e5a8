"""The counts of a run: rows in, kept, dropped per reason, and the steps' counters.

Only the runner writes them. Counts of several workers or tasks merge by addition, so the
totals do not depend on how the work was split.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Stats:
    rows_in: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    counters: Counter = field(default_factory=Counter)

    def merge(self, other: Stats) -> Stats:
        self.rows_in += other.rows_in
        self.kept += other.kept
        self.dropped.update(other.dropped)
        self.counters.update(other.counters)
        return self

    def add(self, dropped: Mapping[str, int] | None = None,
            counters: Mapping[str, int] | None = None) -> None:
        self.dropped.update({k: v for k, v in (dropped or {}).items() if v})
        self.counters.update({k: v for k, v in (counters or {}).items() if v})

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def check_accounting(self) -> None:
        """Every row that came in was kept or dropped with a reason."""
        if self.rows_in != self.kept + self.dropped_total:
            raise AssertionError(f"rows in ({self.rows_in}) != kept ({self.kept}) + dropped "
                                 f"({self.dropped_total}): {dict(self.dropped)}")

    def to_dict(self) -> dict[str, Any]:
        return {"rows_in": self.rows_in, "kept": self.kept,
                "dropped": dict(sorted(self.dropped.items())),
                "dropped_total": self.dropped_total,
                "counters": dict(sorted(self.counters.items()))}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Stats:
        return cls(int(data["rows_in"]), int(data["kept"]), Counter(data.get("dropped", {})),
                   Counter(data.get("counters", {})))
