"""The Zephyr chat template and the real Mistral-7B-v0.1 tokenizer."""

from __future__ import annotations

import logging

import pytest
from transformers.utils import is_flash_attn_2_available

from zephyr_train.chat_template import ZEPHYR_CHAT_TEMPLATE
from zephyr_train.configs import ModelArguments
from zephyr_train.modeling import load_tokenizer, resolve_attn_implementation

CONVERSATION = [
    {"role": "system", "content": "You are a friendly chatbot."},
    {"role": "user", "content": "Hi!"},
    {"role": "assistant", "content": "Hello! How can I help?"},
    {"role": "user", "content": "Tell me a joke."},
]
EXPECTED = (
    "<|system|>\nYou are a friendly chatbot.</s>\n"
    "<|user|>\nHi!</s>\n"
    "<|assistant|>\nHello! How can I help?</s>\n"
    "<|user|>\nTell me a joke.</s>\n"
    "<|assistant|>\n"
)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(ModelArguments(tokenizer_name_or_path="mistral-common:tokenizer.model.v1",
                                         random_init_config={}))


def test_real_mistral_vocabulary(tokenizer):
    assert len(tokenizer) == 32000 and tokenizer.vocab_size == 32000
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.unk_token) == ("<s>", "</s>",
                                                                              "<unk>")
    # Mistral-7B-v0.1's ids: <s>=1, "▁Hello"=22557, "▁world"=1526
    assert tokenizer("Hello world").input_ids == [1, 22557, 1526]
    assert tokenizer.pad_token == "<unk>"  # not EOS, which must stay a trained label


def test_renders_known_conversation(tokenizer):
    assert tokenizer.chat_template == ZEPHYR_CHAT_TEMPLATE
    text = tokenizer.apply_chat_template(CONVERSATION, tokenize=False, add_generation_prompt=True)
    assert text == EXPECTED
    closed = tokenizer.apply_chat_template(CONVERSATION[:3], tokenize=False)
    assert closed == EXPECTED.split("<|user|>\nTell")[0]


def test_unknown_role_is_an_error(tokenizer):
    with pytest.raises(Exception, match="Unknown role tool"):
        tokenizer.apply_chat_template([{"role": "tool", "content": "x"}], tokenize=False)


def test_template_saved_and_loaded(tokenizer, tmp_path):
    from transformers import AutoTokenizer

    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded.apply_chat_template(CONVERSATION, tokenize=False,
                                      add_generation_prompt=True) == EXPECTED


@pytest.mark.skipif(is_flash_attn_2_available(), reason="flash-attn is installed here")
def test_flash_attention_falls_back_to_sdpa_with_one_log_line(caplog, monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    with caplog.at_level(logging.INFO, logger="zephyr_train"):
        assert resolve_attn_implementation("flash_attention_2") == "sdpa"
    lines = [r for r in caplog.records if "sdpa" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    assert resolve_attn_implementation("eager") == "eager"
