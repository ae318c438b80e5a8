"""Build an ``ultrachat_200k``-style SFT dataset from raw UltraChat or other chat data.

    python -m pipelines.build_ultrachat --sample --output-dir outputs/ultrachat   # no network
    python -m pipelines.build_ultrachat --output-dir outputs/ultrachat_200k \\
        --target-size 230000 --num-proc 2                                          # from the Hub
    python -m pipelines.build_ultrachat --input chats.jsonl --output-dir out      # messages,
        # ShareGPT or Alpaca rows (--input-format auto); Hub datasets by --input-split

Expected numbers. Full UltraChat (``stingning/ultrachat``): 1,468,352 dialogues in; the paper
reports about 5% truecased and keeps about 200k (H4 published 207,865 train_sft and 23,110
test_sft rows). The bundled sample: 125 dialogues in, 97 kept; 25 dropped by the structural
and persona rules and 3 as duplicates; 16 dialogues (29 messages) truecased.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from zephyr_data.pipelines.ultrachat import UltraChatPipeline
from zephyr_data.runner.cli import run


def main(argv: Sequence[str] | None = None) -> int:
    return run(UltraChatPipeline, argv, prog="python -m pipelines.build_ultrachat",
               description=__doc__.split("\n\n")[0])


if __name__ == "__main__":
    sys.exit(main())
