"""``python -m zephyr_train.evaluate`` without a model: --dry-run, bad input (a clear error
before any model is loaded), the judges' files, and a machine without lm-eval (issue 16)."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys

import lm_eval
import pytest

from tests.support.lm_eval_tasks import write_task_data
from tests.support.paths import REPO
from zephyr_train.configs import RecipeError
from zephyr_train.evaluate import main
from zephyr_train.evaluation.judges import alpaca_eval_scores, mt_bench_scores
from zephyr_train.evaluation.lm_tasks import resolve, task_manager, write_task_overrides
from zephyr_train.evaluation.suite import suite_tasks
from zephyr_train.evaluation.task_data import check_data_dir


@pytest.fixture(autouse=True)
def no_model_loading(monkeypatch):
    """Any attempt to run lm-eval (which loads the model first) fails the test."""
    def forbidden(*args, **kwargs):
        raise AssertionError("lm-eval was started (a model loaded) before the input was checked")

    monkeypatch.setattr(lm_eval, "simple_evaluate", forbidden)


@pytest.fixture(scope="module")
def task_data(tmp_path_factory):
    return write_task_data(tmp_path_factory.mktemp("tasks") / "data",
                           resolve(suite_tasks("openllm-v1")))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A folder that passes the model-source check; never loaded here."""
    path = tmp_path_factory.mktemp("model") / "zephyr-smoke"
    path.mkdir()
    (path / "config.json").write_text("{}")
    return path


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


def test_dry_run_prints_the_tasks_shots_and_metrics(capsys, task_data):
    assert main(["--suite", "openllm-v1", "--dry-run"]) == 0
    rows = {line.split()[0]: line.split()[1:4] for line in capsys.readouterr().out.splitlines()}
    assert rows["arc_challenge"] == ["25", "acc_norm", "task"]
    assert rows["hellaswag"] == ["10", "acc_norm", "task"]
    assert rows["mmlu"] == ["5", "acc", "group"]
    assert rows["truthfulqa_mc2"] == ["0", "mc2", "(acc)"]
    assert main(["--dry-run", "--data-dir", str(task_data), "--tasks", "mmlu,hellaswag"]) == 0
    out = capsys.readouterr().out
    assert "every file present" in out and "cais/mmlu (57 configs): test, dev" in out
    assert "arc_challenge" not in out


def test_jsonl_and_parquet_files_give_the_tasks_the_same_documents(task_data, tmp_path):
    resolved = resolve(suite_tasks("openllm-v1", ["arc_challenge", "hellaswag"]))
    docs = []
    for root in (task_data, write_task_data(tmp_path / "jsonl", resolved, "jsonl")):
        files = check_data_dir(root, resolved)
        assert {f.builder for f in files.values()} == {"parquet" if root == task_data else "json"}
        manager = task_manager(write_task_overrides(
            resolved, tmp_path / f"tasks-{root.name}",
            {name: (f.builder, f.files) for name, f in files.items()}))
        tasks = manager.load(["arc_challenge", "hellaswag"])["tasks"]
        docs.append({name: (list(t.eval_docs), list(t.fewshot_docs())) for name, t in
                     tasks.items()})
    assert docs[0] == docs[1]
    assert len(docs[0]["arc_challenge"][1]) == 26 and docs[0]["hellaswag"][0][0]["gold"] == 0


def test_a_data_dir_without_a_tasks_files(capsys, task_data, model_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(task_data, data)
    shutil.rmtree(data / "cais" / "mmlu" / "virology")
    (data / "allenai" / "ai2_arc" / "ARC-Challenge" / "train.parquet").unlink()
    err = _error(capsys, ["--model", str(model_dir), "--data-dir", str(data)])
    assert f"--data-dir {data} is missing task data" in err
    assert "arc_challenge: lacks allenai/ai2_arc/ARC-Challenge/train.parquet (or .jsonl)" in err
    assert ("mmlu: 1 of the 57 tasks of the group lack cais/mmlu/virology/{test,dev}.parquet "
            "(or .jsonl) for mmlu_virology") in err
    assert "--prepare-data" in err and "Traceback" not in err
    # Too few rows for the shots, and a file that is not parquet, are caught as early.
    hellaswag = data / "Rowan" / "hellaswag" / "default"
    (hellaswag / "validation.parquet").write_text("not parquet")
    (hellaswag / "train.parquet").unlink()
    (hellaswag / "train.jsonl").write_text('{"ind": 1}\n' * 3)
    err = _error(capsys, ["--model", str(model_dir), "--data-dir", str(data),
                          "--tasks", "hellaswag"])
    assert "mixes ['.jsonl', '.parquet']" in err
    (hellaswag / "validation.parquet").unlink()
    (hellaswag / "validation.jsonl").write_text('{"ind": 2}\n')
    err = _error(capsys, ["--model", str(model_dir), "--data-dir", str(data),
                          "--tasks", "hellaswag"])
    assert "train.jsonl has 3 rows, fewer than the 10 few-shot examples hellaswag draws" in err


def test_a_compare_file_that_is_not_a_results_file(capsys, tmp_path, model_dir, task_data):
    native = tmp_path / "results_2026-12-01.json"
    native.write_text(json.dumps({"results": {"arc_challenge": {}}, "config": {}}))
    err = _error(capsys, ["--model", str(model_dir), "--data-dir", str(task_data),
                          "--compare", str(native)])
    assert f"--compare {native} is not a results file" in err
    assert "lm-eval's own results file" in err
    notes = tmp_path / "notes.json"
    notes.write_text("this is not json")
    assert f"--compare {notes} is not JSON" in _error(capsys, ["--compare", str(notes)])
    missing = tmp_path / "sft.json"
    assert f"--compare {missing}: no such file" in _error(capsys, ["--compare", str(missing)])
    damaged = tmp_path / "damaged.json"
    damaged.write_text(json.dumps({"format": "zephyr-eval-results/1", "summary": {"tasks": {}}}))
    assert "damaged summary" in _error(capsys, ["--compare", str(damaged)])


def test_other_bad_input_is_named(capsys, tmp_path, model_dir):
    assert "not in the openllm-v1 suite" in _error(capsys, ["--dry-run", "--tasks", "gsm8k"])
    assert "--suite 'openllm-v2' is not a known suite" in _error(
        capsys, ["--dry-run", "--suite", "openllm-v2"])
    assert "does not exist as a local directory" in _error(
        capsys, ["--model", str(tmp_path / "no-such-model")])
    assert "--batch-size 'zero' must be a positive integer or 'auto'" in _error(
        capsys, ["--model", str(model_dir), "--batch-size", "zero"])
    assert "--limit 0 must be at least 1" in _error(capsys, ["--dry-run", "--limit", "0"])
    assert "Nothing to do" in _error(capsys, [])
    pairwise = tmp_path / "gpt-4_pair.jsonl"
    pairwise.write_text(json.dumps({"question_id": 81, "model_1": "a", "model_2": "b",
                                    "g1_winner": "tie", "g2_winner": "tie", "turn": 1}) + "\n")
    assert "is a pairwise judgment" in _error(capsys, ["--dry-run", "--mt-bench", str(pairwise)])


def test_mt_bench_scores_as_fastchat_shows_them(tmp_path):
    path = tmp_path / "gpt-4_single.jsonl"
    records = [("zephyr", 1, 8), ("zephyr", 2, 6), ("zephyr", 1, -1), ("base", 1, 3),
               ("base", 2, 4.5)]
    path.write_text("".join(json.dumps({"question_id": i, "model": m, "judge":
                                        ["gpt-4", "single-math-v1"], "score": s, "turn": t,
                                        "user_prompt": "", "judgment": "", "tstamp": 0}) + "\n"
                            for i, (m, t, s) in enumerate(records)))
    scores = mt_bench_scores([path])
    assert (scores["zephyr"].value, scores["zephyr"].count) == (7.0, 2)
    assert scores["base"].value == 3.75
    path.write_text(json.dumps({"question_id": 1, "model": "zephyr", "turn": 1}) + "\n")
    with pytest.raises(RecipeError, match=r"line 1 lacks \['score'\]"):
        mt_bench_scores([path])


def test_alpaca_eval_win_rates_from_its_files(tmp_path):
    annotations = tmp_path / "annotations.json"
    prefs = [2.0, 1.0, 1.5, 0, 2, None, math.nan, 1.75]
    annotations.write_text(json.dumps([{"instruction": f"q{i}", "output_1": "a", "output_2": "b",
                                        "generator_1": "text_davinci_003",
                                        "generator_2": "zephyr", "preference": p}
                                       for i, p in enumerate(prefs)]))
    score = alpaca_eval_scores([annotations])["zephyr"]
    # valid: 2, 1, 1.5, 0 (a draw: 1.5), 2, 1.75 -> mean(p - 1) = (1 + 0 + .5 + .5 + 1 + .75) / 6
    assert score.count == 6 and score.value == pytest.approx(100 * 3.75 / 6)
    board = tmp_path / "leaderboard.csv"
    board.write_text(",win_rate,standard_error,n_total\nzephyr,90.6,1.03,805\n")
    assert alpaca_eval_scores([board])["zephyr"].value == 90.6
    board.write_text(",length_controlled_winrate\nzephyr,13.2\n")
    with pytest.raises(RecipeError, match="no win_rate column"):
        alpaca_eval_scores([board])


def test_without_lm_eval_a_one_line_error_with_the_install_command(tmp_path):
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['lm_eval'] = None\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}:{REPO}"}
    result = subprocess.run([sys.executable, "-m", "zephyr_train.evaluate", "--dry-run"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: lm-evaluation-harness (lm-eval) is not installed; install it "
                      'with: pip install -e ".[eval]"'], result.stderr
    assert "Traceback" not in result.stderr
