"""Ids, keys, seeds and hashes (``core.ids``): the values the published datasets and every
earlier build depend on, pinned."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from tests.support.paths import SHARED_DATA
from zephyr_data.core.ids import (
    fields_key,
    file_digest,
    fingerprint,
    is_repo_id,
    prompt_id,
    prompt_ids,
    seeded_rng,
    seeded_u64,
    seeded_u64s,
    sha256_file,
    split_draw,
)

# ../shared/data/README.md: ultrafeedback_binarized train_prefs row 0.
PUBLISHED_PROMPT = "how can i develop a habit of drawing daily"
PUBLISHED_ID = "086b3e24f29b8956a01059f79c56db35d118a06fb6b844b095737d042795cd43"


def test_prompt_id_is_the_published_one():
    assert prompt_id(PUBLISHED_PROMPT) == PUBLISHED_ID
    assert prompt_ids([PUBLISHED_PROMPT, "é"]) == [PUBLISHED_ID, prompt_id("é")]
    assert prompt_id("é") == hashlib.sha256("é".encode()).hexdigest()  # UTF-8, not Latin-1


def test_the_published_example_is_still_in_the_shared_readme():
    readme = SHARED_DATA / "README.md"
    if not readme.is_file():
        pytest.skip(f"no {readme}")
    text = readme.read_text(encoding="utf-8")
    assert f'"{PUBLISHED_PROMPT}" gives `{PUBLISHED_ID}`' in text


def test_split_draw_is_the_first_64_bits_of_the_prompt_id():
    assert split_draw(PUBLISHED_ID) == 0x086B3E24F29B8956
    assert split_draw("f" * 64) == 2**64 - 1
    assert split_draw("0" * 64) == 0


def test_seeded_u64_is_pinned():
    # Changing this value changes which rows every earlier build sampled.
    assert seeded_u64(42, "abc", "select") == 686180122701865057
    digest = hashlib.sha256(b"42:select:abc").digest()
    assert seeded_u64(42, "abc", "select") == int.from_bytes(digest[:8], "big")


def test_seeded_u64_depends_on_seed_key_and_purpose():
    base = seeded_u64(42, "abc", "select")
    assert len({base, seeded_u64(43, "abc", "select"), seeded_u64(42, "abd", "select"),
                seeded_u64(42, "abc", "split")}) == 4
    assert seeded_u64(42, "abc", "select") == base  # same inputs, same draw


def test_seeded_u64s_matches_seeded_u64_over_the_full_64_bits():
    keys = [str(i) for i in range(200)] + ["", "é"]
    draws = seeded_u64s(7, keys, "select")
    assert draws.dtype == np.uint64
    assert draws.tolist() == [seeded_u64(7, k, "select") for k in keys]
    assert int(draws.max()) >= 2**63  # no loss of the top bit in uint64
    assert seeded_u64s(7, [], "select").dtype == np.uint64


def test_seeded_rng_depends_only_on_seed_key_and_purpose():
    a = seeded_rng(1, "k", "pick").integers(0, 2**32, 5).tolist()
    assert a == seeded_rng(1, "k", "pick").integers(0, 2**32, 5).tolist()
    assert a != seeded_rng(1, "k2", "pick").integers(0, 2**32, 5).tolist()


@pytest.mark.parametrize("a, b", [
    (["ab", "c"], ["a", "bc"]),
    (["abc"], ["a", "b", "c"]),
    ([], [""]),
    ([""], ["", ""]),
    (["1:a"], ["a"]),
    (["a", "1:b"], ["a1:b"]),
    (["1:a1:b"], ["a", "b"]),  # a field that looks like two encoded fields
    (["10:aaaaaaaaaa"], ["aaaaaaaaaa"]),
    (["é"], ["e\u0301"]),  # lengths count characters; different text, different key
])
def test_fields_key_never_confuses_two_sequences(a, b):
    assert fields_key(a) != fields_key(b)


def test_fields_key_is_the_sha256_of_the_length_prefixed_fields():
    assert fields_key(["ab", "é"]) == hashlib.sha256("2:ab1:é".encode()).hexdigest()
    assert fields_key(("ab", "é")) == fields_key(["ab", "é"])


def test_file_digest_and_fingerprint(tmp_path):
    path = tmp_path / "f.bin"
    data = bytes(range(256)) * 10
    path.write_bytes(data)
    assert file_digest(path) == (hashlib.sha256(data).hexdigest(), 2560)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    records = [("a.parquet", "00ff"), ("b.parquet", 12)]
    assert fingerprint(records) == hashlib.sha256(b"a.parquet\t00ff\nb.parquet\t12\n").hexdigest()
    assert fingerprint(reversed(records)) != fingerprint(records)  # the order given counts


@pytest.mark.parametrize("name, with_namespace, without", [
    ("HuggingFaceH4/ultrachat_200k", True, True),
    ("org/name.jsonl", True, True),
    ("ultrachat", False, True),
    ("a/b/c", False, False),
    ("org/na me", False, False),
    ("org--x/y", False, False),
    ("org/name/", False, False),
    ("../data", False, False),
    ("", False, False),
])
def test_is_repo_id(name, with_namespace, without):
    assert is_repo_id(name) is with_namespace
    assert is_repo_id(name, namespace=False) is without
