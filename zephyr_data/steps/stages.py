"""The stages that need every row at once: deduplication, sampling to a target size and the
train/test split. The runner runs them on the spilled rows, bucket by bucket, after the per-row
steps; like steps, they decide and the runner counts.

Every row carries three keys the runner derives (``runner.map``): ``_dedup_key`` (equal for
duplicates; the pipeline's), ``_select`` (a uniform 64-bit draw seeded from the seed and the
row's sample key) and ``_split`` (the first 64 bits of its ``prompt_id``). Buckets hold rows by
``prompt_id`` and are sorted by ``(prompt_id, _dedup_key, _order_key, _ref)``, so duplicates are
neighbours and the copy kept (the first) does not depend on input order or workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

SORT_KEYS = ("prompt_id", "_dedup_key", "_order_key", "_ref")


@dataclass
class SplitPlan:
    """How kept rows become splits.

    ``train``/``test`` receive the sampled rows by ``prompt_id``; every split in ``mirrors``
    holds the same rows as the split it names. ``test_size`` asks for an exact test count;
    ``max_test_share``, when set, caps it at that share of the rows, so that a small input
    (a bundled sample) still keeps a train split.
    """

    train: str
    test: str
    mirrors: dict[str, str] = field(default_factory=dict)
    test_share: float = 0.1
    test_size: int | None = None
    target_size: int | None = None
    max_test_share: float | None = None

    @property
    def names(self) -> list[str]:
        return [self.train, self.test, *self.mirrors]


class Deduplicate:
    """Of rows with the same ``_dedup_key``, keeps the first in sort order."""

    name = "duplicate"
    reasons = ("duplicate",)
    detail = "same as an earlier row"

    @staticmethod
    def duplicates(table: pa.Table) -> np.ndarray:
        """Rows (of a bucket in sort order) that repeat the row before them."""
        keys = table["_dedup_key"].to_numpy(zero_copy_only=False)
        mask = np.zeros(len(keys), dtype=bool)
        if len(keys) > 1:
            mask[1:] = keys[1:] == keys[:-1]
        return mask


def kth_smallest(values: np.ndarray, k: int) -> int:
    return int(np.partition(values, k - 1)[k - 1])


class TargetSize:
    """Keeps the ``target_size`` rows with the smallest ``_select`` draws."""

    name = "over_target_size"
    reasons = ("over_target_size",)

    @staticmethod
    def threshold(selects: np.ndarray, target: int | None) -> int | None:
        """The largest draw kept, or None when every row is kept."""
        if target is None or len(selects) <= target:
            return None
        return kth_smallest(selects, target)


class TestSplit:
    """Assigns rows to the test split by their ``_split`` draw (their ``prompt_id``), so the
    same prompt always lands on the same side."""

    name = "test_split"
    reasons: tuple[str, ...] = ()

    @staticmethod
    def threshold(splits: np.ndarray, plan: SplitPlan) -> int:
        """The largest draw in the test split, or -1 for an empty test split."""
        if plan.test_size is not None:
            k = min(plan.test_size, len(splits))
            if plan.max_test_share is not None:
                k = min(k, int(plan.max_test_share * len(splits)))
            return kth_smallest(splits, k) if k else -1
        return int(plan.test_share * 2**64) - 1 if plan.test_share > 0 else -1
