"""Training data: H4-layout splits, checked for the columns each trainer needs."""

from __future__ import annotations

import datasets

from zephyr_train.configs import DataArguments

REQUIRED_COLUMNS = {
    "sft": ("messages",),
    "dpo": ("chosen", "rejected"),
}
SCHEMA_EXAMPLES = {
    "sft": "HuggingFaceH4/ultrachat_200k (pipelines/build_ultrachat.py)",
    "dpo": "HuggingFaceH4/ultrafeedback_binarized (pipelines/build_ultrafeedback.py)",
}


def _load_split(name_or_path: str, split: str, *, task: str, revision: str | None):
    """The project's schema-validating loader when present, else ``datasets.load_dataset``."""
    try:
        from zephyr_data.loading import load_dataset_split
    except ImportError:
        load_dataset_split = None
    if load_dataset_split is not None:
        return load_dataset_split(name_or_path, split, task=task, revision=revision)
    try:
        return datasets.load_dataset(name_or_path, split=split, revision=revision)
    except ValueError as err:
        if "split" in str(err).lower():
            raise ValueError(
                f"Dataset {name_or_path!r} has no split {split!r} ({err}). Set "
                "dataset_train_split/dataset_test_split to one of its splits."
            ) from err
        raise


def check_columns(dataset: datasets.Dataset, *, task: str, name: str, split: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS[task] if c not in dataset.column_names]
    if missing:
        raise ValueError(
            f"Dataset {name!r} split {split!r} has columns {dataset.column_names} but "
            f"{task.upper()} training needs {list(REQUIRED_COLUMNS[task])} (missing {missing}), "
            f"lists of {{role, content}} messages as in {SCHEMA_EXAMPLES[task]}. Point "
            "dataset_name at a dataset with that schema."
        )


def load_split(name_or_path: str, split: str, *, task: str, revision: str | None = None,
               limit: int | None = None) -> datasets.Dataset:
    dataset = _load_split(name_or_path, split, task=task, revision=revision)
    check_columns(dataset, task=task, name=name_or_path, split=split)
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    return dataset


def to_sft_format(dataset: datasets.Dataset) -> datasets.Dataset:
    """Keep only ``messages`` (conversational SFT)."""
    return dataset.select_columns(["messages"])


def _split_pair(example: dict) -> dict:
    chosen, rejected = example["chosen"], example["rejected"]
    for name, conv in (("chosen", chosen), ("rejected", rejected)):
        if len(conv) < 2 or conv[-1]["role"] != "assistant":
            raise ValueError(
                f"Row with prompt_id {example.get('prompt_id')!r}: {name!r} must be a conversation "
                f"ending in an assistant turn, got roles {[m['role'] for m in conv]}."
            )
    if chosen[:-1] != rejected[:-1]:
        raise ValueError(
            f"Row with prompt_id {example.get('prompt_id')!r}: 'chosen' and 'rejected' differ "
            "before the last turn, so they do not answer the same prompt."
        )
    return {"prompt": chosen[:-1], "chosen": chosen[-1:], "rejected": rejected[-1:]}


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
