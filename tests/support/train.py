"""What the zephyr_train tests share: tiny H4-layout folders, the sample builds and the smoke
SFT/DPO runs, each made once per test session (``tests/zephyr_train/conftest.py`` wraps them as
fixtures)."""

from __future__ import annotations

import atexit
import functools
import hashlib
import shutil
import tempfile
from pathlib import Path

import datasets

_TOPICS = ["the tides", "prime numbers", "sourdough bread", "the Roman Senate", "photosynthesis",
           "binary search", "jazz harmony", "glaciers", "the printing press", "honeybees",
           "compound interest", "volcanoes"]


def _id(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _write_hub_folder(root: Path, splits: dict[str, list[dict]]) -> Path:
    """Write ``data/{split}-00000-of-00001.parquet`` + README.md, as on the Hub."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        datasets.Dataset.from_list(rows).to_parquet(
            root / "data" / f"{split}-00000-of-00001.parquet")
    (root / "README.md").write_text("---\nlicense: mit\n---\n# Test fixture\n")
    return root


def _chat(topic: str, turns: int) -> list[dict]:
    messages = []
    for t in range(turns):
        messages.append({"role": "user", "content": f"Question {t + 1}: explain {topic} simply."})
        messages.append({"role": "assistant",
                         "content": f"Here is a plain account of {topic}, part {t + 1}. " * 3})
    return messages


def write_ultrachat_like(root: Path, n: int = 24) -> Path:
    """A tiny folder with the schema of HuggingFaceH4/ultrachat_200k."""
    def rows(offset):
        out = []
        for i in range(n):
            topic = _TOPICS[(i + offset) % len(_TOPICS)]
            messages = _chat(topic, 1 + i % 3)
            prompt = messages[0]["content"]
            out.append({"prompt": prompt, "prompt_id": _id(prompt + str(i)),
                        "messages": messages})
        return out
    return _write_hub_folder(root, {"train_sft": rows(0), "test_sft": rows(3)[:8],
                                    "train_gen": rows(5)[:8], "test_gen": rows(7)[:8]})


def build_data(root: Path) -> tuple[Path, Path]:
    """UltraChat- and UltraFeedback-shaped folders, each from the real pipeline run on its
    bundled sample."""
    from pipelines import build_ultrachat, build_ultrafeedback

    chat, feedback = root / "ultrachat", root / "ultrafeedback"
    for build, out in ((build_ultrachat, chat), (build_ultrafeedback, feedback)):
        assert build.main(["--sample", "--output-dir", str(out), "--no-progress"]) == 0
    return chat, feedback


# Runs shared by all test modules. They are cached at module level (not only as pytest session
# fixtures) so that every test module importing this file reuses the same data and checkpoints.
@functools.cache
def _workdir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="zephyr-train-tests-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@functools.cache
def smoke_data_dirs() -> tuple[Path, Path]:
    return build_data(_workdir() / "data")


def _one_thread(fn):
    """Train with one intra-op thread: on a small shared CPU machine, two threads competing with
    other processes are several times slower than one."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)
    return wrapper


@functools.cache
@_one_thread
def sft_run() -> tuple[Path, list[dict]]:
    """The smoke SFT recipe, trained once: (checkpoint directory, trainer log history)."""
    from zephyr_train.sft import main

    chat, _ = smoke_data_dirs()
    out = _workdir() / "sft"
    trainer = main(["--config", "smoke/sft", "--dataset_name", str(chat),
                    "--output_dir", str(out)])
    return out, list(trainer.state.log_history)


@functools.cache
@_one_thread
def dpo_run() -> tuple[Path, list[dict]]:
    """The smoke DPO recipe from the smoke SFT checkpoint: (checkpoint, log history)."""
    from zephyr_train.dpo import main

    sft_dir, _ = sft_run()
    _, feedback = smoke_data_dirs()
    out = _workdir() / "dpo"
    trainer = main(["--config", "smoke/dpo", "--dataset_name", str(feedback),
                    "--model_name_or_path", str(sft_dir), "--output_dir", str(out)])
    return out, list(trainer.state.log_history)


@functools.cache
@_one_thread
def lora_sft_run():
    """The smoke LoRA SFT recipe on the smoke SFT checkpoint (the stand-in base), shortened to
    6 steps: (adapter directory, trainer)."""
    from zephyr_train.sft import main

    base, _ = sft_run()
    chat, _ = smoke_data_dirs()
    out = _workdir() / "sft-lora"
    trainer = main(["--config", "smoke/sft-lora", "--dataset_name", str(chat),
                    "--model_name_or_path", str(base), "--output_dir", str(out),
                    "--max_steps", "6"])
    return out, trainer


@functools.cache
@_one_thread
def lora_dpo_run():
    """The smoke LoRA DPO recipe from the LoRA SFT adapter, shortened to 4 steps:
    (adapter directory, trainer)."""
    from zephyr_train.dpo import main

    sft_adapter, _ = lora_sft_run()
    _, feedback = smoke_data_dirs()
    out = _workdir() / "dpo-lora"
    trainer = main(["--config", "smoke/dpo-lora", "--dataset_name", str(feedback),
                    "--model_name_or_path", str(sft_adapter), "--output_dir", str(out),
                    "--max_steps", "4", "--max_length", "128"])
    return out, trainer
