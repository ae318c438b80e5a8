"""The full-scale benchmark, run at a tiny size so that it cannot rot (its figures are printed
by ``python -m benchmarks.bench_scale``, never asserted on time)."""

from __future__ import annotations

import json

from benchmarks import floor
from benchmarks.bench_scale import main
from benchmarks.synthetic import TextPool, ultrachat_rows, write_jsonl


def test_generator_is_deterministic_real_text_and_shaped_like_ultrachat(shared_data):
    pool = TextPool.load(shared_data)
    rows = list(ultrachat_rows(pool, 2000, seed=3, file_index=0, first_id=0))
    assert rows == list(ultrachat_rows(pool, 2000, seed=3, file_index=0, first_id=0))
    rounds = sum(len(r["data"]) for r in rows) / 2 / len(rows)
    assert 3.6 < rounds < 4.1  # UltraChat: about 3.85 rounds
    assert len({r["data"][0] for r in rows}) > 1990  # opening prompts are (nearly) unique
    assert all(isinstance(t, str) and t for r in rows for t in r["data"])
    later = [t for r in rows for t in r["data"][2::2]]
    real = set(pool.prompts) | set(pool.benchmark_prompts)
    assert sum(t in real for t in later) / len(later) > 0.9  # the rest: planted breakage
    assert set(later) & set(pool.benchmark_prompts)  # planted contamination
    replies = [t for r in rows for t in r["data"][1::2]]
    assert 0.9 < sum(t in set(pool.replies) for t in replies) / len(replies) < 1


def test_the_floor_filters_what_the_build_filters(tmp_path, shared_data):
    pool = TextPool.load(shared_data)
    raw = tmp_path / "raw.jsonl"
    write_jsonl(ultrachat_rows(pool, 500, seed=1, file_index=0, first_id=0), raw)
    phases = floor.run([raw], tmp_path / "floor")
    assert 440 < phases["rows"] < 500  # persona answers gone, nothing else
    assert sorted(p.name for p in (tmp_path / "floor").iterdir()) == [
        "test_sft-00000-of-00001.parquet", "train_sft-00000-of-00001.parquet"]


def test_benchmark_runs_end_to_end_at_a_tiny_size(tmp_path, capsys, shared_data):
    main(["--sizes", "200,400", "--feedback-rows", "150", "--workers", "1",
          "--workdir", str(tmp_path), "--shared", str(shared_data), "--extra", "--num-proc",
          "1"])
    out = capsys.readouterr().out
    assert "peak memory 200 -> 400 dialogues" in out
    assert "UltraFeedback, 150 prompts" in out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("200", "400"))]
    assert len(rows) == 2 and all(row[4].endswith("x") for row in rows)  # the floor ratio
    raw = next(tmp_path.glob("ultrachat-200-seed0"))
    first = json.loads(next(raw.glob("*.jsonl")).read_text().splitlines()[0])
    assert set(first) == {"id", "data"}
