"""Training data: H4-layout splits, loaded and checked with ``zephyr_data``'s loader (the one
chat-schema check: roles, alternation, and for DPO a shared prompt).

A preference build's ``trl`` config (``--dataset_config trl``) is already in TRL's
explicit-prompt conversational format and goes to ``DPOTrainer`` as loaded; the default config
of a preference dataset in the H4 layout (a string ``prompt`` beside conversational
``chosen``/``rejected``, which TRL 1.16 does not take) is converted to that format.
"""

from __future__ import annotations

import datasets

from zephyr_data import load_dataset_split
from zephyr_train.configs import DataArguments


def load_split(name_or_path: str, split: str, *, task: str, revision: str | None = None,
               limit: int | None = None, config: str | None = None) -> datasets.Dataset:
    dataset = load_dataset_split(name_or_path, split, task=task, revision=revision,
                                 config=config)
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    return dataset


def to_sft_format(dataset: datasets.Dataset) -> datasets.Dataset:
    """Keep only ``messages`` (conversational SFT): TRL 1.16's ``SFTTrainer`` takes a ``prompt``
    column, which the H4 layout has beside ``messages``, as prompt-completion data."""
    return dataset.select_columns(["messages"])


def is_explicit_prompt(dataset: datasets.Dataset) -> bool:
    """Whether the rows are in TRL's explicit-prompt conversational format: a ``prompt`` of
    messages (the loader checked ``chosen``/``rejected`` are its completions)."""
    return isinstance(dataset.features.get("prompt"), (datasets.List, list))


def _split_pair(example: dict) -> dict:
    """The loader checked that chosen and rejected end with an assistant turn and share every
    turn before it: that shared prefix is the prompt."""
    return {"prompt": example["chosen"][:-1], "chosen": example["chosen"][-1:],
            "rejected": example["rejected"][-1:]}


def to_dpo_format(dataset: datasets.Dataset) -> datasets.Dataset:
    """Rows for ``DPOTrainer``: a ``trl`` config as loaded; H4-layout rows converted to TRL's
    explicit-prompt conversational preference format."""
    if is_explicit_prompt(dataset):
        return dataset
    return dataset.map(_split_pair, remove_columns=dataset.column_names,
                       desc="Splitting prompt from completions")


def load_train_eval(args: DataArguments, task: str):
    def load(split: str, limit: int | None) -> datasets.Dataset:
        return load_split(args.dataset_name, split, task=task, revision=args.dataset_revision,
                          limit=limit, config=args.dataset_config)

    train = load(args.dataset_train_split, args.max_train_samples)
    test = load(args.dataset_test_split, args.max_eval_samples) \
        if args.dataset_test_split else None
    fmt = to_sft_format if task == "sft" else to_dpo_format
    return fmt(train), (fmt(test) if test is not None else None)
