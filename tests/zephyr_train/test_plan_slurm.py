"""The plan command and the Slurm launcher's dry run."""

from __future__ import annotations

import pytest

from zephyr_train.plan import PEAK_BF16_FLOPS
from zephyr_train.plan import main as plan_main
from zephyr_train.slurm import expand_hostlist
from zephyr_train.slurm import main as slurm_main

MISTRAL_7B_PARAMS = 7_241_732_096  # from its config.json: 32 layers, d=4096, ffn 14336, 8 KV heads


@pytest.fixture(autouse=True)
def _single_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)


def test_plan_zephyr_7b_sft_on_16_a100(capsys):
    plan = plan_main(["--config", "zephyr-7b/sft", "--num_machines", "2",
                      "--gpus_per_machine", "8", "--gpu", "a100-80gb", "--mfu", "0.4"])
    out = capsys.readouterr().out
    assert plan.world_size == 16 and plan.grad_accum == 2 and plan.global_batch == 512
    assert plan.total_params == MISTRAL_7B_PARAMS
    assert plan.tokens_per_step == 512 * 2048
    assert plan.steps_per_epoch == -(-207_865 // 512)  # ceil(rows / global batch)
    # 3 x the forward's matrix products: 6 x the parameters less the embedding lookup and the
    # RMSNorm weights (2 per layer + the final one), + 12·L·d·s for the attention scores.
    matmul_params = MISTRAL_7B_PARAMS - 32000 * 4096 - (2 * 32 + 1) * 4096
    expected_seconds = (6 * matmul_params + 12 * 32 * 4096 * 2048) * 512 * 2048 / (
        16 * PEAK_BF16_FLOPS["a100-80gb"] * 0.4)
    assert plan.seconds_per_step == pytest.approx(expected_seconds)
    for text in ("world size                 16 processes",
                 "gradient accumulation      2",
                 "global batch               512 = 16 x 16 x 2 sequences of <= 2048 tokens",
                 "tokens per step            1,048,576 = 512 x 2048",
                 f"model parameters           {MISTRAL_7B_PARAMS:,}",
                 "ZeRO-3 model states / GPU",
                 "DeepSpeed config check     accepted (train_batch_size 512",
                 "at 40% MFU"):
        assert text in out
    # 16 bytes per parameter (bf16 weights+grads, fp32 Adam states and master weights) / 16 GPUs
    assert plan.zero3_gpu_bytes >= 16 * MISTRAL_7B_PARAMS / 16


def test_plan_dpo_packs_nothing_and_counts_pairs(capsys):
    plan = plan_main(["--config", "zephyr-7b/dpo", "--architecture", "mistralai/Mistral-7B-v0.1"])
    assert plan.global_batch == 32 and plan.grad_accum == 1
    assert plan.tokens_per_step == 32 * 2 * 1024
    assert plan.total_steps == 3 * -(-61_135 // 32)


def test_plan_rejects_a_batch_that_does_not_divide():
    with pytest.raises(ValueError, match="16 x world size 24 = 384"):
        plan_main(["--config", "zephyr-7b/sft", "--num_machines", "3"])


def test_hostlist_expansion():
    assert expand_hostlist("gpu[07-08]") == ["gpu07", "gpu08"]
    assert expand_hostlist("a[1,3-4]-ib,login") == ["a1-ib", "a3-ib", "a4-ib", "login"]


def test_slurm_dry_run_prints_both_nodes(capsys):
    env = {"SLURM_JOB_NODELIST": "gpu[07-08]", "SLURM_NNODES": "2", "SLURM_GPUS_ON_NODE": "8"}
    assert slurm_main(["--recipe", "zephyr-7b/sft", "--dry-run"], env=env) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]
    assert [line.split()[0] for line in lines] == ["[gpu07]", "[gpu08]"]
    for rank, line in enumerate(lines):
        assert f"--machine_rank {rank} " in line
        assert "--num_machines 2 --num_processes 16 " in line
        assert "--main_process_ip gpu07 --main_process_port 29500" in line
        assert line.endswith("-m zephyr_train.sft --config zephyr-7b/sft")
        assert "accelerate_configs/zero3.yaml" in line


def test_slurm_needs_an_allocation():
    with pytest.raises(ValueError, match="SLURM_JOB_NODELIST is unset"):
        slurm_main(["--recipe", "zephyr-7b/dpo", "--dry-run"], env={})


def test_sbatch_script(capsys):
    slurm_main(["--recipe", "zephyr-7b/dpo", "--print-sbatch"], env={})
    script = capsys.readouterr().out
    assert "#SBATCH --nodes=2" in script and "#SBATCH --gpus-per-node=8" in script
    assert "srun python -m zephyr_train.slurm --recipe zephyr-7b/dpo" in script
