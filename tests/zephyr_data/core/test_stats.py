"""The counts of a run (``core.stats``): merging by addition, the accounting check, and the
round trip through the manifest's dict."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from zephyr_data.core.stats import Stats


def worker(rows_in, kept, dropped, counters=None) -> Stats:
    return Stats(rows_in, kept, Counter(dropped), Counter(counters or {}))


def test_merge_adds_every_count_and_returns_itself():
    total = Stats()
    a = worker(10, 0, {"too_short": 2, "invalid_row": 1}, {"truecased_messages": 3})
    b = worker(5, 0, {"too_short": 1, "persona": 4}, {"truecased_messages": 2, "other": 1})
    assert total.merge(a).merge(b) is total
    assert total.rows_in == 15
    assert total.dropped == {"too_short": 3, "invalid_row": 1, "persona": 4}
    assert total.counters == {"truecased_messages": 5, "other": 1}
    assert a.dropped == {"too_short": 2, "invalid_row": 1}  # the parts are left as they were


def test_merge_does_not_depend_on_the_order_of_the_parts():
    parts = [worker(i, i % 2, {f"r{i % 3}": i}, {f"c{i % 2}": 2 * i}) for i in range(1, 7)]
    forward, backward = Stats(), Stats()
    for part in parts:
        forward.merge(part)
    for part in reversed(parts):
        backward.merge(part)
    assert forward.to_dict() == backward.to_dict()
    assert forward.rows_in == 21 and forward.kept == 3


def test_add_leaves_out_zeros():
    stats = Stats()
    stats.add(dropped={"a": 0, "b": 2}, counters={"c": 0})
    stats.add(dropped={"b": 1}, counters=None)
    assert stats.dropped == {"b": 3}
    assert stats.counters == {}
    assert "a" not in stats.to_dict()["dropped"]


def test_check_accounting():
    worker(10, 6, {"x": 3, "y": 1}).check_accounting()
    Stats().check_accounting()
    with pytest.raises(AssertionError, match=r"rows in \(10\) != kept \(6\) \+ dropped \(3\)"):
        worker(10, 6, {"x": 3}).check_accounting()
    with pytest.raises(AssertionError, match="dropped"):
        worker(3, 3, {"x": 1}).check_accounting()  # more out than in


def test_to_dict_is_sorted_and_from_dict_round_trips():
    stats = worker(9, 4, {"zeta": 2, "alpha": 3}, {"z": 1, "a": 2})
    data = stats.to_dict()
    assert data == {"rows_in": 9, "kept": 4, "dropped": {"alpha": 3, "zeta": 2},
                    "dropped_total": 5, "counters": {"a": 2, "z": 1}}
    assert list(data["dropped"]) == ["alpha", "zeta"]
    again = Stats.from_dict(json.loads(json.dumps(data)))  # as read back from manifest.json
    assert again == stats
    assert again.to_dict() == data
    assert isinstance(again.dropped, Counter) and isinstance(again.counters, Counter)
    again.merge(stats)
    assert again.dropped == {"alpha": 6, "zeta": 4}


def test_from_dict_without_the_optional_parts():
    stats = Stats.from_dict({"rows_in": "3", "kept": 3})
    assert stats == Stats(3, 3)
    stats.check_accounting()
