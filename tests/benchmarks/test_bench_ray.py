"""The local-against-Ray benchmark, run at a tiny size on the test cluster so that it cannot rot
(its figures are printed by ``python -m benchmarks.bench_ray``, never asserted on time)."""

from __future__ import annotations

from benchmarks.bench_ray import main


def test_benchmark_runs_both_executors_and_finds_the_same_output(tmp_path, capsys, shared_data,
                                                                 ray_cluster):
    assert main(["--sizes", "", "--feedback-rows", "150", "--workers", "1", "--ray-address",
                 ray_cluster, "--workdir", str(tmp_path), "--shared", str(shared_data)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in lines[2:4]] == [["UltraFeedback", "150", "local"],
                                                         ["UltraFeedback", "150", "ray"]]
    assert "same output: yes" in lines[4]
