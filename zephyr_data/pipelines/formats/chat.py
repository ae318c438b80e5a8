"""The shapes of chat data ``build_ultrachat`` reads, and how a raw row of each becomes the
working ``messages`` (``list<struct<content, role>>``): the one place that knows them.

- ``ultrachat``: ``{"id", "data": [user, assistant, user, ...]}``, roles by position
  (``stingning/ultrachat``).
- ``messages``: ``{"messages": [{"role", "content"}, ...]}``: TRL, OpenAI and the H4 datasets
  (``ultrachat_200k``: ``prompt``, ``prompt_id``, ``messages``), often with a system turn.
- ``sharegpt``: ``{"conversations": [{"from", "value"}, ...]}``, roles ``human``/``gpt``/
  ``system`` (and the ``function_call``/``observation`` of tool-use variants).
- ``alpaca``: ``{"instruction", "input", "output"}``: one user turn (the instruction, and the
  input after a blank line when there is one) and one assistant turn.

Every shape but ``ultrachat`` may also carry a row-level system prompt (``--system-field``,
default ``system``): a non-empty one becomes a leading system turn. An empty (or white-space)
system turn is no system prompt and is left out, whichever way it comes. Field names are options
(``--messages-field``, ``--role-field``, ``--content-field``), and so are role names
(``--role-map narrator=assistant``, on top of :data:`ROLES`).

Roles become ``system``, ``user`` or ``assistant``; tool and function results become ``tool``
and an assistant message that calls tools (OpenAI's ``tool_calls``) ``tool_call``: both are kept
so that the ``tool_turn`` rule drops the dialogue, counted, naming the turn. A role the map does
not know is an error naming file, line and field.

``auto`` takes the shape from the keys of the input's first row (:func:`detect`). A row of
another shape is an error naming file, line, the keys it has and the shape they look like: one
build reads one shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...core.errors import InputError
from ...core.messages import ASSISTANT, SYSTEM, USER, parity_role

AUTO = "auto"
FORMATS = ("ultrachat", "messages", "sharegpt", "alpaca")
TOOL, TOOL_CALL = "tool", "tool_call"
TARGET_ROLES = (SYSTEM, USER, ASSISTANT, TOOL, TOOL_CALL)
# (list field, role key, content key) of each shape
FIELDS = {"ultrachat": ("data", "", ""), "messages": ("messages", "role", "content"),
          "sharegpt": ("conversations", "from", "value"), "alpaca": ("", "", "")}
NAMES = {"ultrachat": "UltraChat", "messages": "messages (role/content)",
         "sharegpt": "ShareGPT (from/value)", "alpaca": "Alpaca (instruction/input/output)"}
# Raw role names of the messages and ShareGPT shapes (OpenAI, TRL, H4, ShareGPT, and the
# tool-use variants of LLaMA-Factory and Glaive).
ROLES = {"system": SYSTEM, "developer": SYSTEM, "user": USER, "human": USER,
         "assistant": ASSISTANT, "gpt": ASSISTANT, "chatgpt": ASSISTANT, "bing": ASSISTANT,
         "bard": ASSISTANT, "tool": TOOL, "function": TOOL, "ipython": TOOL,
         "observation": TOOL, "function_response": TOOL, "function_call": TOOL_CALL}
ALPACA = ("instruction", "input", "output")
SHAPES_HINT = ('the shapes read are {"data": [user, assistant, ...]} (ultrachat), {"messages": '
               '[{"role", "content"}, ...]} (messages), {"conversations": [{"from", "value"}, '
               '...]} (sharegpt) and {"instruction", "input", "output"} (alpaca); name other '
               "fields with --input-format, --messages-field, --role-field and --content-field.")


@dataclass(frozen=True)
class ChatShape:
    """How to read one shape: the shape, its field names and its role names."""

    format: str
    messages_field: str = ""
    role_field: str = ""
    content_field: str = ""
    role_map: dict[str, str] = field(default_factory=dict)
    system_field: str = "system"

    @classmethod
    def of(cls, format: str, messages_field: str | None = None, role_field: str | None = None,
           content_field: str | None = None, role_map: dict[str, str] | None = None,
           system_field: str = "system") -> ChatShape:
        """A shape with the defaults of ``format`` where a field is not given."""
        default = FIELDS[format]
        return cls(format, messages_field or default[0], role_field or default[1],
                   content_field or default[2], {**ROLES, **(role_map or {})}, system_field)

    @property
    def name(self) -> str:
        return NAMES[self.format]

    def parse(self, ref: str, raw: Any) -> list[dict[str, str]]:
        """The messages of a raw row, or an :class:`InputError` naming the field."""
        if not isinstance(raw, dict):
            raise InputError(ref, None, f"expected a JSON object, found {type(raw).__name__}.",
                             SHAPES_HINT)
        if self.format == "ultrachat":
            return self._ultrachat(ref, raw)
        messages = self._system(ref, raw)
        if self.format == "alpaca":
            return messages + self._alpaca(ref, raw)
        return messages + self._turns(ref, raw)

    def _missing(self, ref: str, raw: dict, key: str) -> InputError:
        """``key`` is missing: say what the row looks like instead."""
        other = detect(raw)
        looks = (f" It looks like {other.name}, but the build reads {self.name} (the shape of "
                 "the input's first row, or --input-format): a file that mixes shapes cannot "
                 "be read in one build." if other is not None and other.format != self.format
                 else "")
        return InputError(ref, key, f"missing; the row has keys {sorted(raw)}.{looks}",
                          "split the input by shape, or rerun with --on-bad-row drop to count "
                          "such rows as invalid_row." if looks else SHAPES_HINT)

    def _list(self, ref: str, raw: dict, key: str, what: str) -> list:
        """The list in field ``key`` (of ``what``), or a clear error naming the field."""
        if key not in raw:
            raise self._missing(ref, raw, key)
        value = raw[key]
        if not isinstance(value, list):
            raise InputError(ref, key, f"expected a list of {what}, found "
                             f"{type(value).__name__}: {str(value)[:60]!r}.")
        return value

    def _ultrachat(self, ref: str, raw: dict) -> list[dict[str, str]]:
        key = self.messages_field
        data = self._list(ref, raw, key, "strings")
        for i, turn in enumerate(data):
            if not isinstance(turn, str):
                raise InputError(ref, f"{key}[{i}]", f"expected a string, found "
                                 f"{type(turn).__name__}: {str(turn)[:60]!r}.")
        return [{"content": t, "role": parity_role(i)} for i, t in enumerate(data)]

    def _system(self, ref: str, raw: dict) -> list[dict[str, str]]:
        value = raw.get(self.system_field)
        if value is None:
            return []
        if not isinstance(value, str):
            raise InputError(ref, self.system_field, f"expected a string (the system prompt), "
                             f"found {type(value).__name__}: {str(value)[:60]!r}.")
        return [{"content": value, "role": SYSTEM}] if value.strip() else []

    def _alpaca(self, ref: str, raw: dict) -> list[dict[str, str]]:
        for key in ("instruction", "output"):
            if key not in raw:
                raise self._missing(ref, raw, key)
        values = {}
        for key in ALPACA:
            value = raw.get(key)
            if not isinstance(value, str) and not (key == "input" and value is None):
                raise InputError(ref, key, f"expected a string, found {type(value).__name__}: "
                                 f"{str(value)[:60]!r}.")
            values[key] = value or ""
        prompt = values["instruction"]
        if values["input"].strip():
            prompt += "\n\n" + values["input"]
        return [{"content": prompt, "role": USER}, {"content": values["output"],
                                                    "role": ASSISTANT}]

    def _turns(self, ref: str, raw: dict) -> list[dict[str, str]]:
        key, role_key, content_key = self.messages_field, self.role_field, self.content_field
        turns = self._list(ref, raw, key, "turns")
        messages = []
        for i, turn in enumerate(turns):
            where = f"{key}[{i}]"
            if not isinstance(turn, dict):
                raise InputError(ref, where, f"expected an object with {role_key!r} and "
                                 f"{content_key!r}, found {type(turn).__name__}: "
                                 f"{str(turn)[:60]!r}.")
            if role_key not in turn:
                other = detect({key: [turn]}, key)
                hint = (f" (the keys of {other.name}: pass --input-format {other.format})"
                        if other is not None and other.format != self.format else "")
                raise InputError(ref, f"{where}.{role_key}", f"missing; the turn has keys "
                                 f"{sorted(turn)}{hint}.", SHAPES_HINT)
            raw_role = turn[role_key]
            role = self.role_map.get(raw_role) if isinstance(raw_role, str) else None
            calls = turn.get("tool_calls") or turn.get("function_call")
            if role == ASSISTANT and calls:
                role = TOOL_CALL
            if role is None:
                known = ", ".join(sorted(self.role_map))
                raise InputError(ref, f"{where}.{role_key}", f"unknown role {raw_role!r}; the "
                                 f"known roles are {known}.", f"map it with --role-map "
                                 f"{raw_role}=user (or system, assistant, tool), or fix the row.")
            content = turn.get(content_key)
            if content is None and role == TOOL_CALL:
                content = ""
            if not isinstance(content, str):
                raise InputError(ref, f"{where}.{content_key}", f"expected a string, found "
                                 f"{type(content).__name__}: {str(content)[:60]!r}.",
                                 "only text turns are read.")
            if role == SYSTEM and not content.strip():
                continue  # an empty system prompt is no system prompt (as --system-field's)
            messages.append({"content": content, "role": role})
        return messages


def detect(raw: Any, messages_field: str | None = None, role_field: str | None = None,
           content_field: str | None = None) -> ChatShape | None:
    """The shape a row's keys show, or None: a list of strings is UltraChat's, a list of
    role/content objects (or of the given ``role_field``/``content_field``) the messages
    shape, of from/value objects ShareGPT's (looked for under ``messages_field``, else
    ``messages``, ``conversations`` and ``data``); instruction + output is Alpaca."""
    if not isinstance(raw, dict):
        return None
    keys = [("messages", role_field, content_field)] if role_field and content_field else []
    keys += [("messages", "role", "content"), ("sharegpt", "from", "value")]
    for name in [messages_field] if messages_field else ["messages", "conversations", "data"]:
        turns = raw.get(name)
        if not isinstance(turns, list):
            continue
        first = turns[0] if turns else None
        if isinstance(first, str) or first is None and name == "data":
            return ChatShape.of("ultrachat", name)
        for format, role, content in keys:
            if isinstance(first, dict) and role in first and content in first:
                return ChatShape.of("sharegpt" if (role, content) == ("from", "value")
                                    else format, name, role, content)
        if first is None:
            return ChatShape.of("sharegpt" if name == "conversations" else "messages", name)
    if "instruction" in raw and "output" in raw:
        return ChatShape.of("alpaca")
    return None


def unknown_shape(ref: str, raw: Any) -> InputError:
    """The error of ``auto`` when the first row shows no known shape."""
    keys = sorted(raw) if isinstance(raw, dict) else f"none (a {type(raw).__name__})"
    return InputError(ref, None, f"cannot tell the input format from the keys of the first row: "
                      f"{keys}.", SHAPES_HINT)
