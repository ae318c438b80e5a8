"""Model and tokenizer loading: checked sources, FlashAttention-2 fallback, the Zephyr template."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaTokenizer,
    MistralConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import is_flash_attn_2_available

from zephyr_data.core.ids import is_repo_id
from zephyr_train.chat_template import set_zephyr_chat_template
from zephyr_train.configs import ModelArguments, RecipeError
from zephyr_train.lora import adapter_chain, is_adapter_dir, merge_adapters, quantization_config

logger = logging.getLogger(__name__)

MISTRAL_COMMON_PREFIX = "mistral-common:"


def resolve_attn_implementation(requested: str | None) -> str | None:
    """FlashAttention-2 when installed, otherwise PyTorch's ``sdpa`` (logged once)."""
    if requested == "flash_attention_2" and not is_flash_attn_2_available():
        log = logger.warning if os.environ.get("RANK", "0") == "0" else logger.debug
        log(
            "FlashAttention-2 requested but flash-attn is not installed (or no CUDA GPU); "
            "using PyTorch SDPA attention (attn_implementation='sdpa') instead."
        )
        return "sdpa"
    return requested


def check_model_source(name_or_path: str, *, what: str = "model_name_or_path") -> None:
    """Fail early, before anything is loaded, when a model source cannot exist.

    A local directory must hold ``config.json``; anything else must look like a Hub id, and in
    offline mode (``HF_HUB_OFFLINE=1``) be in the local cache.
    """
    path = Path(name_or_path).expanduser()
    if is_adapter_dir(path):
        base, _, adapters = adapter_chain(name_or_path)
        check_model_source(base, what=f"base_model_name_or_path of {adapters[0]}")
        return
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise RecipeError(
                f"{what}={name_or_path!r} is a directory without config.json (nor "
                "adapter_config.json), so it is not a saved model or adapter. Point it at a "
                "checkpoint directory (the output_dir of a finished run) or at a Hub id."
            )
        return
    if not is_repo_id(name_or_path):
        raise RecipeError(
            f"{what}={name_or_path!r} does not exist as a local directory and is not a Hub id "
            "(namespace/name). Check the path (e.g. that the SFT run finished and saved to it)."
        )
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(name_or_path, "config.json")
        if not isinstance(cached, str):
            raise RecipeError(
                f"{what}={name_or_path!r} is not a local directory, and it is a Hub id that is not "
                "in the local cache while HF_HUB_OFFLINE=1. Download it first or pass a local path."
            )


def mistral_common_tokenizer_file(name: str) -> Path:
    import mistral_common

    data_dir = Path(mistral_common.__file__).parent / "data"
    path = data_dir / name
    if not path.is_file():
        choices = sorted(p.name for p in data_dir.glob("*.model.*"))
        raise RecipeError(
            f"mistral-common has no tokenizer file {name!r} in {data_dir}; available: {choices}."
        )
    return path


def load_tokenizer(args: ModelArguments) -> PreTrainedTokenizerBase:
    """The tokenizer with the Zephyr chat template and a pad token distinct from EOS."""
    return tokenizer_from(args.tokenizer_name_or_path or args.model_name_or_path,
                          revision=args.model_revision)


def tokenizer_from(source: str, *, revision: str = "main") -> PreTrainedTokenizerBase:
    """``load_tokenizer`` for one source: a ``mistral-common:<file>`` name, a directory or a Hub
    id."""
    if source.startswith(MISTRAL_COMMON_PREFIX):
        sp_model = mistral_common_tokenizer_file(source.removeprefix(MISTRAL_COMMON_PREFIX))
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copyfile(sp_model, Path(tmp) / "tokenizer.model")
            tokenizer = LlamaTokenizer.from_pretrained(tmp, add_bos_token=True,
                                                       add_eos_token=False, legacy=False)
    else:
        tokenizer = AutoTokenizer.from_pretrained(source, revision=revision)
    if tokenizer.pad_token is None:
        # Mistral has no pad token. EOS must stay a trained label, so pad with UNK (never in text).
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
    return set_zephyr_chat_template(tokenizer)


def _torch_dtype(name: str):
    return "auto" if name == "auto" else getattr(torch, name)


def model_config(args: ModelArguments):
    """The architecture of the recipe's model (of the base, for an adapter), weights unread."""
    if args.random_init_config is not None:
        return MistralConfig(**args.random_init_config)
    base, revision, adapters = adapter_chain(args.model_name_or_path)
    return AutoConfig.from_pretrained(base, revision=revision if adapters else args.model_revision)


def _quantized_kwargs(args: ModelArguments) -> dict:
    quant = quantization_config(args)
    if quant is None:
        return {}
    from accelerate import PartialState

    # Each process holds its own quantized copy on its own GPU (DDP).
    return {"quantization_config": quant, "device_map": {"": PartialState().local_process_index}}


def load_model(args: ModelArguments) -> PreTrainedModel:
    """Load (or randomly initialise) the causal LM. Call after the TrainingArguments exist so that
    ZeRO-3 partitions the weights while they are created.

    With ``load_in_4bit`` the weights are quantized as they load (QLoRA). A LoRA adapter
    directory loads as its base with the adapter (and the adapters below it) merged in.
    """
    attn = resolve_attn_implementation(args.attn_implementation)
    if args.random_init_config is not None:
        config = MistralConfig(**args.random_init_config)
        config._attn_implementation = attn
        model = AutoModelForCausalLM.from_config(config, dtype=_torch_dtype(args.dtype)
                                                 if args.dtype != "auto" else None)
        logger.info("Randomly initialised %s parameters from %s", model.num_parameters(), config)
        return model
    base, revision, adapters = adapter_chain(args.model_name_or_path)
    if Path(base).expanduser().is_dir():
        base = str(Path(base).expanduser().resolve())  # adapters trained on it name it absolutely
    model = AutoModelForCausalLM.from_pretrained(
        base, revision=revision if adapters else args.model_revision,
        dtype=_torch_dtype(args.dtype), attn_implementation=attn, **_quantized_kwargs(args),
    )
    if adapters:
        logger.info("Merging adapter(s) %s into %s", [str(a) for a in adapters], base)
    return merge_adapters(model, adapters)
