"""The Open LLM Leaderboard suite through lm-evaluation-harness, offline: the smoke SFT model
(a tiny random Mistral with the real Mistral tokenizer) on tiny local task files (issue 16)."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.support.lm_eval_tasks import write_task_data
from zephyr_train.evaluate import main
from zephyr_train.evaluation.lm_tasks import resolve
from zephyr_train.evaluation.results import model_files_sha256
from zephyr_train.evaluation.suite import suite_tasks

pytestmark = pytest.mark.slow
SHOTS = {"arc_challenge": 25, "hellaswag": 10, "mmlu": 5, "truthfulqa_mc2": 0}
METRICS = {"arc_challenge": "acc_norm", "hellaswag": "acc_norm", "mmlu": "acc",
           "truthfulqa_mc2": "mc2"}


def _one_thread(fn):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # faster than two contended threads on a small shared machine
    try:
        return fn()
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def resolved():
    return resolve(suite_tasks("openllm-v1"))


@pytest.fixture(scope="module")
def task_data(tmp_path_factory, resolved):
    return write_task_data(tmp_path_factory.mktemp("tasks") / "data", resolved)


def _evaluate(model: Path, out: Path, data: Path, *extra: str) -> Path:
    argv = ["--model", str(model), "--model-id", "zephyr-smoke", "--data-dir", str(data),
            "--limit", "1", "--dtype", "float32", "--output-dir", str(out), *extra]
    assert _one_thread(lambda: main(argv)) == 0
    return out / "zephyr-smoke.json"


@pytest.fixture(scope="module")
def runs(sft_checkpoint, task_data, tmp_path_factory):
    """The whole suite twice on the same model and files; the second logs its prompts."""
    model, out = sft_checkpoint[0], tmp_path_factory.mktemp("eval")
    first = _evaluate(model, out / "first", task_data)
    second = _evaluate(model, out / "second", task_data, "--log-samples")
    return [json.loads(p.read_text()) for p in (first, second)], first, second


def test_all_four_tasks_run_with_their_shots_and_metrics(runs, resolved, task_data):
    (result, _), _, _ = runs
    tasks = result["summary"]["tasks"]
    assert {name: t["shots"] for name, t in tasks.items()} == SHOTS
    assert {name: t["metric"] for name, t in tasks.items()} == METRICS
    assert tasks["truthfulqa_mc2"]["lm_eval_metric"] == "acc"  # truthfulqa_mc2's acc is mc2
    lm = result["lm_eval"]
    mmlu_leaves = [leaf.name for item in resolved if item.task.name == "mmlu"
                   for leaf in item.leaves]
    assert len(mmlu_leaves) == 57
    # lm-eval's own record of the shots it used, task by task.
    assert {t: lm["n-shot"][t] for t in ("arc_challenge", "hellaswag", "truthfulqa_mc2")} == \
        {"arc_challenge": 25, "hellaswag": 10, "truthfulqa_mc2": 0}
    assert {lm["n-shot"][leaf] for leaf in mmlu_leaves} == {5}
    for name, t in tasks.items():
        block = lm["results"][name]
        assert block[f"{t['lm_eval_metric']},none"] == pytest.approx(t["score"])
        assert 0.0 <= t["score"] <= 1.0
    assert tasks["mmlu"]["examples"] == 57 and tasks["arc_challenge"]["examples"] == 1
    # The data came from the local files, through lm-eval's own task definitions.
    for leaf in [leaf for item in resolved for leaf in item.leaves]:
        config = lm["configs"][leaf.name]
        assert config["dataset_path"] == "parquet"
        assert all(Path(f).is_relative_to(task_data)
                   for f in config["dataset_kwargs"]["data_files"].values())
    assert lm["configs"]["hellaswag"]["process_docs"]  # lm-eval's preprocessing still runs


def test_the_prompts_hold_the_shots_without_a_chat_template(runs):
    _, _, second = runs
    samples = [json.loads(line) for line in
               second.with_suffix(".samples.jsonl").read_text().splitlines()]
    by_task = {}
    for s in samples:
        by_task.setdefault(s["task"], s)
    assert len(by_task) == 3 + 57
    prompt = {task: s["arguments"][0][0] for task, s in by_task.items()}  # (context, choice)
    assert prompt["arc_challenge"].count("Question:") == 25 + 1
    assert prompt["hellaswag"].count("Teaching science:") == 10 + 1
    assert prompt["mmlu_anatomy"].count("\nAnswer:") == 5 + 1
    assert prompt["mmlu_anatomy"].startswith("The following are multiple choice questions (with "
                                             "answers) about anatomy.")
    assert prompt["truthfulqa_mc2"].count("\n\nQ: ") == 6  # lm-eval's fixed 6 QA pairs, 0 shots
    for text in prompt.values():
        assert "<|user|>" not in text and "<|assistant|>" not in text


def test_the_json_and_the_table_are_written(runs, sft_checkpoint):
    (result, _), first, _ = runs
    summary = result["summary"]
    assert result["format"] == "zephyr-eval-results/1"
    assert summary["model"] == str(sft_checkpoint[0]) and summary["model_id"] == "zephyr-smoke"
    assert summary["model_files_sha256"] == model_files_sha256(sft_checkpoint[0])[0]
    assert "model.safetensors" in summary["model_files"]
    assert summary["lm_eval_version"] == version("lm_eval") == result["lm_eval"]["lm_eval_version"]
    assert summary["limit"] == 1 and summary["chat_template"] is False
    table = first.with_suffix(".md").read_text()
    lines = table.splitlines()
    assert lines[0] == "| Benchmark | Zephyr-7B-beta (paper) | zephyr-smoke |"
    mmlu = 100 * summary["tasks"]["mmlu"]["score"]
    assert f"| MMLU (5-shot, acc) | 61.07 | {mmlu:.2f} |" in lines
    assert any(line.startswith("| ARC (25-shot, acc_norm) | 62.03 | ") for line in lines)
    assert "| TruthfulQA (0-shot, mc2) | 57.45 |" in table
    assert "| MT-Bench (GPT-4 judge, 1-10) | 7.34 |  |" in lines
    assert "| AlpacaEval (GPT-4 win rate, %) | 90.60 |  |" in lines
    assert "chat template off" in table and "not comparable" in table


def test_a_second_run_gives_the_same_numbers(runs):
    (first, second), _, _ = runs
    assert first["lm_eval"]["results"] == second["lm_eval"]["results"]
    assert {t: v["score"] for t, v in first["summary"]["tasks"].items()} == \
        {t: v["score"] for t, v in second["summary"]["tasks"].items()}


@pytest.fixture(scope="module")
def adapter(sft_checkpoint, tmp_path_factory):
    """A LoRA adapter on the smoke SFT model, as a PEFT run saves it (no config.json)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(sft_checkpoint[0])
    lora = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"],
                                           init_lora_weights=False))
    path = tmp_path_factory.mktemp("lora") / "zephyr-smoke-lora"
    lora.save_pretrained(path)
    AutoTokenizer.from_pretrained(sft_checkpoint[0]).save_pretrained(path)
    return path


def test_a_subset_on_a_lora_adapter_from_jsonl_files(runs, sft_checkpoint, adapter, tmp_path):
    """--tasks runs part of the suite; .jsonl task files; an adapter folder is evaluated on its
    base model."""
    (first, _), _, _ = runs
    data = write_task_data(tmp_path / "data", resolve(suite_tasks("openllm-v1",
                                                                  ["truthfulqa_mc2"])), "jsonl")
    path = _evaluate(adapter, tmp_path / "out", data, "--tasks", "truthfulqa_mc2")
    result = json.loads(path.read_text())
    summary, lm = result["summary"], result["lm_eval"]
    assert list(summary["tasks"]) == ["truthfulqa_mc2"]
    assert lm["configs"]["truthfulqa_mc2"]["dataset_path"] == "json"
    assert lm["config"]["model_args"]["peft"] == str(adapter)
    assert lm["config"]["model_args"]["pretrained"] == str(sft_checkpoint[0])
    assert summary["base_model"] == str(sft_checkpoint[0])
    assert "adapter_model.safetensors" in summary["model_files"]
    base_score = first["summary"]["tasks"]["truthfulqa_mc2"]["score"]
    assert summary["tasks"]["truthfulqa_mc2"]["score"] != pytest.approx(base_score, rel=1e-3, abs=0)
    table = path.with_suffix(".md").read_text()
    assert "| ARC (25-shot, acc_norm) | 62.03 |  |" in table  # every suite row, empty if not run


def test_compare_sets_models_side_by_side_with_the_judges_scores(runs, tmp_path, capsys):
    (first, _), first_path, second_path = runs
    dpo = json.loads(second_path.read_text())
    dpo["summary"]["model_id"] = "zephyr-smoke-dpo"
    dpo_path = tmp_path / "zephyr-smoke-dpo.json"
    dpo_path.write_text(json.dumps(dpo))
    judgments = tmp_path / "gpt-4_single.jsonl"
    lines = [{"question_id": 81 + i // 2, "model": model, "judge": ["gpt-4", "single-v1"],
              "user_prompt": "...", "judgment": "Rating: [[x]]", "score": score,
              "turn": 1 + i % 2, "tstamp": 0.0}
             for model, scores in (("zephyr-smoke", [6, 7, -1, 8]), ("zephyr-smoke-dpo", [9, 6]))
             for i, score in enumerate(scores)]
    judgments.write_text("".join(json.dumps(x) + "\n" for x in lines))
    leaderboard = tmp_path / "leaderboard.csv"
    leaderboard.write_text(",win_rate,standard_error,n_wins,n_wins_base,n_draws,n_total,"
                           "mode,avg_length\ngpt4,95.28,0.72,761,37,7,805,verified,1365\n"
                           "zephyr-smoke-dpo,12.5,1.1,100,700,5,805,community,900\n")
    capsys.readouterr()
    assert main(["--compare", str(first_path), str(dpo_path), "--mt-bench", str(judgments),
                 "--alpaca-eval", str(leaderboard)]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0] == \
        "| Benchmark | Zephyr-7B-beta (paper) | zephyr-smoke | zephyr-smoke-dpo |"
    mmlu = 100 * first["summary"]["tasks"]["mmlu"]["score"]
    assert f"| MMLU (5-shot, acc) | 61.07 | {mmlu:.2f} | {mmlu:.2f} |" in table
    assert "| MT-Bench (GPT-4 judge, 1-10) | 7.34 | 7.00 | 7.50 |" in table  # -1 is left out
    assert "| AlpacaEval (GPT-4 win rate, %) | 90.60 |  | 12.50 |" in table
    assert "no scores for zephyr-smoke in the files given" in table
