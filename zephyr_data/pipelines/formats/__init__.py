"""The input shapes the pipelines read (``chat``: UltraChat, messages, ShareGPT, Alpaca;
``rated``: raw UltraFeedback and generic rated completions), and what ``auto`` looks at: the
input's first row."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...core.errors import InputError
from ...io.readers import WorkUnit, read_unit


def first_row(units: Iterable[WorkUnit]) -> tuple[str, Any] | None:
    """The first row of the input that parses as JSON, with its reference (``file:line``), or
    None when there is none. Rows that do not parse are left to the build, which reports them."""
    for unit in units:
        for ref, raw in read_unit(unit):
            if not isinstance(raw, InputError):
                return ref, raw
    return None
