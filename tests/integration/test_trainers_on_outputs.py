"""The outputs load with ``datasets`` and train TRL's trainers as loaded, with the tiny smoke
model of ``zephyr_train/recipes/smoke`` (random weights, the real Mistral-7B tokenizer) on the
CPU: the preference build's default config in the exact schema of
``HuggingFaceH4/ultrafeedback_binarized``, its ``trl`` config for ``DPOTrainer`` and
``trl dpo``, and ``messages`` for ``SFTTrainer``."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from datasets import Features, List, Value, load_dataset

from tests.support.paths import REPO
from tests.support.ultrafeedback import run_build
from zephyr_data import load_dataset_split
from zephyr_data.io.writer import data_fingerprint

SPLITS = ["train_prefs", "test_prefs", "train_sft", "test_sft", "train_gen", "test_gen"]
MESSAGES = List({"content": Value("string"), "role": Value("string")})
# The dataset_info.features of HuggingFaceH4/ultrafeedback_binarized, written out by hand.
H4_FEATURES = Features({"prompt": Value("string"), "prompt_id": Value("string"),
                        "chosen": MESSAGES, "rejected": MESSAGES, "messages": MESSAGES,
                        "score_chosen": Value("float64"), "score_rejected": Value("float64")})
TRL_FEATURES = Features({"prompt": MESSAGES, "chosen": MESSAGES, "rejected": MESSAGES,
                         "prompt_id": Value("string"), "score_chosen": Value("float64"),
                         "score_rejected": Value("float64")})
SMOKE_MODEL = yaml.safe_load((REPO / "zephyr_train/recipes/smoke/sft.yaml").read_text())[
    "random_init_config"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("uf_sample") / "out"
    run_build(["--sample", "--output-dir", str(out)])
    return out


@pytest.fixture(scope="module")
def sample_dataset(folder):
    return load_dataset(str(folder))


@pytest.fixture(scope="module")
def tokenizer():
    from zephyr_train.modeling import tokenizer_from

    return tokenizer_from("mistral-common:tokenizer.model.v1")  # with the Zephyr template


def smoke_model():
    import torch
    from transformers import MistralConfig, MistralForCausalLM

    torch.manual_seed(0)
    return MistralForCausalLM(MistralConfig(**SMOKE_MODEL))


def train_args(tmp_path, config_class):
    return config_class(output_dir=str(tmp_path / "run"), per_device_train_batch_size=2,
                        max_steps=2, max_length=128, bf16=False, report_to=[], use_cpu=True,
                        logging_steps=1, save_strategy="no")


def two_steps(trainer) -> list[float]:
    assert trainer.train().global_step == 2
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert len(losses) == 2 and all(0.0 < loss < 20.0 for loss in losses)
    return losses


def test_six_splits_with_the_h4_features(sample_dataset):
    assert sorted(sample_dataset) == sorted(SPLITS)
    for split in SPLITS:
        assert sample_dataset[split].features == H4_FEATURES, split
        assert sample_dataset[split].column_names == list(H4_FEATURES)
    assert sample_dataset["train_prefs"].num_rows > sample_dataset["test_prefs"].num_rows > 0
    assert sample_dataset["train_sft"]["prompt_id"] == sample_dataset["train_prefs"]["prompt_id"]


def test_trl_reads_the_rows_as_conversational_preferences(sample_dataset):
    from trl.data_utils import is_conversational, maybe_extract_prompt

    row = sample_dataset["train_prefs"][0]
    assert is_conversational({"chosen": row["chosen"]})
    extracted = maybe_extract_prompt(row)  # TRL's handling of exactly this H4 layout
    assert extracted["prompt"] == [{"content": row["prompt"], "role": "user"}]
    assert extracted["chosen"] == row["chosen"][1:] and extracted["rejected"] == row["rejected"][1:]


def test_the_trl_config_holds_the_default_configs_pairs(folder, sample_dataset):
    trl = load_dataset(str(folder), "trl")
    assert sorted(trl) == ["test", "train"]
    for split, source in (("train", "train_prefs"), ("test", "test_prefs")):
        assert trl[split].features == TRL_FEATURES
        for mine, h4 in zip(trl[split], sample_dataset[source], strict=True):
            assert mine["prompt"] == h4["chosen"][:-1] == [{"content": h4["prompt"],
                                                           "role": "user"}]
            assert (mine["chosen"], mine["rejected"]) == (h4["chosen"][-1:], h4["rejected"][-1:])
            assert (mine["prompt_id"], mine["score_chosen"], mine["score_rejected"]) == \
                (h4["prompt_id"], h4["score_chosen"], h4["score_rejected"])
    # written by the build's writer: listed and hashed in the manifest, in the fingerprint; the
    # default config's files are byte for byte what they were before the trl config existed
    manifest = json.loads((folder / "manifest.json").read_text())
    assert sorted(f for f in manifest["files"] if f.startswith("trl/")) == \
        ["trl/test-00000-of-00001.parquet", "trl/train-00000-of-00001.parquet"]
    assert data_fingerprint(folder, ["trl"])[0] == manifest["fingerprint"]
    assert manifest["fingerprint"].startswith("d6c4009104e7c805")
    assert data_fingerprint(folder)[0].startswith("1a7a97691025c9c9")  # data/ alone
    # the loader checks the explicit-prompt format, and the files against the manifest
    assert len(load_dataset_split(str(folder), "train", task="dpo", config="trl")) == 110
    card = (folder / "README.md").read_text()
    assert "trl dpo --dataset_name REPO --dataset_config trl" in card
    assert 'columns=["messages"]' in card


def test_a_changed_trl_file_is_caught_on_load(folder, tmp_path):
    import shutil

    from zephyr_data.io.integrity import IntegrityError

    copy_ = tmp_path / "copy"
    shutil.copytree(folder, copy_)
    shutil.copyfile(copy_ / "trl" / "test-00000-of-00001.parquet",
                    copy_ / "trl" / "train-00000-of-00001.parquet")  # valid parquet, other rows
    with pytest.raises(IntegrityError, match="train-00000-of-00001.parquet: its sha256 differs"):
        load_dataset_split(str(copy_), "train", task="dpo", config="trl")
    assert len(load_dataset_split(str(copy_), "train_prefs", task="dpo")) == 110  # untouched


@pytest.mark.slow
def test_dpo_trainer_trains_two_steps_on_the_trl_config_as_loaded(folder, tokenizer, tmp_path):
    from trl import DPOConfig, DPOTrainer

    model = smoke_model()
    args = train_args(tmp_path, DPOConfig)
    # the default config as loaded is the H4 layout, which TRL 1.16 cannot take: a string
    # prompt beside conversational chosen/rejected. How it fails depends on the hash seed:
    # trl.data_utils.is_conversational pops one key from a set, and either sees the string
    # prompt (then add_eos calls .endswith on a list) or a message list (then the chat
    # template concatenates a str and a list).
    with pytest.raises((TypeError, AttributeError),
                       match="can only concatenate str|has no attribute 'endswith'"):
        DPOTrainer(model=model, ref_model=copy.deepcopy(model), args=args,
                   train_dataset=load_dataset(str(folder), split="train_prefs"),
                   processing_class=tokenizer)
    pairs = load_dataset(str(folder), "trl", split="train")
    trainer = DPOTrainer(model=model, ref_model=copy.deepcopy(model), args=args,
                         train_dataset=pairs, processing_class=tokenizer)
    first = trainer.train_dataset[0]
    assert tokenizer.decode(first["prompt_ids"]) == \
        f"<|user|>\n{pairs[0]['prompt'][0]['content']}</s>\n<|assistant|>\n"
    assert tokenizer.decode(first["chosen_ids"]).startswith(pairs[0]["chosen"][0]["content"][:20])
    two_steps(trainer)


@pytest.mark.slow
def test_sft_trainer_trains_on_messages_as_loaded(ultrachat_sample, tokenizer, tmp_path):
    from trl import SFTConfig, SFTTrainer

    sft = load_dataset(str(ultrachat_sample[0]), split="train_sft", columns=["messages"])
    trainer = SFTTrainer(model=smoke_model(), args=train_args(tmp_path, SFTConfig),
                         train_dataset=sft, processing_class=tokenizer)
    two_steps(trainer)


@pytest.mark.slow
def test_the_trl_dpo_command_runs_on_the_trl_config(folder, tokenizer, tmp_path):
    """``trl dpo`` launches TRL's ``scripts/dpo.py`` under accelerate; its parser and ``main``
    run here in-process, with nothing but the dataset's folder and ``--dataset_config trl``."""
    from trl.scripts.dpo import main, make_parser

    model_dir = tmp_path / "model"
    smoke_model().save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    argv = ["--model_name_or_path", str(model_dir), "--dataset_name", str(folder),
            "--dataset_config", "trl", "--output_dir", str(tmp_path / "out"),
            "--max_steps", "2", "--per_device_train_batch_size", "2", "--max_length", "128",
            "--bf16", "false", "--use_cpu", "true", "--report_to", "none",
            "--save_strategy", "no", "--logging_steps", "1", "--dtype", "float32"]
    main(*make_parser().parse_args_and_config(argv))
    assert (tmp_path / "out" / "model.safetensors").is_file()
