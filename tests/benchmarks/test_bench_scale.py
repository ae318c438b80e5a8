"""The full-scale benchmark, run at a tiny size so that it cannot rot (its figures are printed
by ``python -m benchmarks.bench_scale``, never asserted on time)."""

from __future__ import annotations

import json

from benchmarks.bench_scale import main
from benchmarks.synthetic import TextPool, ultrachat_rows


def test_generator_is_deterministic_and_shaped_like_ultrachat(shared_data):
    pool = TextPool.load(shared_data)
    rows = list(ultrachat_rows(pool, 2000, seed=3, file_index=0, first_id=0))
    assert rows == list(ultrachat_rows(pool, 2000, seed=3, file_index=0, first_id=0))
    rounds = sum(len(r["data"]) for r in rows) / 2 / len(rows)
    assert 3.6 < rounds < 4.1  # UltraChat: about 3.85 rounds
    assert len({r["data"][0] for r in rows}) > 1990  # opening prompts are (nearly) unique
    assert all(isinstance(t, str) and t for r in rows for t in r["data"])


def test_benchmark_runs_end_to_end_at_a_tiny_size(tmp_path, capsys, shared_data):
    main(["--sizes", "200,400", "--naive-rows", "30", "--feedback-rows", "150",
          "--workers", "1", "--workdir", str(tmp_path), "--shared", str(shared_data)])
    out = capsys.readouterr().out
    assert "growth 200 -> 400 rows" in out
    assert "same kept rows" in out, out
    assert "UltraFeedback, 150 prompts" in out
    raw = next(tmp_path.glob("ultrachat-200-seed0"))
    first = json.loads(next(raw.glob("*.jsonl")).read_text().splitlines()[0])
    assert set(first) == {"id", "data"}
