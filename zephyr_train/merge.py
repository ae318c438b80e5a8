"""Merge a LoRA adapter into its base: ``python -m zephyr_train.merge --adapter DIR --output DIR``.

The base is the model named in the adapter's ``adapter_config.json``; when that is another
adapter (a DPO adapter trained on the merged SFT adapter), it is merged first, down to the base
model. The merge runs on the CPU in the base's own dtype (its ``config.json``; bfloat16 for
Mistral-7B) and the result is a plain checkpoint with the adapter's tokenizer and chat template,
ready for ``zephyr_train.generate``, evaluation and serving. A QLoRA adapter is merged into the
unquantized base weights, as is usual: the merged model differs from the one trained by the
4-bit rounding of the base.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer

from zephyr_train.chat_template import set_zephyr_chat_template
from zephyr_train.configs import RecipeError
from zephyr_train.lora import ADAPTER_CONFIG, adapter_chain, is_adapter_dir, merge_adapters
from zephyr_train.modeling import check_model_source

logger = logging.getLogger(__name__)


def _tokenizer(adapter: Path, base: str, revision: str):
    if (adapter / "tokenizer_config.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(adapter)
    else:
        logger.warning("%s has no tokenizer; using the base model's.", adapter)
        tokenizer = AutoTokenizer.from_pretrained(base, revision=revision)
    if not tokenizer.chat_template:
        logger.warning("The tokenizer has no chat template; setting the Zephyr template.")
        set_zephyr_chat_template(tokenizer)
    return tokenizer


def merge(adapter: str | Path, output: str | Path, *, base: str | None = None,
          dtype: str = "auto") -> Path:
    """Merge ``adapter`` (and the adapters below it) into its base; save to ``output``."""
    adapter, output = Path(adapter), Path(output)
    if not is_adapter_dir(adapter):
        raise RecipeError(
            f"--adapter {adapter} is not an adapter directory (it has no {ADAPTER_CONFIG}). Pass "
            "the output_dir of a LoRA run, e.g. outputs/zephyr-7b-sft-lora."
        )
    if output.resolve() == adapter.resolve():
        raise RecipeError(f"--output {output} is the adapter directory; write the merged model "
                          f"to a new directory, e.g. {adapter}-merged.")
    base_model, revision, adapters = adapter_chain(str(adapter), base=base)
    try:
        check_model_source(base_model, what=f"the base model of {adapter}")
    except RecipeError as err:
        raise RecipeError(f"{err} Or pass --base with another copy of the base model.") from err
    logger.info("Merging %s into %s (dtype %s)", [str(a) for a in adapters], base_model, dtype)
    model = AutoModelForCausalLM.from_pretrained(base_model, revision=revision, dtype=dtype)
    model = merge_adapters(model, adapters)
    model.save_pretrained(output)
    _tokenizer(adapter, base_model, revision).save_pretrained(output)
    logger.info("Saved the merged %s model to %s", model.dtype, output)
    return output


def main(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m zephyr_train.merge", description=__doc__)
    parser.add_argument("--adapter", required=True, help="Adapter directory (a LoRA run's "
                        "output_dir).")
    parser.add_argument("--output", required=True, help="Directory for the merged model.")
    parser.add_argument("--base", help="Base model to merge into, instead of the one the "
                        "adapter's adapter_config.json names (e.g. after moving it).")
    parser.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float16",
                                                            "float32"],
                        help="Dtype of the merge and the saved weights (default: the base's).")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        level=logging.INFO)
    return merge(args.adapter, args.output, base=args.base, dtype=args.dtype)


if __name__ == "__main__":
    main()
