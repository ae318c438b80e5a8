"""Where the tests find the checkout and the real public data (``benchmarks.realtext`` is the
one place that knows where ``../shared/data`` is)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.realtext import SHARED_DATA

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = SHARED_DATA / "benchmarks"

__all__ = ["BENCHMARKS", "REPO", "SHARED_DATA"]
