"""The Zephyr chat template (Tunstall et al. 2023), as shipped with HuggingFaceH4/zephyr-7b-beta.

Each turn is ``<|role|>\\n{content}{eos}\\n``; a generation prompt is ``<|assistant|>\\n``.
"""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase

ZEPHYR_CHAT_TEMPLATE = (
    "{% for message in messages %}\n"
    "{% if message['role'] == 'user' %}\n"
    "{{ '<|user|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'system' %}\n"
    "{{ '<|system|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n"
    "{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
    "{% else %}\n"
    "{{ raise_exception('Unknown role ' + message['role']"
    " + '; expected system, user or assistant') }}\n"
    "{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n"
    "{{ '<|assistant|>' }}\n"
    "{% endif %}\n"
    "{% endfor %}"
)


def set_zephyr_chat_template(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Set the Zephyr chat template on ``tokenizer`` (in place) and return it."""
    if tokenizer.eos_token is None:
        raise ValueError(
            f"The tokenizer {type(tokenizer).__name__} has no EOS token, but the Zephyr chat "
            "template ends every turn with it. Use a tokenizer with an EOS token "
            "(Mistral's is '</s>')."
        )
    tokenizer.chat_template = ZEPHYR_CHAT_TEMPLATE
    return tokenizer
