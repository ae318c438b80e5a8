"""Card prose that several pipelines share."""

from __future__ import annotations

from ..core.config import HUB, OFF
from ..steps.decontamination import load_index


def decontamination_text(setting: str) -> str:
    """A bullet for a card's Method section."""
    if setting == OFF:
        return ("- Decontamination: off (`--decontaminate off`, the default of `--sample` runs, "
                "which are offline). No benchmark prompts were checked.")
    index = load_index(setting)
    assert index is not None
    counts = index.describe()["benchmarks"]
    source = "the Hugging Face Hub" if setting == HUB else f"`{setting}`"
    return (f"- Decontamination (`--decontaminate {setting}`): a dialogue is dropped when any "
            f"user turn matches a prompt of MT-Bench ({counts['mt_bench']['prompts']} turns), "
            f"AlpacaEval ({counts['alpaca_eval']['prompts']}) or TruthfulQA "
            f"({counts['truthfulqa']['prompts']}), loaded from {source}. Text is compared "
            "case-folded, by runs of letters and digits: equal text, or a shared run of "
            f"{index.ngram} tokens (the whole prompt when it is shorter, if it has at least "
            f"{index.min_tokens}). Drops are counted per benchmark as `contaminated_mt_bench`, "
            "`contaminated_alpaca_eval`, `contaminated_truthfulqa`.")
