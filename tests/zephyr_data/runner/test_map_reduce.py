"""The two stages of a run (``runner.map``, ``runner.reduce``, ``runner.executor``): the draws,
the buckets and spill files, and deduplication, sampling, splitting and writing on small spilled
sets whose every key is chosen by hand."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zephyr_data.core.ids import fields_key, prompt_id, seeded_u64, split_draw
from zephyr_data.core.stats import Stats
from zephyr_data.io.readers import plan_units, resolve_input
from zephyr_data.pipelines.ultrachat import UltraChatConfig, UltraChatPipeline
from zephyr_data.report.stats import ReportData
from zephyr_data.runner import map as map_stage
from zephyr_data.runner import reduce as reduce_stage
from zephyr_data.runner.executor import run_map_local, shards
from zephyr_data.runner.map import (
    BUCKET_INPUT_BYTES,
    MAX_BUCKETS,
    NUM_BUCKETS,
    MapSetup,
    Spiller,
    add_draws,
    bucket_count,
    bucket_of,
    spill_schema,
    spilled_buckets,
)
from zephyr_data.runner.reduce import choose, read_bucket, reduce
from zephyr_data.steps.stages import SORT_KEYS, SplitPlan

SCHEMA = spill_schema(UltraChatPipeline(UltraChatConfig(output_dir="-")).features(), True)


def pid(prefix: str) -> str:
    return prefix.ljust(64, "0")


# --------------------------------------------------------------------------- draws, buckets


def test_add_draws_seeds_select_from_the_sample_key_and_split_from_the_prompt_id():
    pids = [prompt_id("a"), pid("ff"), pid("8"), prompt_id("a"), pid("0")]
    keys = ["k1", "k2", "k3", "k1", ""]
    frame = pl.DataFrame({"prompt_id": pids, "key": keys, "other": [1, 2, 3, 4, 5]})
    drawn = add_draws(frame, 7, "key")
    assert drawn.columns == ["prompt_id", "key", "other", "_select", "_split"]
    assert drawn.schema["_select"] == drawn.schema["_split"] == pl.UInt64
    assert drawn["_select"].to_list() == [seeded_u64(7, k, "select") for k in keys]
    assert drawn["_split"].to_list() == [split_draw(p) for p in pids]
    assert drawn["_split"][1] == 0xFF00000000000000  # above 2**63, no overflow
    assert drawn["_select"][0] == drawn["_select"][3]  # equal keys are sampled together
    again = add_draws(frame.reverse().head(3), 7, "key").reverse()  # other rows, other order
    assert again["_select"].to_list() == drawn["_select"].to_list()[2:]
    assert add_draws(frame, 8, "key")["_select"].to_list() != drawn["_select"].to_list()


@pytest.mark.parametrize("prefix, bucket", [("0000", 0), ("03ff", 0), ("0400", 1), ("7fff", 31),
                                            ("8000", 32), ("fbff", 62), ("fc00", 63),
                                            ("ffff", 63)])
def test_bucket_of_is_the_first_six_bits_of_the_prompt_id(prefix, bucket):
    assert bucket_of(pl.Series([pid(prefix)])).to_list() == [bucket]


def test_buckets_follow_prompt_id_order():
    pids = sorted(prompt_id(str(i)) for i in range(2000))
    buckets = bucket_of(pl.Series(pids)).to_list()
    assert buckets == sorted(buckets)
    assert buckets == [int(p[:4], 16) * NUM_BUCKETS // 65536 for p in pids]
    assert set(buckets) == set(range(NUM_BUCKETS))


# --------------------------------------------------------------------------- spilled rows


def spill_row(prefix: str, prompt: str, answer: str, *, order: str = "", select: int = 0,
              ref: str = "", extra: list | None = None) -> dict:
    key = fields_key([prompt])
    return {"prompt": prompt, "prompt_id": pid(prefix),
            "messages": [{"content": prompt, "role": "user"},
                         {"content": answer, "role": "assistant"}],
            "_dedup_key": key, "_order_key": order or key, "_ref": ref or f"in:{prefix}",
            "_extra": None if extra is None else json.dumps(extra),
            "_select": select, "_split": split_draw(pid(prefix))}


def frame(rows: list[dict]) -> pl.DataFrame:
    return pl.from_arrow(pa.Table.from_pylist(rows, schema=SCHEMA))


def spill(scratch: Path, parts: list[list[dict]]) -> None:
    """Each part spilled by its own worker, flushed after every row (many small files)."""
    for w, rows in enumerate(parts):
        spiller = Spiller(scratch, f"w{w:03d}", SCHEMA)
        for row in rows:
            spiller.add(frame([row]))
            spiller.flush()


def spill_files(scratch: Path) -> list[str]:
    return sorted(p.relative_to(scratch).as_posix() for p in scratch.rglob("*.parquet"))


def test_the_spiller_writes_one_file_per_bucket_and_flush(tmp_path):
    spiller = Spiller(tmp_path, "w003", SCHEMA)
    spiller.add(frame([spill_row("00", "a", "x"), spill_row("ff", "b", "x"),
                       spill_row("01", "c", "x")]))
    spiller.add(frame([]))
    assert spill_files(tmp_path) == []  # buffered
    spiller.flush()
    spiller.add(frame([spill_row("80", "d", "x")]))
    spiller.flush()
    spiller.flush()  # nothing buffered: no file
    assert spill_files(tmp_path) == ["buckets/00000/w003-000000.parquet",
                                     "buckets/00032/w003-000001.parquet",
                                     "buckets/00063/w003-000000.parquet"]
    assert spilled_buckets(tmp_path) == [0, 32, 63]
    first = pq.read_table(tmp_path / "buckets/00000/w003-000000.parquet")
    assert first.schema == SCHEMA.remove_metadata()
    assert first["prompt"].to_pylist() == ["a", "c"]
    assert read_bucket(tmp_path, 5) is None


def test_a_larger_input_is_spilled_into_more_buckets(tmp_path):
    """At least NUM_BUCKETS; one per BUCKET_INPUT_BYTES of input beyond; at most one per
    value of the first four hex digits of the prompt_id."""
    assert bucket_count(0) == bucket_count(BUCKET_INPUT_BYTES * NUM_BUCKETS) == NUM_BUCKETS
    assert bucket_count(BUCKET_INPUT_BYTES * NUM_BUCKETS + 1) == NUM_BUCKETS + 1
    assert bucket_count(BUCKET_INPUT_BYTES * 1000) == 1000
    assert bucket_count(10**18) == MAX_BUCKETS == 65536
    spiller = Spiller(tmp_path, "w000", SCHEMA, buckets=1000)
    spiller.add(frame([spill_row("0000", "a", "x"), spill_row("8000", "b", "x"),
                       spill_row("ffff", "c", "x"), spill_row("0042", "d", "x")]))
    spiller.flush()
    assert spilled_buckets(tmp_path) == [0, 1, 500, 999]  # 0x0042 * 1000 // 65536 == 1


def test_the_spiller_flushes_at_spill_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(map_stage, "SPILL_ROWS", 10)
    spiller = Spiller(tmp_path, "w000", SCHEMA)
    rows = [spill_row(f"{i:02x}", f"p{i}", "x") for i in range(0, 256, 16)]  # 16 buckets
    spiller.add(frame(rows[:9]))
    assert spill_files(tmp_path) == [] and spiller.buffered == 9
    spiller.add(frame(rows[9:10]))  # the 10th row flushes
    assert spiller.buffered == 0 and spiller.files == 1
    assert len(spill_files(tmp_path)) == 10
    spiller.add(frame(rows[10:]))
    spiller.flush()
    files = spill_files(tmp_path)
    assert len(files) == 16 and sum(f.endswith("-000001.parquet") for f in files) == 6
    back = pl.concat([pl.read_parquet(tmp_path / f) for f in files])
    assert sorted(back["prompt"].to_list()) == sorted(r["prompt"] for r in rows)


# Unique prompts: their prompt_id prefix (which sets the bucket and the split), the draw that
# decides the sample, and the side records of the row.
UNIQUE = [("01", 50), ("08", 10), ("3f", 70), ("40", 20), ("7a", 80), ("a0", 30), ("c3", 40),
          ("ff", 60)]
TEST_SHARE = 0.25  # the split draws below 0x4000... go to the test split: 01, 08, 3f


def spilled_set() -> tuple[list[dict], list[dict]]:
    """Two workers' rows: every unique prompt once, plus duplicates of 08 and c3."""
    rows = {prefix: spill_row(prefix, f"prompt {prefix}", f"answer {prefix}", select=select,
                              order="m", ref=f"in:{prefix}",
                              extra=[{"turn": 1, "after": prefix}] if prefix in "01 7a c3"
                              else None) for prefix, select in UNIQUE}
    dups = [  # the smallest order key is kept; on equal order keys, the smallest ref
        spill_row("08", "prompt 08", "late copy", order="z", select=10, ref="in:00"),
        spill_row("08", "prompt 08", "first copy", order="a", select=10, ref="in:99"),
        spill_row("c3", "prompt c3", "ref 9 copy", order="m", select=40, ref="in:9",
                  extra=[{"turn": 1, "after": "dup"}]),
        spill_row("c3", "prompt c3", "ref 10 copy", order="m", select=40, ref="in:10"),
    ]
    return [rows["ff"], dups[0], rows["01"], dups[2], rows["a0"], rows["3f"]], \
        [rows["40"], dups[1], rows["08"], rows["7a"], dups[3], rows["c3"]]


def run_reduce(tmp_path: Path, parts, target_size=None, name="out"):
    out = tmp_path / name
    config = UltraChatConfig(output_dir=str(out), progress=False, target_size=target_size,
                             test_share=TEST_SHARE)
    scratch, data = out / ".scratch", out / "data"
    scratch.mkdir(parents=True)
    data.mkdir()
    spill(scratch, parts)
    stats, lines = Stats(rows_in=sum(len(p) for p in parts)), []
    splits = reduce(UltraChatPipeline(config), scratch, data, stats, lines.append,
                    ReportData(["train_sft", "test_sft"]))
    return out, splits, stats, [json.loads(line) for line in lines]


def read_split(out: Path, split: str) -> list[dict]:
    (path,) = sorted((out / "data").glob(f"{split}-*.parquet"))
    return pq.read_table(path).to_pylist()


def answers(rows: list[dict]) -> list[tuple[str, str]]:
    return [(r["prompt_id"][:2], r["messages"][1]["content"]) for r in rows]


def test_reduce_deduplicates_splits_by_prompt_id_and_mirrors(tmp_path):
    out, splits, stats, dumped = run_reduce(tmp_path, spilled_set())
    assert answers(read_split(out, "test_sft")) == [
        ("01", "answer 01"), ("08", "first copy"), ("3f", "answer 3f")]
    assert answers(read_split(out, "train_sft")) == [
        ("40", "answer 40"), ("7a", "answer 7a"), ("a0", "answer a0"), ("c3", "ref 10 copy"),
        ("ff", "answer ff")]
    assert stats.dropped == {"duplicate": 4}
    assert stats.kept == 8
    stats.check_accounting()
    assert {k: v["num_examples"] for k, v in splits.items()} == \
        {"train_sft": 5, "test_sft": 3, "train_gen": 5, "test_gen": 3}
    assert splits["train_gen"] == splits["train_sft"]
    for source, mirror in (("train_sft", "train_gen"), ("test_sft", "test_gen")):
        (a,) = (out / "data").glob(f"{source}-*.parquet")
        (b,) = (out / "data").glob(f"{mirror}-*.parquet")
        assert b.name == a.name.replace(source, mirror)
        assert a.read_bytes() == b.read_bytes()
    assert sorted((d["reason"], d["ref"], d["row"]["messages"][1]["content"]) for d in dumped) \
        == [("duplicate", "in:00", "late copy"), ("duplicate", "in:08", "answer 08"),
            ("duplicate", "in:9", "ref 9 copy"), ("duplicate", "in:c3", "answer c3")]
    assert all(d["detail"] == "same as an earlier row" and "_extra" not in d["row"]
               for d in dumped)


def test_the_side_file_holds_the_records_of_written_rows_only(tmp_path):
    out, *_ = run_reduce(tmp_path, spilled_set())
    lines = (out / "truecased.jsonl").read_text(encoding="utf-8").splitlines()
    # 01 and 7a are written; c3's records were on copies that were dropped as duplicates
    assert [json.loads(line) for line in lines] == [
        {"prompt_id": pid("01"), "turn": 1, "after": "01"},
        {"prompt_id": pid("7a"), "turn": 1, "after": "7a"}]


def test_target_size_keeps_the_smallest_draws(tmp_path):
    out, splits, stats, dumped = run_reduce(tmp_path, spilled_set(), target_size=5)
    kept = sorted(prefix for prefix, select in UNIQUE if select <= 50)  # the 5 smallest
    assert kept == ["01", "08", "40", "a0", "c3"]
    assert [r["prompt_id"][:2] for r in read_split(out, "test_sft")] == ["01", "08"]
    assert [r["prompt_id"][:2] for r in read_split(out, "train_sft")] == ["40", "a0", "c3"]
    assert stats.dropped == {"duplicate": 4, "over_target_size": 3}
    assert stats.kept == 5
    stats.check_accounting()
    over = sorted((d["ref"], d["detail"]) for d in dumped if d["reason"] == "over_target_size")
    assert over == [("in:3f", "not sampled into 5 rows"), ("in:7a", "not sampled into 5 rows"),
                    ("in:ff", "not sampled into 5 rows")]
    side = (out / "truecased.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["after"] for line in side] == ["01"]  # 7a was not sampled
    assert splits["train_sft"]["num_examples"] == 3


def test_the_output_does_not_depend_on_how_rows_were_spilled(tmp_path):
    first, second = spilled_set()
    everything = first + second
    random.Random(0).shuffle(everything)
    layouts = {"two": [first, second], "swapped": [second, first], "one": [everything],
               "many": [[row] for row in everything]}
    data = {}
    for name, parts in layouts.items():
        out, *_ = run_reduce(tmp_path, parts, target_size=6, name=name)
        data[name] = {p.name: p.read_bytes() for p in (out / "data").iterdir()}
        data[name]["side"] = (out / "truecased.jsonl").read_bytes()
    assert len(data["two"]) == 5
    assert all(files == data["two"] for files in data.values())


@pytest.mark.parametrize("part_rows", [1, 2, 3])
def test_a_bucket_written_a_slice_at_a_time_gives_the_same_bytes(tmp_path, monkeypatch,
                                                                 part_rows):
    """Pass B filters, counts and writes a bucket PART_ROWS rows at a time: the shards, side
    file, counts and dumped rows are those of one pass over the whole bucket."""
    def build(name):
        out, splits, stats, dumped = run_reduce(tmp_path, spilled_set(), target_size=6,
                                                name=name)
        files = {p.name: p.read_bytes() for p in (out / "data").iterdir()}
        return files, (out / "truecased.jsonl").read_bytes(), splits, stats.dropped, dumped

    whole = build("whole")
    assert reduce_stage.PART_ROWS > len(spilled_set()[0]) * 2  # one slice per bucket
    monkeypatch.setattr(reduce_stage, "PART_ROWS", part_rows)
    assert build(f"parts{part_rows}") == whole
    assert whole[3] == {"duplicate": 4, "over_target_size": 2}


def test_the_ray_rows_task_writes_a_bucket_a_slice_at_a_time(tmp_path, monkeypatch):
    """The Ray path's pass B task gives the same kept rows, counts and report whether a
    bucket is sliced or not (its files are read back by the writers' tasks)."""
    from zephyr_data.runner import ray_stages

    for w, rows in enumerate(spilled_set()):  # every row in one bucket, two files
        spiller = Spiller(tmp_path, f"w{w:03d}", SCHEMA, buckets=1)
        spiller.add(frame(rows))
        spiller.flush()
    files = sorted((tmp_path / "buckets" / "00000").glob("*.parquet"))
    assert len(files) == 2
    plan = SplitPlan("train", "test", test_size=3, target_size=6)
    choices = choose(tmp_path, plan, Stats(), None, iter([0]))
    results = []
    for part_rows in (10_000, 1):
        monkeypatch.setattr(reduce_stage, "PART_ROWS", part_rows)
        kept = ray_stages.rows_task(files, 0, str(tmp_path), plan, choices, False, True)
        folder = Path(kept.folder)
        tables = {name: pq.read_table(folder / f"{name}.parquet").to_pylist()
                  for name in ("train", "test")}
        results.append((kept.over, kept.rows, tables, kept.report.rows,
                        (folder / "side.jsonl").read_text(encoding="utf-8")))
    assert results[0] == results[1]
    over, rows, tables, report_rows, side = results[0]
    assert (over, rows, report_rows) == (2, {"train": 3, "test": 3}, 6)
    assert [r["messages"][1]["content"] for r in tables["test"]] == \
        ["answer 01", "first copy", "answer 40"]
    assert [json.loads(line)["after"] for line in side.splitlines()] == ["01"]


def test_choose_with_an_exact_test_size_counts_only_sampled_rows(tmp_path):
    first, second = spilled_set()
    spill(tmp_path, [first, second])
    stats = Stats()
    plan = SplitPlan("train", "test", test_size=2, target_size=5)
    choices = choose(tmp_path, plan, stats, None, iter(range(NUM_BUCKETS)))
    assert stats.dropped == {"duplicate": 4}
    assert choices.select_max == 50
    # of the sampled 01, 08, 40, a0, c3, the two smallest split draws: 01 and 08
    assert choices.test_max == split_draw(pid("08"))
    capped = SplitPlan("train", "test", test_size=5, max_test_share=0.25)
    assert choose(tmp_path, capped, Stats(), None, iter(range(NUM_BUCKETS))).test_max == \
        split_draw(pid("08"))  # int(0.25 * 8) = 2 rows
    none = SplitPlan("train", "test", test_size=0)
    assert choose(tmp_path, none, Stats(), None, iter(range(NUM_BUCKETS))).test_max == -1


# --------------------------------------------------------------------------- the map, locally


def map_sample(tmp_path: Path, num_proc: int) -> tuple[Stats, list[dict], list[str], list[int]]:
    scratch = tmp_path / f"scratch{num_proc}"
    scratch.mkdir()
    # Truecasing off: loading its model costs each worker process about 4 s.
    config = UltraChatConfig(output_dir=str(tmp_path / "unused"), sample=True,
                             decontaminate="off", truecase=False, progress=False, batch_size=20)
    spec = resolve_input(None, sample=UltraChatPipeline.sample_file, default_hub_id="x/y",
                         revision=None)
    units = plan_units(spec, config.batch_size)
    assert len(units) == 7
    progress: list[int] = []
    stats = run_map_local(MapSetup(UltraChatPipeline, config, str(scratch), dump=True), units,
                          num_proc, progress.append)
    tables = [t for b in range(NUM_BUCKETS) if (t := read_bucket(scratch, b)) is not None]
    rows = pa.concat_tables(tables).to_pylist()
    dumped = sorted(line for p in scratch.glob("dropped-*.jsonl")
                    for line in p.read_text(encoding="utf-8").splitlines())
    return stats, rows, dumped, progress


def test_run_map_local_gives_the_same_stats_and_rows_with_1_and_2_workers(tmp_path):
    one = map_sample(tmp_path, 1)
    two = map_sample(tmp_path, 2)
    stats, rows, dumped, progress = one
    assert stats.rows_in == 125 and sum(progress) == 125
    assert dict(stats.dropped) == {"as_an_ai": 7, "empty_dialogue": 2, "empty_turn": 4,
                                   "no_assistant_turn": 2, "no_emotions": 3, "no_opinions": 2,
                                   "no_personal_experience": 3, "odd_turn_count": 2}
    assert stats.dropped_total + len(rows) == 125  # duplicates are still among the rows
    assert len(dumped) == stats.dropped_total
    assert two[0].to_dict() == stats.to_dict()
    assert two[1] == rows  # in bucket sort order, whoever spilled them
    assert two[2] == dumped
    assert sum(two[3]) == 125
    keys = [tuple(r[k] for k in SORT_KEYS) for r in rows]
    assert keys == sorted(keys)
    assert all(r["_split"] == split_draw(r["prompt_id"]) for r in rows)
    assert all(r["_select"] == seeded_u64(42, r["_dedup_key"], "select") for r in rows)


def test_shards_deal_units_round_robin():
    assert shards(list(range(7)), 3) == [[0, 3, 6], [1, 4], [2, 5]]
    assert shards([], 2) == [[], []]
    assert sorted(sum(shards(list(range(10)), 4), [])) == list(range(10))
