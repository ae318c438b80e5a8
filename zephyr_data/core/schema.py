"""The chat schema of the published H4 datasets, which our outputs reproduce exactly, and its
check: ``datasets`` features for ``HuggingFaceH4/ultrachat_200k`` and
``HuggingFaceH4/ultrafeedback_binarized``, and validators that loading and training both use.

Rules of a conversation: a non-empty list of ``{content: str, role: str}``; roles are
``system``, ``user`` or ``assistant``; system turns come first, then user and assistant
alternate starting with user; content is a string and is not empty. DPO, in the H4 layout:
``prompt`` is a string; ``chosen`` and ``rejected`` are conversations that end with an assistant
turn and share the prompt (every turn but the last is the same in both). DPO in TRL's
explicit-prompt conversational format (a build's ``trl`` config), told apart by a ``prompt``
that is a list: ``prompt`` is a conversation that ends with a user turn, and ``chosen`` and
``rejected`` are its completions: assistant first, alternating, ending with an assistant turn.

The check runs with pyarrow over whole record batches (no Python loop over rows) and stops at the
first bad row; the error (a :class:`SchemaError`, which is a ``ValueError``) names the split, the
row (and its ``prompt_id``) and the field, e.g. ``chosen[1].role``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import DatasetLoadError, SchemaError

ROLES = ("system", "user", "assistant")
SYSTEM, USER, ASSISTANT = 0, 1, 2
REQUIRED = {"sft": ("messages",), "dpo": ("prompt", "chosen", "rejected")}


# ------------------------------------------------------------------ features


def chat_messages() -> Any:
    from datasets import List, Value

    return List({"content": Value("string"), "role": Value("string")})


def ultrachat_features() -> Any:
    """``HuggingFaceH4/ultrachat_200k``."""
    from datasets import Features, Value

    return Features({"prompt": Value("string"), "prompt_id": Value("string"),
                     "messages": chat_messages()})


def ultrafeedback_features() -> Any:
    """``HuggingFaceH4/ultrafeedback_binarized``."""
    from datasets import Features, Value

    return Features({"prompt": Value("string"), "prompt_id": Value("string"),
                     "chosen": chat_messages(), "rejected": chat_messages(),
                     "messages": chat_messages(), "score_chosen": Value("float64"),
                     "score_rejected": Value("float64")})


# ------------------------------------------------------------------ validation


def validate_dataset(dataset: Any, *, task: Literal["sft", "dpo"], where: str = "dataset",
                     allow_empty_content: bool = False) -> None:
    """Check a ``datasets.Dataset`` for ``task``; raise :class:`SchemaError` at the first bad
    row."""
    if getattr(dataset, "_indices", None) is not None:
        table = dataset.with_format("arrow")[:]
    else:
        table = dataset.data.table
    validate_table(table, task=task, where=where, allow_empty_content=allow_empty_content)


def validate_table(table: pa.Table, *, task: Literal["sft", "dpo"], where: str = "table",
                   allow_empty_content: bool = False) -> None:
    """Check an arrow table for ``task``, batch by batch; raise at the first bad row."""
    missing = [c for c in REQUIRED[task] if c not in table.column_names]
    if missing:
        raise DatasetLoadError(f"{where}: has columns {table.column_names}, but {task.upper()} "
                               f"needs {list(REQUIRED[task])} (missing {missing}): "
                               "conversations as lists of {content, role} messages, as in "
                               "HuggingFaceH4/ultrachat_200k (SFT) or "
                               "HuggingFaceH4/ultrafeedback_binarized (DPO).")
    offset = 0
    for batch in table.select(list(REQUIRED[task])).to_batches():
        found = _check_batch(batch, task, allow_empty_content)
        if found is not None:
            row, field, problem = found
            row += offset
            pid = (table.column("prompt_id")[row].as_py() if "prompt_id" in table.column_names
                   else None)
            raise SchemaError(where, row, field, problem,
                              prompt_id=pid if isinstance(pid, str) else None)
        offset += batch.num_rows


@dataclass
class _Conversations:
    """One conversation column of a batch, flattened: one entry per message."""

    lengths: np.ndarray  # messages per row (0 for null rows)
    starts: np.ndarray  # index of each row's first message in the flat arrays
    row_of: np.ndarray  # row of each message
    pos: np.ndarray  # position of each message in its row
    roles: np.ndarray  # ROLES index per message, -1 when missing or unknown
    content: pa.Array
    role: pa.Array


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _kind(value: Any) -> str:
    return {str: "a string", dict: "a mapping", list: "a list", type(None): "null"}.get(
        type(value), f"a {type(value).__name__}")


Problem = tuple[int, str, str]  # (row in batch, field, what is wrong)


def _first(*problems: Problem | None) -> Problem | None:
    """The problem on the earliest row; on the same row, the first one given."""
    found = [p for p in problems if p is not None]
    return min(found, key=lambda p: p[0]) if found else None


def _check_batch(batch: pa.RecordBatch, task: str, allow_empty: bool) -> Problem | None:
    if task == "sft":
        problem, _ = _check_conversations(batch.column("messages"), "messages", allow_empty)
        return problem
    prompt = batch.column("prompt")
    prompt_problem: Problem | None = None
    if _is_list(prompt.type):  # TRL's explicit-prompt format: prompt and completions apart
        prompt_problem, _ = _check_conversations(prompt, "prompt", allow_empty, end=USER)
        completions = [_check_conversations(batch.column(name), name, allow_empty,
                                            start=ASSISTANT, end=ASSISTANT)[0]
                       for name in ("chosen", "rejected")]
        return _first(prompt_problem, *completions)
    if not (pa.types.is_string(prompt.type) or pa.types.is_large_string(prompt.type)):
        value = prompt[0].as_py() if len(prompt) else None
        prompt_problem = (0, "prompt", f"expected a string, found {_kind(value)} "
                                       f"({prompt.type}): {_preview(value)}")
    elif prompt.null_count:
        row = int(np.flatnonzero(prompt.is_null().to_numpy(zero_copy_only=False))[0])
        prompt_problem = (row, "prompt", "missing (null); expected a string")
    chosen_problem, chosen = _check_conversations(batch.column("chosen"), "chosen", allow_empty,
                                                  end=ASSISTANT)
    rejected_problem, rejected = _check_conversations(batch.column("rejected"), "rejected",
                                                      allow_empty, end=ASSISTANT)
    shared_problem = None
    if chosen is not None and rejected is not None:
        shared_problem = _check_shared_prompt(chosen, rejected)
    return _first(prompt_problem, chosen_problem, rejected_problem, shared_problem)


def _is_list(tp: pa.DataType) -> bool:
    return (pa.types.is_list(tp) or pa.types.is_large_list(tp)
            or pa.types.is_fixed_size_list(tp))


def _is_text(tp: pa.DataType) -> bool:
    return pa.types.is_string(tp) or pa.types.is_large_string(tp)


def _check_conversations(column: pa.Array, name: str, allow_empty: bool, start: int = USER,
                         end: int | None = None) -> tuple[Problem | None, _Conversations | None]:
    """Check one column of conversations (that start with ``start`` after any system turns,
    or, for completions, with ``start=ASSISTANT``; and end with ``end`` when it is given);
    return its first problem and, when its types are right, its flattened form (for
    cross-column checks)."""
    n = len(column)
    if n == 0:
        return None, None
    if not _is_list(column.type):
        value = column[0].as_py()
        return (0, name, f"expected a list of {{content, role}} messages, found {_kind(value)} "
                         f"({column.type}): {_preview(value)}"), None
    lengths = pc.list_value_length(column).fill_null(0).to_numpy(zero_copy_only=False)
    lengths = lengths.astype(np.int64)
    row_problems: list[Problem] = []
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        row_problems.append((row, name, "missing (null); expected a non-empty list of "
                                        "{content, role} messages"))
    empty = np.flatnonzero((lengths == 0) & ~column.is_null().to_numpy(zero_copy_only=False))
    if len(empty):
        row_problems.append((int(empty[0]), name, "empty list: a conversation needs at least "
                                                  "one message"))
    first_row = _first(*row_problems)
    with_messages = np.flatnonzero(lengths > 0)
    if not len(with_messages):
        return first_row, None
    example_row = int(with_messages[0])

    value_type = column.type.value_type
    if not pa.types.is_struct(value_type):
        value = column[example_row].as_py()[0]
        return _first(first_row, (example_row, f"{name}[0]",
                                  f"expected a {{content, role}} mapping, found {_kind(value)} "
                                  f"({value_type}): {_preview(value)}")), None
    names = [value_type.field(i).name for i in range(value_type.num_fields)]
    for key in ("content", "role"):
        if key not in names:
            return _first(first_row, (example_row, f"{name}[0].{key}",
                                      f"missing: the messages have only {names}")), None
        tp = value_type.field(names.index(key)).type
        if not _is_text(tp):
            value = column[example_row].as_py()[0][key]
            return _first(first_row, (example_row, f"{name}[0].{key}",
                                      f"expected a string, found {_kind(value)} ({tp}): "
                                      f"{_preview(value)}")), None

    flat = pc.list_flatten(column)
    starts = np.cumsum(lengths) - lengths
    row_of = np.repeat(np.arange(n), lengths)
    pos = np.arange(len(flat)) - np.repeat(starts, lengths)
    content = pc.struct_field(flat, [names.index("content")])
    role = pc.struct_field(flat, [names.index("role")])
    roles = pc.index_in(role, value_set=pa.array(ROLES)).fill_null(-1).to_numpy(
        zero_copy_only=False).astype(np.int64)
    conv = _Conversations(lengths, starts, row_of, pos, roles, content, role)

    # per message, in order of priority: the message, its content, its role, the turn order
    message_null = flat.is_null().to_numpy(zero_copy_only=False)
    content_null = content.is_null().to_numpy(zero_copy_only=False) & ~message_null
    content_empty = (pc.equal(pc.utf8_length(content), 0).fill_null(False)
                     .to_numpy(zero_copy_only=False))
    if allow_empty:
        content_empty = np.zeros_like(content_empty)
    role_null = role.is_null().to_numpy(zero_copy_only=False) & ~message_null
    role_unknown = (roles < 0) & ~role_null & ~message_null
    prev = np.concatenate([[-1], roles[:-1]]) if len(roles) else roles
    first_turn = pos == 0
    known = roles >= 0
    # valid: first turn system/user; system after system; user after system/assistant;
    # assistant after user
    first_ok = (roles == ASSISTANT) if start == ASSISTANT else (roles == SYSTEM) | (roles == USER)
    ok = np.where(first_turn, first_ok,
                  ((roles == SYSTEM) & (prev == SYSTEM)) | ((roles == USER) & (
                      (prev == SYSTEM) | (prev == ASSISTANT))) | ((roles == ASSISTANT) & (
                          prev == USER)))
    bad_order = known & ~ok & (first_turn | (prev >= 0))
    checks = [
        (message_null, lambda i: ("", "missing (null); expected a {content, role} mapping")),
        (content_null, lambda i: (".content", "missing (null); expected a string")),
        (content_empty, lambda i: (".content", "empty string; every message needs text")),
        (role_null, lambda i: (".role", "missing (null); expected one of system, user, "
                                        "assistant")),
        (role_unknown, lambda i: (".role", f"{_preview(role[i].as_py())} is not one of "
                                           "system, user, assistant")),
        (bad_order, lambda i: (".role", _order_problem(roles, prev, pos, i, start))),
    ]
    message_problem: Problem | None = None
    first_index = None
    for mask, _ in checks:
        hits = np.flatnonzero(mask)
        if len(hits) and (first_index is None or hits[0] < first_index):
            first_index = int(hits[0])
    if first_index is not None:
        for mask, describe in checks:  # the first check that fails at that message
            if mask[first_index]:
                suffix, problem = describe(first_index)
                message_problem = (int(row_of[first_index]),
                                   f"{name}[{int(pos[first_index])}]{suffix}", problem)
                break

    # per conversation: at least one non-system turn; DPO: ends with an assistant turn
    non_system = np.bincount(row_of, weights=(roles != SYSTEM).astype(np.float64), minlength=n)
    only_system = np.flatnonzero((lengths > 0) & (non_system == 0) & (start != ASSISTANT))
    if len(only_system):
        row_problems.append((int(only_system[0]), name, "only system messages: a conversation "
                                                        "needs a user turn"))
    if end is not None:
        last = roles[np.maximum(starts + lengths - 1, 0)] if len(roles) else np.array([])
        wrong_end = np.flatnonzero((lengths > 0) & (last != end))
        if len(wrong_end):
            row = int(wrong_end[0])
            role_name = role[int(starts[row] + lengths[row] - 1)].as_py()
            row_problems.append((row, f"{name}[{int(lengths[row]) - 1}].role",
                                 f"the last turn is {_preview(role_name)}; a {name} "
                                 f"conversation must end with a{'n' * (end == ASSISTANT)} "
                                 f"{ROLES[end]} turn"))
    # a message-level problem is more specific than a row-level one on the same row
    return _first(message_problem, *row_problems), conv


def _order_problem(roles: np.ndarray, prev: np.ndarray, pos: np.ndarray, i: int,
                   start: int = USER) -> str:
    role = ROLES[roles[i]]
    if pos[i] == 0 and start == ASSISTANT:
        return f"the completion starts with {role!r}; it must start with 'assistant'"
    if pos[i] == 0:
        return f"the conversation starts with {role!r}; it must start with 'user' (after any " \
               "'system' turns)"
    before = ROLES[prev[i]]
    if role == "system":
        return f"'system' follows {before!r}; system turns must all come first"
    if before == "system":
        return f"{role!r} right after the system turns; the first non-system turn must be 'user'"
    return f"{role!r} follows {before!r}; user and assistant turns must alternate"


def _check_shared_prompt(chosen: _Conversations, rejected: _Conversations) -> Problem | None:
    """``chosen[:-1] == rejected[:-1]`` on every row where both are non-empty."""
    both = (chosen.lengths > 0) & (rejected.lengths > 0)
    differ = np.flatnonzero(both & (chosen.lengths != rejected.lengths))
    first_len = (int(differ[0]), "rejected",
                 f"{int(rejected.lengths[differ[0]])} turns but chosen has "
                 f"{int(chosen.lengths[differ[0]])}: chosen and rejected must share the prompt "
                 "(every turn but the last)") if len(differ) else None
    same = np.flatnonzero(both & (chosen.lengths == rejected.lengths) & (chosen.lengths > 1))
    if not len(same):
        return first_len
    prefix = chosen.lengths[same] - 1
    rows = np.repeat(same, prefix)
    pos = np.arange(len(rows)) - np.repeat(np.cumsum(prefix) - prefix, prefix)
    ci = pa.array(chosen.starts[rows] + pos)
    ri = pa.array(rejected.starts[rows] + pos)
    equal = np.ones(len(rows), dtype=bool)
    for a, b in ((chosen.content, rejected.content), (chosen.role, rejected.role)):
        eq = pc.equal(pc.take(a, ci), pc.take(b, ri))
        eq = pc.or_kleene(eq, pc.and_(pc.is_null(pc.take(a, ci)), pc.is_null(pc.take(b, ri))))
        equal &= eq.fill_null(False).to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(~equal)
    first_diff = (int(rows[bad[0]]), f"rejected[{int(pos[bad[0]])}]",
                  f"differs from chosen[{int(pos[bad[0]])}]: chosen and rejected must share the "
                  "prompt (every turn but the last)") if len(bad) else None
    return _first(first_len, first_diff)
