"""Training data: H4-layout splits, loaded and checked with ``zephyr_data``'s loader (the one
chat-schema check: roles, alternation, and for DPO a shared prompt)."""

from __future__ import annotations

import datasets

from zephyr_data import load_dataset_split
from zephyr_train.configs import DataArguments


def load_split(name_or_path: str, split: str, *, task: str, revision: str | None = None,
               limit: int | None = None) -> datasets.Dataset:
    dataset = load_dataset_split(name_or_path, split, task=task, revision=revision)
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    return dataset


def to_sft_format(dataset: datasets.Dataset) -> datasets.Dataset:
    """Keep only ``messages`` (conversational SFT)."""
    return dataset.select_columns(["messages"])


def _split_pair(example: dict) -> dict:
    """The loader checked that chosen and rejected end with an assistant turn and share every
    turn before it: that shared prefix is the prompt."""
    return {"prompt": example["chosen"][:-1], "chosen": example["chosen"][-1:],
            "rejected": example["rejected"][-1:]}


def to_dpo_format(dataset: datasets.Dataset) -> datasets.Dataset:
    """UltraFeedback rows -> TRL's explicit-prompt conversational preference format."""
    return dataset.map(_split_pair, remove_columns=dataset.column_names,
                       desc="Splitting prompt from completions")


def load_train_eval(args: DataArguments, task: str):
    train = load_split(args.dataset_name, args.dataset_train_split, task=task,
                       revision=args.dataset_revision, limit=args.max_train_samples)
    test = None
    if args.dataset_test_split:
        test = load_split(args.dataset_name, args.dataset_test_split, task=task,
                          revision=args.dataset_revision, limit=args.max_eval_samples)
    fmt = to_sft_format if task == "sft" else to_dpo_format
    return fmt(train), (fmt(test) if test is not None else None)
