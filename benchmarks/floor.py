"""The columnar floor of the UltraChat build: what the same filtering costs as a short polars
script, one process, everything in memory, no truecasing and no decontamination.

It reads raw UltraChat JSON Lines, drops the same structural defects and persona answers,
computes ``prompt_id``, drops duplicate dialogues, sorts by ``prompt_id``, puts 10% of the
prompts in the test split and writes parquet in the ``ultrachat_200k`` schema. The build is
compared with it phase by phase (``bench_scale``): it is what a user could write in an
afternoon, and what our pipeline's extra work (truecasing, decontamination, bounded memory,
byte-reproducible shards, the card and the report) has to be measured against.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import polars as pl

from zephyr_data.pipelines.ultrachat import default_filters

RAW = {"id": pl.String, "data": pl.List(pl.String)}


def persona_pattern() -> str:
    rules = default_filters()["persona_rules"].values()
    return "(?i)" + "|".join(f"(?:{p})" for patterns in rules for p in patterns)


def run(files: list[Path], out: Path, test_share: float = 0.1) -> dict[str, float]:
    """Build ``out`` from ``files``; return the seconds of each phase."""
    started = time.perf_counter()
    df = pl.concat([pl.read_ndjson(f, schema=RAW) for f in files])
    turns = pl.col("data")
    n = turns.list.len()
    empty = turns.list.eval(pl.element().str.strip_chars().str.len_bytes() == 0).list.any()
    persona = turns.list.gather_every(2, offset=1).list.eval(
        pl.element().str.contains(persona_pattern())).list.any()
    df = df.filter((n >= 2) & (n % 2 == 0) & ~empty & ~persona.fill_null(False))
    prompts = df["data"].list.first()
    df = df.with_columns(prompt=prompts, prompt_id=pl.Series(
        [hashlib.sha256(p.encode()).hexdigest() for p in prompts.to_list()]))
    read_filter = time.perf_counter() - started

    started = time.perf_counter()
    df = df.unique(subset=["data"], keep="first", maintain_order=True).sort("prompt_id")
    role = pl.when(pl.int_range(pl.len()) % 2 == 0).then(pl.lit("user")) \
        .otherwise(pl.lit("assistant"))
    df = df.with_columns(messages=turns.list.eval(pl.struct(content=pl.element(), role=role)))
    draw = pl.col("prompt_id").str.slice(0, 16).str.to_integer(base=16, dtype=pl.UInt64)
    test = draw <= int(test_share * 2**64) - 1
    out.mkdir(parents=True, exist_ok=True)
    for name, part in (("train_sft", df.filter(~test)), ("test_sft", df.filter(test))):
        part.select("prompt", "prompt_id", "messages").write_parquet(
            out / f"{name}-00000-of-00001.parquet", compression="zstd")
    write = time.perf_counter() - started
    return {"read_filter": read_filter, "dedup_split_write": write,
            "total": read_filter + write, "rows": df.height}


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.floor OUT FILE...``: build, print the phases as JSON."""
    args = sys.argv[1:] if argv is None else argv
    print(json.dumps(run([Path(a) for a in args[1:]], Path(args[0]))))


if __name__ == "__main__":
    main()
