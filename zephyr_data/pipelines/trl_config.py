"""The ``trl`` config of a preference build: TRL's explicit-prompt conversational preference
format, which TRL 1.16's ``DPOTrainer`` and ``trl dpo`` take as loaded.

The default config keeps the schema of ``HuggingFaceH4/ultrafeedback_binarized``: a string
``prompt`` beside conversational ``chosen``/``rejected`` that repeat the prompt turns. TRL 1.16
takes a ``prompt`` column as given and cannot join a string prompt to conversational
completions, so that layout needs converting. The ``trl`` config is that conversion, written
once at build time:

- ``prompt``: the conversation up to the last user turn, as messages;
- ``chosen``, ``rejected``: the final assistant message of each, as a one-message list;
- ``prompt_id``, ``score_chosen``, ``score_rejected``: as in the default config.

Its splits are ``train`` (from ``train_prefs``) and ``test`` (from ``test_prefs``), the split
names ``trl dpo`` reads by default, so ``trl dpo --dataset_name REPO --dataset_config trl`` needs
no other data option.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pyarrow as pa

from ..core.schema import chat_messages
from .spec import DerivedConfig

NAME = "trl"
SPLITS = {"train": "train_prefs", "test": "test_prefs"}


def features() -> Any:
    from datasets import Features, Value

    return Features({"prompt": chat_messages(), "chosen": chat_messages(),
                     "rejected": chat_messages(), "prompt_id": Value("string"),
                     "score_chosen": Value("float64"), "score_rejected": Value("float64")})


def explicit_prompt(table: pa.Table) -> pa.Table:
    """Rows of the default config as TRL's explicit-prompt pairs (see the module docstring).
    ``chosen`` and ``rejected`` share every turn but the last (the build writes them so)."""
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    chosen = pl.col("chosen")
    return frame.select(
        chosen.list.head(chosen.list.len() - 1).alias("prompt"),
        chosen.list.tail(1).alias("chosen"), pl.col("rejected").list.tail(1).alias("rejected"),
        "prompt_id", "score_chosen", "score_rejected").to_arrow()


def trl_config() -> DerivedConfig:
    return DerivedConfig(NAME, dict(SPLITS), features, explicit_prompt)


CARD = """### Configs: which one for which trainer

- `default` (the schema of `HuggingFaceH4/ultrafeedback_binarized`): code written for the H4
  datasets (the alignment-handbook, reward-model scripts). For SFT on the chosen answers, load
  `train_sft` with `columns=["messages"]`: TRL 1.16's `SFTTrainer` takes any `prompt` column as
  prompt-completion data and fails on the string `prompt` beside `messages`.
- `trl` (splits `train` and `test`): TRL's explicit-prompt conversational preference format,
  `prompt` (the conversation up to the last user turn, as messages), `chosen` and `rejected` (the
  final assistant message of each, as a one-message list), with `prompt_id`, `score_chosen` and
  `score_rejected`. TRL 1.16's `DPOTrainer` trains on it as loaded, and so does the CLI:
  `trl dpo --dataset_name REPO --dataset_config trl ...`. Its `DPOTrainer` does not take the
  default config's rows as they are (a string `prompt` beside conversational `chosen`/`rejected`).

```python
from datasets import load_dataset

pairs = load_dataset("REPO", "trl", split="train")       # DPOTrainer(train_dataset=pairs, ...)
```"""
