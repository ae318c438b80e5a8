"""Bad chat input in the other shapes, around real prompts and answers from ../shared/data: an
unknown role, roles that do not alternate, tool turns, a file that mixes shapes, an unknown
shape. Each is an error naming file, line and field, or a counted drop whose reason says which
(the README's bad-input table lists them)."""

from __future__ import annotations

import json

import pytest

from pipelines.build_ultrachat import main
from tests.support.chat_shapes import real_rounds, run_build, write_jsonl
from zephyr_data.core.errors import InputError


@pytest.fixture(scope="module")
def qa(shared_data) -> tuple[str, str]:
    """A real prompt and its real answer."""
    return next((q, a) for q, a in real_rounds(shared_data)
                if "\n" not in q and 20 < len(q) < 200 and 20 < len(a) < 800
                and "AI" not in a)


def sharegpt(*turns: tuple[str, str]) -> dict:
    return {"conversations": [{"from": f, "value": v} for f, v in turns]}


def messages(*turns: tuple[str, str | None], **extra) -> dict:
    return {"messages": [{"role": r, "content": c, **extra.get(str(i), {})}
                         for i, (r, c) in enumerate(turns)]}


def test_unknown_sharegpt_role_names_file_line_and_field(qa, tmp_path, capsys):
    Q, A = qa
    inp = write_jsonl(tmp_path / "chat.jsonl", [sharegpt(("human", Q), ("gpt", A)),
                                                sharegpt(("human", Q), ("narrator", A))])
    with pytest.raises(InputError) as info:
        run_build(inp, tmp_path / "out")
    assert (info.value.where, info.value.field) == (f"{inp}:2", "conversations[1].from")
    assert "unknown role 'narrator'" in str(info.value)
    assert "--role-map narrator=user" in str(info.value)
    assert not (tmp_path / "out").exists()
    # the command line: one line, exit 2; the role map fixes it
    assert main(["--input", str(inp), "--output-dir", str(tmp_path / "o"), "--no-progress",
                 "--decontaminate", "off"]) == 2
    err = capsys.readouterr().err
    assert f"error: {inp}:2: field 'conversations[1].from': unknown role 'narrator'" in err
    result = run_build(inp, tmp_path / "fixed", role_map={"narrator": "assistant"})
    assert result.stats.kept == 1 and result.stats.dropped == {"duplicate": 1}


def test_unknown_role_is_a_counted_invalid_row_on_request(qa, tmp_path):
    Q, A = qa
    inp = write_jsonl(tmp_path / "chat.jsonl", [sharegpt(("human", Q), ("gpt", A)),
                                                sharegpt(("human", "Hi"), ("narrator", A))])
    result = run_build(inp, tmp_path / "out", on_bad_row="drop")
    assert result.stats.dropped == {"invalid_row": 1} and result.stats.kept == 1


def test_roles_that_do_not_alternate_and_tool_turns_are_counted_drops(qa, tmp_path):
    Q, A = qa
    rows = [
        messages(("user", Q), ("assistant", A)),
        messages(("user", Q), ("user", "Hello?"), ("assistant", A)),
        messages(("system", "Be brief."), ("assistant", A), ("user", Q), ("assistant", A)),
        messages(("user", Q), ("assistant", A), ("system", "Now be rude."), ("user", Q),
                 ("assistant", A)),
        messages(("user", "Weather in Paris?"), ("assistant", None), ("tool", "18 C, sunny"),
                 ("assistant", "It is 18 C and sunny."),
                 **{"1": {"tool_calls": [{"type": "function", "function": {
                     "name": "weather", "arguments": "{\"city\": \"Paris\"}"}}]}}),
        sharegpt(("human", "Weather in Paris?"), ("function_call", "{\"name\": \"weather\"}"),
                 ("observation", "18 C, sunny"), ("gpt", "It is 18 C and sunny.")),
    ]
    inp = write_jsonl(tmp_path / "chat.jsonl", rows[:5])
    dump = tmp_path / "drops.jsonl"
    result = run_build(inp, tmp_path / "out", dump_dropped=str(dump))
    assert result.stats.kept == 1
    assert result.stats.dropped == {"roles_not_alternating": 3, "tool_turn": 1}
    details = sorted(((d["reason"], d["detail"], d["ref"]) for d in map(json.loads, open(dump))),
                     key=lambda d: d[2])
    assert details == [
        ("roles_not_alternating", "turn 1: 'user' follows 'user'", f"{inp}:2"),
        ("roles_not_alternating", "turn 1: the first turn after the system turns is "
                                  "'assistant', not 'user'", f"{inp}:3"),
        ("roles_not_alternating", "turn 2: a system turn after the conversation started",
         f"{inp}:4"),
        ("tool_turn", "turn 1: an assistant message that calls a tool", f"{inp}:5")]
    tools = write_jsonl(tmp_path / "tools.jsonl", rows[5:])
    result = run_build(tools, tmp_path / "out2", dump_dropped=str(dump), allow_empty=True)
    assert result.stats.dropped == {"tool_turn": 1}
    assert json.loads(dump.read_text())["detail"] == \
        "turn 1: an assistant message that calls a tool"


def test_a_file_that_mixes_shapes_names_file_line_and_keys(qa, tmp_path):
    Q, A = qa
    inp = write_jsonl(tmp_path / "mixed.jsonl", [
        sharegpt(("human", Q), ("gpt", A)), sharegpt(("human", "Hi"), ("gpt", "Hello.")),
        {"instruction": Q, "input": "", "output": A}])
    with pytest.raises(InputError) as info:
        run_build(inp, tmp_path / "out")
    assert (info.value.where, info.value.field) == (f"{inp}:3", "conversations")
    message = str(info.value)
    assert "the row has keys ['input', 'instruction', 'output']" in message
    assert "It looks like Alpaca (instruction/input/output), but the build reads ShareGPT " \
        "(from/value)" in message and "mixes shapes" in message
    # a messages file whose turns are ShareGPT's
    inp = write_jsonl(tmp_path / "turns.jsonl", [
        messages(("user", Q), ("assistant", A)), {"messages": [{"from": "human", "value": Q}]}])
    with pytest.raises(InputError) as info:
        run_build(inp, tmp_path / "out")
    assert (info.value.where, info.value.field) == (f"{inp}:2", "messages[0].role")
    assert "the turn has keys ['from', 'value'] (the keys of ShareGPT (from/value): pass " \
        "--input-format sharegpt)" in str(info.value)


def test_an_unknown_shape_names_file_line_and_keys(qa, tmp_path):
    Q, A = qa
    inp = write_jsonl(tmp_path / "odd.jsonl", [{"question": Q, "answer": A}])
    with pytest.raises(InputError) as info:
        run_build(inp, tmp_path / "out")
    assert info.value.where == f"{inp}:1"
    assert "cannot tell the input format from the keys of the first row: ['answer', " \
        "'question']" in str(info.value)
    with pytest.raises(InputError, match="field 'messages': missing; the row has keys"):
        run_build(inp, tmp_path / "out", input_format="messages")


def test_a_build_folder_needs_its_split_named(ultrachat_sample, tmp_path):
    folder, _ = ultrachat_sample
    with pytest.raises(InputError, match=r"holds several splits \(train_sft, test_sft, "
                                         r"train_gen, test_gen\)") as info:
        run_build(folder, tmp_path / "out")
    assert "--input-split" in str(info.value)
    with pytest.raises(InputError, match="has no split 'train'; its splits are train_sft"):
        run_build(folder, tmp_path / "out", input_split=["train"])
    with pytest.raises(InputError, match="applies to a Hub dataset or a dataset folder"):
        run_build(folder / "data" / "train_sft-00000-of-00001.parquet", tmp_path / "out",
                  input_split=["train_sft"])
