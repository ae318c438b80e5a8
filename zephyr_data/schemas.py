"""The features of the published H4 datasets that our outputs reproduce exactly."""

from __future__ import annotations

from datasets import Features, List, Value


def chat_messages() -> List:
    return List({"content": Value("string"), "role": Value("string")})


def ultrachat_features() -> Features:
    """``HuggingFaceH4/ultrachat_200k``."""
    return Features({"prompt": Value("string"), "prompt_id": Value("string"),
                     "messages": chat_messages()})


def ultrafeedback_features() -> Features:
    """``HuggingFaceH4/ultrafeedback_binarized``."""
    return Features({"prompt": Value("string"), "prompt_id": Value("string"),
                     "chosen": chat_messages(), "rejected": chat_messages(),
                     "messages": chat_messages(), "score_chosen": Value("float64"),
                     "score_rejected": Value("float64")})
