"""The truecasing step: what it changes, what it records for truecased.jsonl, what it counts."""

from __future__ import annotations

import json

from tests.support.steps import dialogues, run
from zephyr_data.steps.truecase import CHANGES, Truecase


def test_truecase_step_repairs_counts_and_records_the_change():
    batch = dialogues(["hello. how are you?", "Fine, thanks."], ["Well formed.", "Yes."])
    kept, stats = run(Truecase(), batch)
    assert [m["content"] for m in kept[0]["messages"]] == ["Hello. How are you?", "Fine, thanks."]
    assert [m["role"] for m in kept[0]["messages"]] == ["user", "assistant"]
    assert json.loads(kept[0][CHANGES]) == [{"index": 0, "role": "user",
                                             "before": "hello. how are you?",
                                             "after": "Hello. How are you?"}]
    assert kept[1][CHANGES] is None
    assert [m["content"] for m in kept[1]["messages"]] == ["Well formed.", "Yes."]
    assert stats.counters == {"truecasing_screened_messages": 1, "truecased_messages": 1,
                              "truecased_dialogues": 1, "truecased_letters": 2}
    assert stats.dropped == {}


def test_a_batch_with_nothing_to_repair_changes_nothing():
    batch = dialogues(["Well formed.", "Yes."])
    kept, stats = run(Truecase(), batch)
    assert kept == batch.to_dicts() and not stats.counters  # a zero is not recorded
