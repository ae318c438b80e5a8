"""The prose of the UltraChat dataset card: what the build did, closely enough that a reader of
the card alone can build it again."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .cards import decontamination_text

if TYPE_CHECKING:
    from .ultrachat import UltraChatConfig

INTRO = ("Multi-turn dialogues from UltraChat, filtered and truecased as in the "
         "Zephyr-7B recipe (Tunstall et al., 2023), in the schema of "
         "`HuggingFaceH4/ultrachat_200k`: `prompt` (the first user turn), `prompt_id` "
         "(`sha256(prompt.encode('utf-8')).hexdigest()`) and `messages` "
         "(`[{content, role}]`: a system turn, if the input had one, then user and "
         "assistant alternating).")


def splits(config: UltraChatConfig) -> str:
    share = config.test_share
    return (f"A dialogue goes to a test split when the first 64 bits of its `prompt_id` fall "
            f"in the lowest {share:.0%} of their range, so the same prompt always lands on "
            "the same side and no prompt is in both train and test. `train_sft`/`test_sft` "
            "are for supervised fine-tuning on whole dialogues. `train_gen`/`test_gen` hold "
            "the same rows: they are for generation (sampling answers to `prompt`, e.g. for "
            "rejection sampling or on-policy preference data).\n\n"
            "With TRL 1.16's `SFTTrainer`, load `messages` alone: "
            "`load_dataset(REPO, split=\"train_sft\", columns=[\"messages\"])`. It takes any "
            "`prompt` column as prompt-completion data and fails on the string `prompt` beside "
            "`messages` (as on `HuggingFaceH4/ultrachat_200k`).")


def method(config: UltraChatConfig) -> str:
    names, persona = config.filter_rules()
    rules = "\n".join(
        f"  - `{n}`" + (": an assistant turn matches one of these patterns (case-insensitive):"
                        + "".join(f"\n    - `{p}`" for p in persona[n]) if n in persona else "")
        for n in names)
    target = (f"{config.target_size:,} dialogues were sampled with seed "
              f"{config.seed} (`over_target_size` counts the rest)"
              if config.target_size else "every kept dialogue is in the output")
    fmt = config.input_format
    read = ("raw UltraChat rows (`data`: turns by position)" if fmt == "ultrachat" else
            f"{fmt} rows (`--input-format {fmt}`, field `{config.messages_field or ''}`)"
            if fmt != "alpaca" else "Alpaca rows (`instruction`, `input`, `output`)")
    return f"""### Method

- Input: {read}. System turns are kept first; they are not persona-filtered or truecased (they
  are instructions, not answers the model learns to write) but they are decontaminated.
- Filters, in order; a dialogue is dropped by the first rule it matches:
{rules}
  - `duplicate`: exact duplicate dialogues (all turns equal); one copy is kept.
{decontamination_text(config.decontaminate)}
- Truecasing ({'on' if config.truecase else 'off'}): messages with broken capitalization
  (sentences that start in lower case, a lone lower-case "i") are repaired with the `truecase`
  model; only the case of letters changes, and code, URLs and e-mail addresses are untouched.
  Every repaired message of the output is in `truecased.jsonl`, before and after.
- Sampling: {target}.
- Rows are sorted by `prompt_id`, so the output does not depend on input order or workers."""
