"""LoRA and QLoRA: the peft and bitsandbytes configs of a recipe, the checks made before any
weights load, and adapter directories (an adapter names its base; bases can be adapters too).

The configs come from TRL (``get_peft_config``, ``get_quantization_config``) over our
``ModelArguments``, which is TRL's ``ModelConfig``; nothing here re-implements them.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, PretrainedConfig
from trl import get_peft_config, get_quantization_config

from zephyr_train.configs import ModelArguments, RecipeError

ADAPTER_CONFIG = "adapter_config.json"
MAX_CHAIN = 8  # adapter on adapter on ... deeper than this is a loop in the configs


def lora_config(args: ModelArguments):
    """The peft ``LoraConfig`` of the recipe, or None without ``use_peft``."""
    return get_peft_config(args)


def quantization_config(args: ModelArguments):
    """The ``BitsAndBytesConfig`` of ``load_in_4bit``/``load_in_8bit``, or None."""
    return get_quantization_config(args)


def is_quantized(args: ModelArguments) -> bool:
    return bool(args.load_in_4bit or args.load_in_8bit)


def check_quantization_runtime(args: ModelArguments) -> None:
    """QLoRA needs a CUDA GPU and bitsandbytes; say so before anything is loaded."""
    if not is_quantized(args):
        return
    flag = "load_in_4bit" if args.load_in_4bit else "load_in_8bit"
    if not torch.cuda.is_available():
        raise RecipeError(
            f"{flag}=true (QLoRA) needs a CUDA GPU: bitsandbytes keeps the frozen base weights "
            f"quantized on the GPU and computes with them there, but this machine has none "
            f"(torch {torch.__version__}: torch.cuda.is_available() is False). Run the recipe on "
            "a CUDA machine, or train LoRA on unquantized weights instead: the zephyr-7b/sft-lora "
            f"and zephyr-7b/dpo-lora recipes, or --{flag} false."
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise RecipeError(
            f"{flag}=true (QLoRA) needs the bitsandbytes package, which is not installed. "
            "Install the optional extra: pip install -e '.[qlora]'."
        )


def meta_model(config: PretrainedConfig, dtype: torch.dtype | None = None):
    """The model of ``config`` on the meta device: its modules and shapes, no memory."""
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config, dtype=dtype)


def linear_module_names(model) -> list[str]:
    """The distinct last names of the model's linear modules (what target_modules lists)."""
    return sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                   if isinstance(module, torch.nn.Linear)})


def check_target_modules(args: ModelArguments, config: PretrainedConfig) -> None:
    """Every ``lora_target_modules`` entry must match a module of the model, with peft's own
    matching rules; checked on the meta device, before any weights load."""
    peft_config = lora_config(args)
    if peft_config is None or peft_config.target_modules is None:
        return  # None: peft's default modules for the model type
    from peft import LoraConfig
    from peft.tuners.tuners_utils import check_target_module_exists

    targets = peft_config.target_modules
    if isinstance(targets, str) and targets.lower() == "all-linear":
        return
    model = meta_model(config)
    names = [name for name, _ in model.named_modules() if name]
    # A string is a regular expression over full module names; a list holds module names.
    probes = ({targets: LoraConfig(target_modules=targets)} if isinstance(targets, str) else
              {t: LoraConfig(target_modules=[t]) for t in sorted(targets)})
    missing = [t for t, probe in probes.items()
               if not any(check_target_module_exists(probe, name) for name in names)]
    if missing:
        raise RecipeError(
            f"lora_target_modules {missing} match no module of {args.model_name_or_path!r} "
            f"({config.model_type}). Its linear modules are {linear_module_names(model)}. Fix "
            "lora_target_modules in the recipe: list some of those names (Zephyr's recipes use "
            "all seven projections of a Mistral layer), or write 'all-linear'."
        )


def is_adapter_dir(name_or_path: str | Path) -> bool:
    path = Path(name_or_path).expanduser()
    return path.is_dir() and (path / ADAPTER_CONFIG).is_file()


def read_adapter_config(path: Path) -> dict:
    with open(path / ADAPTER_CONFIG) as f:
        return json.load(f)


def adapter_chain(name_or_path: str, base: str | None = None) -> tuple[str, str, list[Path]]:
    """``(base model, its revision, adapters from the base up)`` for a model source.

    A model or Hub id is its own base with no adapters. An adapter directory names its base in
    ``adapter_config.json`` (``base_model_name_or_path``), which may be another adapter (the DPO
    adapter sits on the SFT adapter). ``base`` replaces the base named by ``name_or_path``.
    """
    adapters: list[Path] = []
    source, revision = name_or_path, "main"
    while is_adapter_dir(source):
        path = Path(source).expanduser().resolve()
        if path in adapters or len(adapters) >= MAX_CHAIN:
            raise RecipeError(
                f"The adapters {[str(p) for p in adapters]} name each other as base models in a "
                "loop; set base_model_name_or_path in their adapter_config.json to a model."
            )
        adapters.append(path)
        config = read_adapter_config(path)
        source = base if (base and len(adapters) == 1) else config.get("base_model_name_or_path")
        revision = config.get("revision") or "main"
        if not source:
            raise RecipeError(
                f"{path / ADAPTER_CONFIG} names no base model (base_model_name_or_path is "
                "empty), so there is nothing to merge it into. Pass the base model explicitly "
                "(python -m zephyr_train.merge --base MODEL ...)."
            )
    return source, revision, adapters[::-1]


def merge_adapters(model, adapters: list[Path]):
    """Merge each adapter in turn into ``model``'s weights (in their dtype; into 4-bit weights
    peft dequantizes, adds and quantizes again) and return the plain model."""
    from peft import PeftModel

    for path in adapters:
        model = PeftModel.from_pretrained(model, str(path)).merge_and_unload()
    if adapters:
        # A new adapter trained on this model names the top adapter as its base, so that
        # ``adapter_chain`` finds the whole stack again (peft reads this attribute).
        model.name_or_path = str(adapters[-1])
    return model
