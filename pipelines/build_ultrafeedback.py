"""Build an ``ultrafeedback_binarized``-style preference dataset from raw UltraFeedback or other
rated completions, with a ``trl`` config for TRL's DPOTrainer.

    python -m pipelines.build_ultrafeedback --sample --output-dir outputs/ultrafeedback  # offline
    python -m pipelines.build_ultrafeedback --output-dir outputs/ultrafeedback_binarized \\
        --num-proc 2                                      # openbmb/UltraFeedback, from the Hub
    python -m pipelines.build_ultrafeedback --input raw.jsonl --score overall \\
        --rejected lowest --drop-ties --output-dir outputs/uf_variant     # the known variants

Expected numbers. Full UltraFeedback (``openbmb/UltraFeedback`` at the default revision): 63,967
prompts in, of which 811 come from TruthfulQA and are dropped; H4 published 61,135 train_prefs
and 2,000 test_prefs rows. The bundled sample: 131 prompts in, 122 kept (110 train_prefs, 12
test_prefs: 2,000 is capped at --test-share 10%), 9 dropped: 5 truthful_qa, 2
too_few_completions, 2 duplicate. 3 completions are removed for an empty response and 2 as
unrated, without taking any row below two; 28 aspect ratings are "N/A"; 2 kept pairs tie.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from zephyr_data.pipelines.ultrafeedback import UltraFeedbackPipeline
from zephyr_data.runner.cli import run


def main(argv: Sequence[str] | None = None) -> int:
    return run(UltraFeedbackPipeline, argv, prog="python -m pipelines.build_ultrafeedback",
               description=__doc__.split("\n\n")[0])


if __name__ == "__main__":
    sys.exit(main())
