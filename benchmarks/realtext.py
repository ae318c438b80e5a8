"""Real public text for tests and benchmarks, read in place from ``../shared/data`` beside the
checkout (see that folder's README): the one place that knows where it is (``SHARED_DATA``)."""

from __future__ import annotations

import json
from pathlib import Path

SAMPLES = ("trl_binarized_sample1000.jsonl", "argilla_style_sample1000.jsonl")
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _reply_text(value: str | list) -> str:
    return value[-1]["content"] if isinstance(value, list) else value


def real_prompts(data: Path = SHARED_DATA) -> list[str]:
    """Every prompt of the two samples (2,000)."""
    prompts = []
    for name in SAMPLES:
        with open(data / "ultrafeedback" / name, encoding="utf-8") as fh:
            prompts += [json.loads(line)["prompt"] for line in fh]
    return prompts


def real_replies(data: Path = SHARED_DATA) -> list[str]:
    """Every non-empty chosen and rejected reply of the two samples (3,998)."""
    replies = []
    for name in SAMPLES:
        with open(data / "ultrafeedback" / name, encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                replies += [text for key in ("chosen", "rejected")
                            if (text := _reply_text(row[key])).strip()]
    return replies
