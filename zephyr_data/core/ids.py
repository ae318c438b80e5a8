"""Ids, keys, seeds and file hashes: every hash the project computes comes from here.

- ``prompt_id`` is what the H4 datasets publish: ``sha256(prompt.encode("utf-8")).hexdigest()``.
- Random draws are seeded from the global seed and the row's own key, so they depend on nothing
  else (not the order of rows, the batch or the worker).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

_BLOCK = 1 << 24


def prompt_id(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def prompt_ids(prompts: Iterable[str]) -> list[str]:
    sha = hashlib.sha256
    return [sha(p.encode("utf-8")).hexdigest() for p in prompts]


def split_draw(pid: str) -> int:
    """The draw that assigns a row to train or test: the first 64 bits of its ``prompt_id``."""
    return int(pid[:16], 16)


def seeded_u64(seed: int, key: str, purpose: str) -> int:
    """A uniform 64-bit number from the global seed and a row's own key."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{purpose}:{key}".encode()).digest()[:8], "big")


def seeded_u64s(seed: int, keys: Iterable[str], purpose: str) -> np.ndarray:
    sha = hashlib.sha256
    prefix = f"{seed}:{purpose}:"
    return np.array([int.from_bytes(sha(f"{prefix}{k}".encode()).digest()[:8], "big")
                     for k in keys], dtype=np.uint64)


def seeded_rng(seed: int, key: str, purpose: str) -> np.random.Generator:
    """A generator for one row, so its draws depend on nothing but the seed and the row."""
    return np.random.default_rng(seeded_u64(seed, key, purpose))


def fields_key(fields: Sequence[str], tag: str = "") -> str:
    """sha256 of strings, each length-prefixed so that no two sequences share a key. A ``tag``
    (letters first) puts the key in its own domain: the length-prefixed text starts with a
    digit, so no tagged key equals an untagged one."""
    text = "".join(f"{len(f)}:{f}" for f in fields)
    return hashlib.sha256((f"{tag}|{text}" if tag else text).encode()).hexdigest()


def file_digest(path: str | Path) -> tuple[str, int]:
    """The sha256 of a file and its size in bytes, read in blocks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def sha256_file(path: str | Path) -> str:
    return file_digest(path)[0]


def fingerprint(lines: Iterable[Sequence[object]]) -> str:
    """One sha256 over records of fields: each record a tab-separated line, in the order given
    (a build's data files ``(name, sha256)``; an input's files ``(name, bytes, sha256)``)."""
    digest = hashlib.sha256()
    for fields in lines:
        digest.update(("\t".join(str(f) for f in fields) + "\n").encode())
    return digest.hexdigest()


def is_repo_id(name: str, *, namespace: bool = True) -> bool:
    """Whether ``name`` is a valid Hub repo id (``huggingface_hub``'s own check), with an
    ``ORG/`` namespace unless ``namespace=False``."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return "/" in name or not namespace
