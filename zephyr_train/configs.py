"""Recipe dataclasses and parsing: YAML recipe values are defaults, the command line overrides.

``--config`` takes a YAML file or the name of a packaged recipe (``zephyr-7b/sft``). Keys that no
dataclass knows are an error, with the closest known key suggested.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from trl import DPOConfig, ModelConfig, SFTConfig, TrlParser

from zephyr_train.batching import apply_global_batch

RECIPES_DIR = Path(__file__).parent / "recipes"
ACCELERATE_CONFIGS_DIR = Path(__file__).parent / "accelerate_configs"
_PLAIN_NAME = re.compile(r"[A-Za-z_][\w.]*")


class RecipeError(ValueError):
    """A recipe or command line that cannot describe a valid run."""


def _maybe_json(value: Any, name: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as err:
            raise RecipeError(
                f"{name}={value!r} is not valid JSON; on the command line pass a JSON object, "
                'e.g. --{name} \'{{"hidden_size": 64}}\'.'
            ) from err
    return value


@dataclass
class ModelArguments(ModelConfig):
    """Which model and tokenizer to train, and how: TRL's ``ModelConfig`` (its LoRA and 4-bit
    fields: ``use_peft``, ``lora_r``, ``lora_alpha``, ``lora_dropout``, ``lora_target_modules``,
    ``load_in_4bit``, ``bnb_4bit_quant_type``, ``use_bnb_nested_quant``, ...) plus the tokenizer
    and a random-initialisation option. TRL's ``get_peft_config``/``get_quantization_config``
    turn it into a peft ``LoraConfig`` and a ``BitsAndBytesConfig``."""

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Hub id or local directory of the model to start from, "
                                "or a LoRA adapter directory: its base with the adapter merged."}
    )
    model_revision: str = field(default="main", metadata={"help": "Hub revision of the model."})
    dtype: str = field(
        default="bfloat16", metadata={"help": "Weights dtype: bfloat16, float16, float32 or auto."}
    )
    attn_implementation: str = field(
        default="flash_attention_2",
        metadata={"help": "flash_attention_2 (falls back to sdpa when not installed), sdpa "
                  "or eager."},
    )
    tokenizer_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Tokenizer to use (default: the model's). 'mistral-common:<file>' "
                  "loads a SentencePiece model bundled with mistral-common, e.g. "
                  "'mistral-common:tokenizer.model.v1' (Mistral-7B-v0.1's)."},
    )
    random_init_config: dict | str | None = field(
        default=None,
        metadata={"help": "MistralConfig keyword arguments (JSON on the command line). When "
                  "set, the model is randomly initialised from this config instead of loaded."},
    )

    def __post_init__(self):
        super().__post_init__()
        self.random_init_config = _maybe_json(self.random_init_config, "random_init_config")
        if self.random_init_config is not None and not isinstance(self.random_init_config, dict):
            raise RecipeError(
                f"random_init_config must be a mapping of MistralConfig arguments, got "
                f"{type(self.random_init_config).__name__}."
            )
        if self.model_name_or_path is None and self.random_init_config is None:
            raise RecipeError(
                "No model given: set model_name_or_path (a Hub id or a local checkpoint "
                "directory), or random_init_config to train a randomly initialised Mistral model."
            )
        if self.model_name_or_path is None and self.tokenizer_name_or_path is None:
            raise RecipeError(
                "random_init_config without model_name_or_path needs tokenizer_name_or_path, e.g. "
                "'mistral-common:tokenizer.model.v1'."
            )
        allowed = {"bfloat16", "float16", "float32", "auto"}
        if self.dtype not in allowed:
            raise RecipeError(f"dtype={self.dtype!r} is not one of {sorted(allowed)}.")
        self._check_peft_options()

    def _check_peft_options(self):
        quantized = "load_in_4bit" if self.load_in_4bit else (
            "load_in_8bit" if self.load_in_8bit else None)
        if quantized and not self.use_peft:
            raise RecipeError(
                f"{quantized}=true without use_peft: quantized weights cannot be trained "
                "directly, only a LoRA adapter on top of them (QLoRA). Set use_peft: true, or "
                f"remove {quantized} for full fine-tuning."
            )
        if self.use_peft and self.random_init_config is not None:
            raise RecipeError(
                "use_peft=true with random_init_config: a LoRA adapter needs a saved base model "
                "to attach to and to be merged into later. Set model_name_or_path to a "
                "checkpoint (e.g. the output of smoke/sft), or drop use_peft."
            )
        if isinstance(self.lora_target_modules, str) and _PLAIN_NAME.fullmatch(
                self.lora_target_modules):
            # TRL turns a one-element list into a string, which peft reads as a regular
            # expression over full module names; a plain name stays a name.
            self.lora_target_modules = [self.lora_target_modules]
        if self.load_in_4bit and self.dtype not in ("bfloat16", "float16"):
            raise RecipeError(
                f"load_in_4bit=true with dtype={self.dtype!r}: the 4-bit weights are computed in "
                "dtype, which must be bfloat16 (or float16 on GPUs without bf16)."
            )


@dataclass
class DataArguments:
    """Which dataset folder or Hub dataset to train on, in the H4 layout."""

    dataset_name: str | None = field(
        default=None, metadata={"help": "Hub id or local folder in the Hub dataset layout."}
    )
    dataset_revision: str | None = field(default=None, metadata={"help": "Hub revision."})
    dataset_config: str | None = field(
        default=None,
        metadata={"help": "Config of the dataset: 'trl' for a preference build's pairs in TRL's "
                  "explicit-prompt format (splits train, test), used as loaded. Default: the "
                  "default config (H4 layout, whose preference rows are converted)."},
    )
    dataset_train_split: str = field(default="train", metadata={"help": "Training split."})
    dataset_test_split: str | None = field(
        default=None, metadata={"help": "Evaluation split (none: no evaluation)."}
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Keep only the first N training rows (smoke runs)."}
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Keep only the first N evaluation rows."}
    )

    def __post_init__(self):
        if not self.dataset_name:
            raise RecipeError(
                "No dataset given: set dataset_name to a Hub dataset id or to a local folder "
                "written by the pipelines (e.g. pipelines/build_ultrachat.py --output-dir DIR)."
            )


@dataclass
class GlobalBatchMixin:
    """What the recipes add to TRL's configs: the global batch, and a ZeRO-3 partition report.

    Put it first in the bases so that its ``__post_init__`` derives the gradient accumulation
    before TRL's runs.
    """

    global_batch_size: int | None = field(
        default=None,
        metadata={"help": "Sequences (SFT) or preference pairs (DPO) per optimizer step across "
                  "all processes; the gradient accumulation is derived from it and the "
                  "launch's world size."},
    )
    zero_partition_report: bool = field(
        default=False,
        metadata={"help": "Write zero_partition_rank{R}.json to output_dir with how many parameter "
                  "elements each rank holds under ZeRO-3."},
    )

    def __post_init__(self):
        apply_global_batch(self)
        super().__post_init__()


@dataclass
class ZephyrSFTConfig(GlobalBatchMixin, SFTConfig):
    """TRL's SFTConfig plus the global batch of the recipe."""


@dataclass
class ZephyrDPOConfig(GlobalBatchMixin, DPOConfig):
    """TRL's DPOConfig plus the global batch of the recipe."""


def available_recipes() -> list[str]:
    return sorted(str(p.relative_to(RECIPES_DIR).with_suffix("")) for p in
                  RECIPES_DIR.rglob("*.yaml"))


def resolve_recipe(name_or_path: str) -> Path:
    """A recipe file path, or a packaged recipe name such as ``zephyr-7b/sft``."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    packaged = RECIPES_DIR / f"{name_or_path.removesuffix('.yaml')}.yaml"
    if packaged.is_file():
        return packaged
    raise RecipeError(
        f"Recipe {name_or_path!r} is neither a file nor a packaged recipe. Packaged recipes: "
        f"{', '.join(available_recipes())}; or pass the path of a YAML file."
    )


def recipe_task(path: Path, task: str | None = None) -> str:
    """``sft`` or ``dpo``: ``task`` when given, else the start of the recipe's file name
    (``sft.yaml``, ``dpo-qlora.yaml``)."""
    task = task or Path(path).stem.split("-")[0]
    if task not in ("sft", "dpo"):
        raise RecipeError(f"Cannot tell the task of recipe {path} from its name (sft*.yaml or "
                          "dpo*.yaml); pass --task sft|dpo.")
    return task


def load_recipe(path: Path) -> dict[str, Any]:
    with open(path) as f:
        recipe = yaml.safe_load(f)
    if not isinstance(recipe, dict):
        raise RecipeError(
            f"Recipe {path} holds a {type(recipe).__name__}, but a recipe must be a YAML mapping "
            "of argument names to values."
        )
    return recipe


def check_recipe_keys(recipe: dict[str, Any], parser: TrlParser, path: Path) -> None:
    known = {action.dest for action in parser._actions} | {"env"}
    unknown = [key for key in recipe if key not in known]
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, known, n=1)
        hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise RecipeError(
        f"Recipe {path} has unknown key(s): {', '.join(hints)}. Every key must be an argument of "
        f"{', '.join(t.__name__ for t in parser.dataclass_types)}; fix the spelling or remove it."
    )


def parse_dataclasses(dataclass_types: Sequence[type], argv: Sequence[str] | None = None):
    """Parse ``--config RECIPE`` plus ``--key value`` overrides into ``dataclass_types``."""
    parser = TrlParser(tuple(dataclass_types))
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--config" in argv:
        i = argv.index("--config")
        if i + 1 >= len(argv):
            raise RecipeError("--config needs a value: a recipe file or a packaged recipe name.")
        path = resolve_recipe(argv[i + 1])
        check_recipe_keys(load_recipe(path), parser, path)
        argv[i + 1] = str(path)
    check_command_line_options(argv, parser)
    return parser.parse_args_and_config(argv)


def check_command_line_options(argv: Sequence[str], parser: TrlParser) -> None:
    known = {opt for action in parser._actions for opt in action.option_strings} | {"--config"}
    classes = ", ".join(t.__name__ for t in parser.dataclass_types)
    for token in argv:
        option = token.split("=", 1)[0]
        if option.startswith("--") and option not in known:
            close = difflib.get_close_matches(option, known, n=1)
            raise RecipeError(
                f"Unknown option {option!r} on the command line"
                + (f" (did you mean {close[0]!r}?)" if close else "")
                + f". Options are the fields of {classes}; see --help."
            )


def parse_args(config_cls: type, argv: Sequence[str] | None = None):
    """Parse a training recipe into ``(ModelArguments, DataArguments, config_cls)``."""
    return parse_dataclasses((ModelArguments, DataArguments, config_cls), argv)
