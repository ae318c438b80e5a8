"""Benchmark the truecaser on real replies: unchanged share, restored share, tokens per second.

    python -m pipelines.bench_truecasing [--data ../shared/data]

Expected on the 3,998 real UltraFeedback replies in ../shared/data (2-core machine): at least
99% of well-formed replies unchanged, at least 99% of lower-cased sentence starts restored.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from nltk.tokenize import NLTKWordTokenizer

from benchmarks.realtext import SHARED_DATA, real_replies
from benchmarks.truecasing_eval import break_sentence_starts, evaluate
from zephyr_data.steps.truecaser import truecase


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    args = parser.parse_args(argv)
    replies = real_replies(args.data)
    truecase("warm up. the model loads once.")
    rates = evaluate(replies)
    tokenizer = NLTKWordTokenizer()
    broken = [b for b, positions in map(break_sentence_starts, replies) if positions]
    tokens = sum(len(list(tokenizer.span_tokenize(b))) for b in broken)
    started = time.perf_counter()
    for text in broken:
        truecase(text)
    seconds = time.perf_counter() - started
    print(f"replies                          {rates['messages']:>10,}")
    print(f"unchanged (well-formed input)    {rates['unchanged_share']:>10.2%}   target >= 99%")
    print(f"sentence starts lower-cased      {rates['broken_letters']:>10,}")
    print(f"restored                         {rates['restored_share']:>10.2%}   target >= 99%")
    print(f"other letters changed            {rates['other_letters_changed']:>10,}")
    print(f"check speed, well-formed input   {rates['words_per_second_clean']:>10,.0f} words/s")
    print(f"repair speed, broken input       {tokens / seconds:>10,.0f} tokens/s "
          f"({len(broken):,} messages, {tokens:,} tokens, {seconds:.1f} s)")


if __name__ == "__main__":
    main()
