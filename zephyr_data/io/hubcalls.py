"""Every call to the Hugging Face Hub goes through here, so that no message shows the token.

A failed Hub call can carry the token in its text: a mirror or a proxy that echoes the request
headers puts ``Authorization: Bearer hf_...`` into its error body, and ``huggingface_hub`` and
``datasets`` copy the body into the exception message. :func:`hub_call` wraps a block of Hub
calls: any exception it raises becomes the project's own error (which the CLI prints in one
line), built from a description of the failure in which every known token is replaced by
``hf_***``. The original exception and every exception chained to it are scrubbed in place too,
and the new error is raised ``from None``, so no traceback shows them either.

Known tokens: the one passed in, ``HF_TOKEN``, ``HUGGING_FACE_HUB_TOKEN`` and whatever
``huggingface_hub.get_token()`` finds (the saved login). Used by the Hub input of the pipelines
(``readers``), ``--decontaminate hub`` (``decontamination``), the push (``hub``), loading from the
Hub (``loading``) and the notebooks' ``report.open_build``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator

from ..core.errors import ZephyrDataError

MASK = "hf_***"
_MIN_TOKEN_CHARS = 8  # never "scrub" an empty or trivial string out of every message


class HubDownloadError(ZephyrDataError):
    """A download from the Hub failed; the message says why, without the token."""


def known_tokens(extra: Iterable[str | None] = ()) -> list[str]:
    """Every token this process could send, longest first (so none is left half-masked)."""
    found = {t for t in extra if t}
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        if os.environ.get(name):
            found.add(os.environ[name].strip())
    try:
        from huggingface_hub import get_token

        found.add(get_token() or "")
    except Exception:  # no huggingface_hub, an unreadable token file: nothing more to add
        pass
    return sorted((t for t in found if len(t) >= _MIN_TOKEN_CHARS), key=len, reverse=True)


def scrub(text: str, tokens: Iterable[str | None] = ()) -> str:
    """``text`` with every known token (and those given) replaced by ``hf_***``."""
    for token in known_tokens(tokens):
        text = text.replace(token, MASK)
    return text


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def describe_failure(err: BaseException, tokens: Iterable[str | None] = ()) -> str:
    """``"TypeName: message"`` of ``err``, and of the exceptions chained to it that say more (a
    failed download reports "not in the cache" and keeps the server's answer as its cause), with
    the tokens masked. ``err`` and the exceptions chained to it have the tokens masked in their
    ``args`` too (for any later traceback)."""
    tokens = known_tokens(tokens)
    chain = list(_chain(err))
    for item in chain:
        with contextlib.suppress(Exception):  # some exceptions refuse new args: best effort
            item.args = tuple(scrub(a, tokens) if isinstance(a, str) else a for a in item.args)
    text = f"{type(err).__name__}: {err}".strip()
    for cause in chain[1:]:
        if str(cause) and str(cause) not in text:
            text += f" (caused by {type(cause).__name__}: {cause})"
    return scrub(text, tokens)


@contextlib.contextmanager
def hub_call(make_error: Callable[[str], Exception],
             tokens: Iterable[str | None] = ()) -> Iterator[None]:
    """Run a block of Hub calls; on any failure raise ``make_error(detail)`` from None, where
    ``detail`` is :func:`describe_failure` of what went wrong (token-free)."""
    try:
        yield
    except Exception as err:
        raise make_error(describe_failure(err, tokens)) from None
