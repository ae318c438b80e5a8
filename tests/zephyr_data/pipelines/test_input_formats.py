"""build_ultrachat on other chat shapes: the same 500 real dialogues written as UltraChat,
messages (with a system turn on half of them), ShareGPT and, for one-round ones, Alpaca rows
give the same rows; field and role options; parquet input."""

from __future__ import annotations

import json
import logging
from collections import Counter

import pytest

from tests.support.chat_shapes import (
    SYSTEMS,
    output_rows,
    real_dialogues,
    run_build,
    system_of,
    without_system,
    write_jsonl,
    write_shape,
)


@pytest.fixture(scope="module")
def dialogues(shared_data):
    return real_dialogues(shared_data, 500)


@pytest.fixture(scope="module")
def shapes(dialogues, tmp_path_factory):
    """Each shape built from the same dialogues: shape -> (output folder, build result)."""
    root = tmp_path_factory.mktemp("shapes")
    built = {}
    for shape in ("ultrachat", "messages", "sharegpt", "alpaca"):
        inp = write_shape(root / f"{shape}.jsonl", shape, dialogues)
        out = root / f"out_{shape}"
        built[shape] = (out, run_build(inp, out, dump_dropped=str(root / f"{shape}.drops")))
    return built


def comparable(rows):
    """Rows as sorted (prompt_id, messages without system turns) pairs."""
    return sorted((pid, json.dumps(without_system(m))) for pid, m in rows)


def test_the_same_dialogues_give_the_same_rows_in_every_shape(shapes, dialogues):
    reference = output_rows(shapes["ultrachat"][0])
    stats = shapes["ultrachat"][1].stats
    # the curation did something: real persona answers dropped, real lower-case prompts fixed
    assert stats.dropped["as_an_ai"] > 10 and stats.counters["truecased_messages"] > 10
    assert 380 < len(reference) < 480
    assert output_rows(shapes["sharegpt"][0]) == reference  # the same rows, in the same order
    assert shapes["sharegpt"][1].stats.dropped == stats.dropped
    messages = output_rows(shapes["messages"][0])
    assert comparable(messages) == comparable(reference)
    assert shapes["messages"][1].stats.dropped == stats.dropped
    assert shapes["messages"][1].stats.counters["truecased_messages"] == \
        stats.counters["truecased_messages"]  # system turns are left as written
    # Alpaca rows hold the one-round dialogues: the same rows as those of the reference
    one_round = [(pid, m) for pid, m in reference if len(m) == 2]
    assert comparable(output_rows(shapes["alpaca"][0])) == comparable(one_round)
    assert len(one_round) > 100


def test_system_turns_survive_first_and_as_written(shapes, dialogues):
    def key(texts):  # a dialogue's text names it (truecasing changes only the case)
        return "\0".join(texts).lower()

    expected = {key(turns): system_of(i) for i, turns in enumerate(dialogues)}
    rows = output_rows(shapes["messages"][0])
    with_system = 0
    for _, messages in rows:
        system = expected[key(m["content"] for m in without_system(messages))]
        if system is None:
            assert messages[0]["role"] == "user"
        else:
            with_system += 1
            assert messages[0] == {"content": system, "role": "system"}
            assert [m["role"] for m in messages[1:3]] == ["user", "assistant"]
    assert with_system > 150 and with_system < len(rows)
    assert {m[0]["content"] for _, m in rows if m[0]["role"] == "system"} == set(SYSTEMS)


def test_auto_says_what_it_chose(shapes, tmp_path, caplog):
    rows = [{"conversations": [{"from": "human", "value": "Hi there."},
                               {"from": "gpt", "value": "Hello! How can I help?"}]}]
    with caplog.at_level(logging.INFO, logger="zephyr_data"):
        result = run_build(write_jsonl(tmp_path / "chat.jsonl", rows), tmp_path / "out")
    assert "--input-format auto: reading ShareGPT (from/value) rows (field 'conversations')" \
        in caplog.text
    assert result.manifest["config"]["input_format"] == "sharegpt"  # what was read, recorded
    assert "sharegpt rows (`--input-format sharegpt`" in (tmp_path / "out" / "README.md") \
        .read_text()


def test_parquet_input_in_the_messages_shape(shapes, dialogues, tmp_path):
    import datasets

    from tests.support.chat_shapes import as_messages

    path = tmp_path / "chat.parquet"
    datasets.Dataset.from_list([as_messages(i, d) for i, d in enumerate(dialogues)]) \
        .to_parquet(path)
    run_build(path, tmp_path / "out")
    assert output_rows(tmp_path / "out") == output_rows(shapes["messages"][0])


def test_other_field_and_role_names_need_no_code(shapes, dialogues, tmp_path):
    names = {"user": "customer", "assistant": "agent"}
    rows = [{"dialog": [{"speaker": names["user" if t % 2 == 0 else "assistant"], "text": c}
                        for t, c in enumerate(turns)], "persona": "Be kind."}
            for turns in dialogues[:60]]
    inp = write_jsonl(tmp_path / "variant.jsonl", rows)
    run_build(inp, tmp_path / "out", messages_field="dialog", role_field="speaker",
              content_field="text", role_map={"customer": "user", "agent": "assistant"},
              system_field="persona")
    reference = write_shape(tmp_path / "ref.jsonl", "ultrachat", dialogues[:60])
    run_build(reference, tmp_path / "ref")
    got = output_rows(tmp_path / "out")
    assert comparable(got) == comparable(output_rows(tmp_path / "ref"))
    assert Counter(m[0]["content"] for _, m in got) == {"Be kind.": len(got)}


def test_an_empty_system_prompt_is_no_system_prompt(dialogues, tmp_path):
    turns = dialogues[0]
    rows = [{"messages": [{"role": "system", "content": " "}, {"role": "user", "content": turns[0]},
                          {"role": "assistant", "content": turns[1]}]},
            {"conversations": [{"from": "human", "value": turns[0]},
                               {"from": "gpt", "value": turns[1]}], "system": ""}]
    for i, row in enumerate(rows):
        result = run_build(write_jsonl(tmp_path / f"{i}.jsonl", [row]), tmp_path / f"out{i}")
        assert result.stats.kept == 1
        (_, messages), = output_rows(tmp_path / f"out{i}")
        assert [m["role"] for m in messages] == ["user", "assistant"]
