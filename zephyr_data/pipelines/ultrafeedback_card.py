"""The prose of the UltraFeedback dataset card: what the build did, closely enough that a reader
of the card alone can build it again."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .cards import decontamination_text
from .trl_config import CARD as TRL_CARD

if TYPE_CHECKING:
    from .ultrafeedback import UltraFeedbackConfig

INTRO = ("Preference pairs from UltraFeedback, binarized as in the Zephyr-7B recipe "
         "(Tunstall et al., 2023), in the schema of "
         "`HuggingFaceH4/ultrafeedback_binarized`: `prompt`, `prompt_id` "
         "(`sha256(prompt.encode('utf-8')).hexdigest()`), `chosen` and `rejected` "
         "(`[{content, role}]`: the user turn, then the assistant turn), `messages` "
         "(the same as `chosen`), and `score_chosen`/`score_rejected` (float64).")


def splits(config: UltraFeedbackConfig) -> str:
    size, share = config.test_size, config.test_share
    rule = (f"the {size:,} prompts (`--test-size`) whose `prompt_id` has the smallest "
            f"first 64 bits, or only {share:.0%} of the kept prompts (`--test-share`) if "
            f"{size:,} would be more, so that a small input keeps a train split"
            if size is not None else
            f"the prompts whose `prompt_id`'s first 64 bits fall in the lowest {share:.0%} "
            "of their range")
    return (f"`test_prefs` holds {rule}; `train_prefs` holds the rest. The same prompt "
            "always lands on the same side and no prompt is in both train and test. "
            "`train_prefs`/`test_prefs` are for preference tuning (DPO, reward models). "
            "`train_sft`/`test_sft` hold the same rows as `train_prefs`/`test_prefs`, for "
            "supervised fine-tuning on `messages` (the chosen answer); "
            "`train_gen`/`test_gen` hold them too, for generation (sampling answers to "
            "`prompt`). Unlike the H4 dataset, whose `test_sft`/`test_gen` hold 1,000 "
            "prompts, ours mirror `test_prefs` exactly. The `trl` config holds the pairs of "
            "`train_prefs` and `test_prefs` as its `train` and `test` splits.\n\n" + TRL_CARD)


def method(config: UltraFeedbackConfig) -> str:
    c = config
    rated = (f"its `{c.score_field}` (`--input-format rated`, fields `{c.prompt_field}`, "
             f"`{c.completions_field}`, `{c.response_field}`): a number, or the mean of its "
             "aspect ratings, null and \"N/A\" left out; a completion without one has no "
             "score")
    score = ("the mean of its four aspect ratings (helpfulness, honesty, "
             "instruction_following, truthfulness; 1 to 5), \"N/A\" or missing ratings "
             "excluded; a completion rated \"N/A\" on all four has no score"
             if c.score == "mean" else
             "its `overall_score` (1 to 10, from the GPT-4 critique); a missing or \"N/A\" "
             "`overall_score` means no score")
    option = f"`--score {c.score}`"
    if c.input_format == "rated":
        score, option = rated, "`--input-format rated`"
    rejected = ("drawn uniformly at random from the other usable completions, with a "
                f"generator seeded from the seed ({c.seed}) and the row's `prompt_id`, so "
                "the draw does not depend on row order or workers"
                if c.rejected == "random" else
                "the other usable completion with the lowest score (the first listed among "
                "equal scores)")
    ties = ("dropped (`tie`)" if c.drop_ties
            else "kept (counted as `pairs with tied scores`)")
    return f"""### Method

- Score ({option}): each completion is scored by {score}.
{decontamination_text(c.decontaminate)}
- Rules, in order; a prompt is dropped by the first one it meets:
  - `truthful_qa`: the prompt comes from TruthfulQA (`source == "truthful_qa"`), an evaluation
    benchmark, and is removed as H4 did.
  - `contaminated_<benchmark>`: see Decontamination below.
  - `empty_prompt`: the instruction is empty or white space.
  - `too_few_completions`: the raw row has fewer than two completions.
  - `empty_response`: completions with an empty or white-space response are removed (counted
    as `completions removed empty response`); the prompt is dropped if fewer than two remain.
  - `unrated`: completions with no score are removed (counted as `completions removed
    unrated`); the prompt is dropped if fewer than two remain.{'''
  - `tie`: "chosen" and "rejected" have the same score.''' if c.drop_ties else ''}
  - `duplicate`: prompts seen more than once (same `prompt_id`); the copy kept is the one whose
    output has the smallest sha256, whatever the input order.
- "chosen" is the completion with the highest score; among equal scores, the one listed first
  in the raw row's `completions`.
- "rejected" (`--rejected {c.rejected}`) is {rejected}. Pairs whose scores tie are {ties}.
- Rows are sorted by `prompt_id`, so the output does not depend on input order or workers."""
