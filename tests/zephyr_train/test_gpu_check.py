"""The prepared GPU check (issue 18): its CPU dry run, failure isolation, bundle, wheel list,
FLOP accounting and sizing."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, MistralConfig
from trl.trainer.utils import compute_flops_per_token

from tests.support.paths import REPO as REPO_ROOT
from zephyr_train.flops import PEAK_BF16_FLOPS, training_flops_per_token
from zephyr_train.gpu_check import sizing
from zephyr_train.gpu_check.__main__ import main as check_main
from zephyr_train.gpu_check.bundle import Bundle
from zephyr_train.gpu_check.config import GPUCheckArguments
from zephyr_train.gpu_check.metrics import FlopCounter
from zephyr_train.gpu_check.pack import main as pack_main
from zephyr_train.gpu_check.wheels import (
    WHEELS,
    applies_on_gpu_machine,
    unmet_requirements,
    wheel_requirements,
)
from zephyr_train.modeling import tokenizer_from

pytestmark = pytest.mark.slow
# What the GPU machine lacks and the check must not need there (zephyr_data's build stack and
# mistral-common stay on the machine that packs).
ABSENT_ON_GPU = ("mistral_common", "deepspeed", "polars", "truecase", "nltk", "flash_attn",
                 "vllm")
DRY_RUN_MODEL = MistralConfig(vocab_size=32000, hidden_size=64, intermediate_size=128,
                              num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)


def _blocker(folder: Path, modules) -> Path:
    """A sitecustomize that makes ``modules`` unimportable in a subprocess (put it first on
    PYTHONPATH)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in modules))
    return folder


def _run(args: list[str], blocked: Path, **env) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, PYTHONPATH=str(blocked), OMP_NUM_THREADS="1",
                    TOKENIZERS_PARALLELISM="false", **env)
    return subprocess.run([sys.executable, "-m", "zephyr_train.gpu_check", *args],
                          cwd=REPO_ROOT, env=full_env, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory, smoke_data, shared_data) -> Path:
    root = tmp_path_factory.mktemp("bundle") / "gpu_check"
    chat, feedback = smoke_data
    assert pack_main(["--no-wheels", "--dir", str(root), "--ultrachat", str(chat),
                      "--ultrafeedback", str(feedback), "--questions",
                      str(shared_data / "benchmarks" / "mt_bench_question.jsonl")]) == 0
    return root


@pytest.fixture(scope="module")
def dry_run(bundle_dir, tmp_path_factory):
    """``python -m zephyr_train.gpu_check --config gpu_check/dry_run`` in a subprocess where the
    packages absent on the GPU machine cannot be imported."""
    work = tmp_path_factory.mktemp("dry_run")
    out = work / "out"
    proc = _run(["--config", "gpu_check/dry_run", "--bundle", str(bundle_dir), "--output_dir",
                 str(out), "--checkpoint_dir", str(work / "checkpoints")],
                _blocker(work / "blocked", ABSENT_ON_GPU))
    report = json.loads((out / "gpu_check.json").read_text()) if (
        out / "gpu_check.json").exists() else None
    return proc, report, out


def test_dry_run_passes_every_part(dry_run):
    proc, report, _ = dry_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert [(name, part["status"]) for name, part in report["parts"].items()] == [
        ("environment", "ok"), ("sft", "ok"), ("dpo", "ok"), ("generation", "ok")]
    assert report["summary"]["ok"] and report["summary"]["failed_parts"] == []
    env = report["parts"]["environment"]
    assert env["attn_implementation"] == "sdpa" and env["flash_attn_2_available"] is False
    assert env["unmet_requirements"] == [] and env["bundle_missing"] == []
    assert all(env["packages"][name] for name in ("torch", "transformers", "trl", "datasets"))
    assert "GPU check on CPU" in proc.stdout and "whole check" in proc.stdout


def test_dry_run_counts_tokens_and_model_flops_exactly(dry_run):
    _, report, _ = dry_run
    sft, dpo = report["parts"]["sft"], report["parts"]["dpo"]
    # Packed SFT: every micro-batch is 2 full rows of 128 tokens, 2 micro-batches a step.
    assert sft["step_tokens"] == [4 * 128] * 3
    per_token = training_flops_per_token(DRY_RUN_MODEL, 128)
    assert sft["step_flops"] == pytest.approx([4 * 128 * per_token] * 3, rel=1e-9)
    assert sft["packing"] == "wrapped" and sft["gradient_accumulation_steps"] == 2
    assert sft["data"]["rows"] == 89 and sft["data"]["tokens_per_copy"] == 35_161
    speed = sft["throughput"]
    assert speed["steps_measured"] == 2 and speed["first_step_measured"] == 2
    assert speed["seconds_measured"] == pytest.approx(sum(sft["step_seconds"][1:]))
    assert speed["tokens_per_second_per_gpu"] == pytest.approx(
        2 * 4 * 128 / speed["seconds_measured"])
    assert speed["mfu"] == pytest.approx(sum(sft["step_flops"][1:])
                                         / speed["seconds_measured"] / 1e12)  # peak: 1 TFLOP/s
    # DPO: chosen + rejected of 2 pairs a step at their real lengths, with the reference forward.
    assert dpo["starts_from"] == "the SFT checkpoint" and len(dpo["step_tokens"]) == 2
    for tokens, flops in zip(dpo["step_tokens"], dpo["step_flops"]):
        assert 4 <= tokens <= 4 * 128
        low = training_flops_per_token(DRY_RUN_MODEL, 1, reference_forward=True)
        high = training_flops_per_token(DRY_RUN_MODEL, 128, reference_forward=True)
        assert low * tokens < flops <= high * tokens
    for part in (sft, dpo):
        assert all(math.isfinite(x) for x in part["losses"]) and len(part["losses"]) >= 2
        assert part["peak_gpu_memory_gib"] is None and part["peak_host_memory_gib"] > 0
        assert part["attn_implementation"] == "sdpa" and part["bf16"] is True
        assert part["activation_checkpointing"] is True


def test_dry_run_writes_mt_bench_answers_in_fastchat_format(dry_run, bundle_dir):
    _, report, out = dry_run
    gen = report["parts"]["generation"]
    path = out / "mt_bench" / "model_answer" / "zephyr-gpu-check.jsonl"
    assert gen["answers_file"] == str(path) and gen["model"] == "the DPO checkpoint"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    questions = [json.loads(line) for line in Bundle(bundle_dir).questions.read_text()
                 .splitlines()][:2]
    assert [r["question_id"] for r in records] == sorted(q["question_id"] for q in questions)
    for rec in records:
        assert set(rec) == {"question_id", "answer_id", "model_id", "choices", "tstamp"}
        assert rec["model_id"] == "zephyr-gpu-check" and len(rec["choices"][0]["turns"]) == 2
    assert 0 < gen["generated_tokens"] <= 2 * 2 * 4  # 2 questions x 2 turns x 4 new tokens
    assert gen["tokens_per_second"] == pytest.approx(gen["generated_tokens"]
                                                     / gen["generate_seconds"])


def test_a_failed_part_is_reported_and_the_next_parts_still_run(bundle_dir, tmp_path, capsys):
    status = check_main(["--config", "gpu_check/dry_run", "--bundle", str(bundle_dir),
                         "--output_dir", str(tmp_path), "--sft_recipe", "no/such_recipe"])
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    parts = report["parts"]
    assert status == 1 and report["summary"]["failed_parts"] == ["sft"]
    assert parts["sft"]["error"]["type"] == "RecipeError"
    assert "'no/such_recipe' is neither a file nor a packaged recipe" in parts["sft"]["error"][
        "message"]
    assert parts["dpo"]["status"] == "ok"
    assert parts["dpo"]["starts_from"].startswith("random weights")
    assert parts["generation"]["status"] == "ok" and parts["generation"]["model"] == (
        "the DPO checkpoint")
    assert "RecipeError: Recipe 'no/such_recipe'" in capsys.readouterr().out


def test_a_missing_bundle_fails_each_part_with_the_pack_command(tmp_path):
    status = check_main(["--config", "gpu_check/dry_run", "--bundle", str(tmp_path / "none"),
                         "--output_dir", str(tmp_path / "out")])
    report = json.loads((tmp_path / "out" / "gpu_check.json").read_text())
    assert status == 1
    for name, part in report["parts"].items():
        assert part["status"] == "failed", name
        assert part["error"]["type"] == "FileNotFoundError"
        assert "tokenizer.json (Mistral tokenizer)" in part["error"]["message"]
        assert "python -m zephyr_train.gpu_check.pack" in part["error"]["hint"]


def test_without_trl_the_check_says_how_to_install_the_wheels(tmp_path):
    proc = _run(["--config", "gpu_check/dry_run"], _blocker(tmp_path, ("trl",)))
    assert proc.returncode == 2
    assert "pip install --no-index --no-deps .whl/gpu_check/wheels/*.whl" in proc.stderr


def test_bundle_is_reproducible_and_its_tokenizer_is_mistrals(bundle_dir, smoke_data,
                                                               shared_data, tmp_path):
    again = tmp_path / "again"
    chat, feedback = smoke_data
    assert pack_main(["--no-wheels", "--dir", str(again), "--ultrachat", str(chat),
                      "--ultrafeedback", str(feedback), "--questions",
                      str(shared_data / "benchmarks" / "mt_bench_question.jsonl")]) == 0
    first = json.loads(Bundle(bundle_dir).manifest.read_text())["files"]
    assert first == json.loads(Bundle(again).manifest.read_text())["files"]
    assert "tokenizer/tokenizer.json" in first and not Bundle(bundle_dir).missing()
    questions = [json.loads(line) for line in Bundle(bundle_dir).questions.read_text()
                 .splitlines()]
    assert len({q["category"] for q in questions}) == len(questions) == 8
    saved = tokenizer_from(str(Bundle(bundle_dir).tokenizer))
    mistral = tokenizer_from("mistral-common:tokenizer.model.v1")
    texts = [turn for q in questions for turn in q["turns"]]
    texts.append(mistral.apply_chat_template([{"role": "user", "content": texts[0]},
                                              {"role": "assistant", "content": texts[1]}],
                                             tokenize=False))
    assert saved(texts)["input_ids"] == mistral(texts)["input_ids"]
    assert saved.chat_template == mistral.chat_template
    assert (saved.pad_token, saved.eos_token) == ("<unk>", "</s>")


def test_pinned_wheels_cover_what_the_gpu_machine_lacks():
    """Every requirement of the pinned packages (as installed here) is on the GPU machine or
    shipped; without dill, datasets' and multiprocess' need of it is reported."""
    from importlib.metadata import distribution

    from packaging.requirements import Requirement

    requirements = {f"{w.name} {distribution(w.name).version}": [
        r for r in map(Requirement, distribution(w.name).requires or [])
        if applies_on_gpu_machine(r)] for w in WHEELS}
    shipped = {w.name: w.version for w in WHEELS}
    assert {"trl", "datasets", "dill", "multiprocess", "transformers"} == set(shipped)
    assert unmet_requirements(requirements, shipped) == []
    del shipped["dill"]
    problems = unmet_requirements(requirements, shipped)
    assert {p.split()[0] for p in problems} == {"datasets", "multiprocess"}
    assert all(" needs dill" in p and p.endswith("add it to WHEELS.") for p in problems)


def test_wheel_metadata_is_read_for_python_3_12_on_linux(tmp_path):
    path = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("demo-1.0.dist-info/METADATA", "\n".join([
            "Metadata-Version: 2.1", "Name: demo", "Version: 1.0",
            "Requires-Dist: trl>=1.0", "Requires-Dist: tomli; python_version < '3.11'",
            "Requires-Dist: pytest; extra == 'dev'", "Requires-Dist: pywin32; sys_platform == "
            "'win32'", "Requires-Dist: transformers>=5.20"]) + "\n")
    reqs = wheel_requirements(path)
    assert [str(r) for r in reqs] == ["trl>=1.0", "transformers>=5.20"]
    assert unmet_requirements({"demo": reqs}, {"trl": "1.16.0"}) == [
        "demo needs transformers>=5.20, but transformers 5.17.0 is what the GPU machine would "
        "have."]


def test_flop_counter_counts_real_tokens_of_each_sequence():
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(DRY_RUN_MODEL)
    counter = FlopCounter(model.config)
    counter.attach(model)
    ids = torch.randint(0, 32000, (2, 6))
    mask = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0]])
    forward = sum(t * compute_flops_per_token(DRY_RUN_MODEL, t) / 3 for t in (5, 3))
    model.train()
    model(input_ids=ids, attention_mask=mask)
    assert counter.take() == (8, pytest.approx(3 * forward))
    with torch.no_grad():
        model(input_ids=ids, attention_mask=mask)  # not training: not counted
    assert counter.take() == (0, 0.0)
    counter.detach()
    reference = AutoModelForCausalLM.from_config(DRY_RUN_MODEL).eval()
    counter.attach(reference, reference=True)
    with torch.no_grad():
        reference(input_ids=ids)  # no mask: every position is real
    assert counter.take() == (0, pytest.approx(2 * 6 * compute_flops_per_token(DRY_RUN_MODEL, 6)
                                               / 3))


def test_peak_flops_are_the_datasheet_figures():
    assert PEAK_BF16_FLOPS == {"a100-40gb": 312e12, "a100-80gb": 312e12,
                               "h100-80gb": 989e12, "h200": 989e12, "a10-24gb": 125e12,
                               "l4-24gb": 121e12, "rtx4090-24gb": 165e12}


def test_default_check_is_sized_under_five_minutes_on_an_h200(smoke_data):
    args = GPUCheckArguments()
    assert args.model_config["hidden_size"] == 4096 and args.model_config[
        "num_hidden_layers"] == 4
    for mfu in (0.30, 0.15):
        rows = sizing.estimate(args, gpu="h200", mfu=mfu)
        assert sum(r.seconds for r in rows) < 300, sizing.format_estimate(args, gpu="h200",
                                                                          mfu=mfu)
    sft = next(r for r in sizing.estimate(args, gpu="h200", mfu=0.3) if r.what == "SFT training")
    assert sft.how.startswith("983,040 tokens x 6.42 GFLOP")  # 30 steps x 16 x 2,048
    # The sample sizes the estimate assumes are those of the sample builds.
    import pyarrow.parquet as pq

    chat, feedback = smoke_data
    rows = pq.read_table(next((chat / "data").glob("train_sft-*.parquet"))).to_pylist()
    tokenizer = tokenizer_from("mistral-common:tokenizer.model.v1")
    texts = [tokenizer.apply_chat_template(r["messages"], tokenize=False) for r in rows]
    tokens = sum(map(len, tokenizer(texts, add_special_tokens=False)["input_ids"]))
    pairs = pq.ParquetFile(next((feedback / "data").glob("train_prefs-*.parquet")))
    assert (len(rows), tokens, pairs.metadata.num_rows) == (
        sizing.SAMPLE_SFT_ROWS, sizing.SAMPLE_SFT_TOKENS, sizing.SAMPLE_DPO_PAIRS)


@pytest.mark.parametrize("override, message", [
    (["--sft_global_batch", "12"], "sft_global_batch=12 must be a multiple of "
                                   "sft_per_device_batch=8"),
    (["--dpo_steps", "3"], "dpo_steps=3 leaves no step to time after timing_warmup_steps=3"),
    (["--device", "tpu"], "device='tpu' must be 'cuda' (the check) or 'cpu'"),
])
def test_arguments_are_checked(override, message):
    from zephyr_train.configs import RecipeError, parse_dataclasses

    with pytest.raises(RecipeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_dataclasses((GPUCheckArguments,), override)
