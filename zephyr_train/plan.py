"""Plan a run without a GPU: ``python -m zephyr_train.plan --config zephyr-7b/sft
--num_machines 2 --gpus_per_machine 8 --gpu a100-80gb [--key value recipe overrides]``.

Prints world size, per-device batch, accumulation, global batch, optimizer steps per epoch,
tokens per step, DeepSpeed's ZeRO-3 memory estimate per GPU and the time at a stated MFU.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoConfig, MistralConfig

from zephyr_train.batching import StepShape, derive_gradient_accumulation
from zephyr_train.configs import (
    ACCELERATE_CONFIGS_DIR,
    RecipeError,
    ZephyrDPOConfig,
    ZephyrSFTConfig,
    parse_args,
    recipe_task,
    resolve_recipe,
)
from zephyr_train.deepspeed_check import check_with_deepspeed, deepspeed_dict
from zephyr_train.flops import GPU_MEMORY_GIB, PEAK_BF16_FLOPS, training_flops_per_token
from zephyr_train.lora import (
    adapter_chain,
    is_adapter_dir,
    lora_config,
    meta_model,
    quantization_config,
)
from zephyr_train.plan_lora import (
    LoraPlan,
    describe_lora,
    describe_quantization,
    format_lora_plan,
    lora_flops_per_token,
    lora_memory,
    plan_rows,
)

# Architectures known without the Hub (config.json of mistralai/Mistral-7B-v0.1).
KNOWN_ARCHITECTURES = {
    "mistralai/Mistral-7B-v0.1": dict(
        vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
        num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=32768,
        rope_theta=10000.0, sliding_window=4096, rms_norm_eps=1e-5, tie_word_embeddings=False),
}
# Row counts of the public datasets' splits (their dataset cards).
KNOWN_SPLIT_ROWS = {
    ("HuggingFaceH4/ultrachat_200k", "train_sft"): 207_865,
    ("HuggingFaceH4/ultrachat_200k", "test_sft"): 23_110,
    ("HuggingFaceH4/ultrafeedback_binarized", "train_prefs"): 61_135,
    ("HuggingFaceH4/ultrafeedback_binarized", "test_prefs"): 2_000,
}
GIB = 2**30


@dataclass
class Plan(StepShape):
    gpu: str
    num_machines: int
    gpus_per_machine: int
    grad_accum: int
    epochs: float
    largest_layer_params: int
    num_layers: int
    hidden_size: int
    flops_per_token: float
    zero3_gpu_bytes: float
    zero3_cpu_bytes: float
    mfu: float
    deepspeed_check: str

    @property
    def world_size(self) -> int:
        return self.num_machines * self.gpus_per_machine

    @property
    def total_steps(self) -> int:
        return math.ceil(self.steps_per_epoch * self.epochs)

    @property
    def seconds_per_step(self) -> float:
        return (self.flops_per_token * self.tokens_per_step
                / (self.world_size * PEAK_BF16_FLOPS[self.gpu] * self.mfu))


def _model_config(model_args, architecture: str | None):
    if model_args.random_init_config is not None:
        return MistralConfig(**model_args.random_init_config)
    source = architecture or model_args.model_name_or_path
    if is_adapter_dir(source):
        source = adapter_chain(source)[0]  # an adapter has its base's architecture
    if source in KNOWN_ARCHITECTURES:
        return MistralConfig(**KNOWN_ARCHITECTURES[source])
    try:
        return AutoConfig.from_pretrained(source)
    except OSError as err:
        raise RecipeError(
            f"Cannot read the architecture of {source!r} ({err.__class__.__name__}). For a model "
            "that does not exist yet (the DPO recipe starts from the SFT output), pass "
            f"--architecture with its base model, e.g. one of {sorted(KNOWN_ARCHITECTURES)}."
        ) from err


def count_parameters(config) -> tuple[int, int]:
    """(total parameters, largest single parameter tensor), counted on the meta device."""
    model = meta_model(config)
    sizes = [p.numel() for p in model.parameters()]
    return sum(sizes), max(sizes)


def _split_rows(name: str, split: str) -> tuple[int, str] | None:
    folder = Path(name)
    files = sorted((folder / "data").glob(f"{split}-*.parquet")) if folder.is_dir() else []
    if files:
        import pyarrow.parquet as pq

        return sum(pq.ParquetFile(f).metadata.num_rows for f in files), f"rows of {folder}"
    if (name, split) in KNOWN_SPLIT_ROWS:
        return KNOWN_SPLIT_ROWS[(name, split)], f"rows of {name} {split} (dataset card)"
    return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m zephyr_train.plan", description=__doc__)
    parser.add_argument("--config", required=True, help="Recipe file or packaged recipe name.")
    parser.add_argument("--task", choices=["sft", "dpo"],
                        help="Default: from the recipe's file name (sft*.yaml, dpo*.yaml).")
    parser.add_argument("--num_machines", type=int, default=2)
    parser.add_argument("--gpus_per_machine", type=int, default=8)
    parser.add_argument("--gpu", choices=sorted(PEAK_BF16_FLOPS), default="a100-80gb")
    parser.add_argument("--compare_gpus", default="rtx4090-24gb,a100-80gb",
                        help="LoRA/QLoRA recipes: the GPU models to compare (comma-separated).")
    parser.add_argument("--gpu_counts", default="1,8",
                        help="LoRA/QLoRA recipes: the numbers of GPUs to compare.")
    parser.add_argument("--mfu", type=float, default=0.35,
                        help="Assumed model-FLOPs utilisation (default 0.35).")
    parser.add_argument("--train_examples", type=int,
                        help="Training rows (default: counted, or the dataset card's).")
    parser.add_argument("--avg_tokens_per_example", type=float,
                        help="Mean tokens per example, to count packed sequences (default: "
                        "one packed sequence per example, an upper bound).")
    parser.add_argument("--architecture", help="Hub id or directory whose config gives the "
                        "model's shape (default: the recipe's model).")
    parser.add_argument("--accelerate_config", default=str(ACCELERATE_CONFIGS_DIR / "zero3.yaml"))
    return parser


def _count_examples(args, data_args) -> tuple[int, str]:
    rows = (args.train_examples, "--train_examples") if args.train_examples else _split_rows(
        data_args.dataset_name, data_args.dataset_train_split)
    if rows is None:
        raise RecipeError(
            f"Cannot count the rows of {data_args.dataset_name!r} split "
            f"{data_args.dataset_train_split!r} without the Hub; pass --train_examples N.")
    examples, source = rows
    if data_args.max_train_samples:
        examples = min(examples, data_args.max_train_samples)
    return examples, source


def _schedule(task, train_args, examples, global_batch, avg_tokens) -> tuple[bool, int, int, float]:
    """(packing, sequences per epoch, optimizer steps per epoch, epochs)."""
    packing = task == "sft" and bool(train_args.packing)
    sequences = examples
    if packing and avg_tokens:
        sequences = math.ceil(examples * avg_tokens / train_args.max_length)
    steps_per_epoch = math.ceil(sequences / global_batch)
    epochs = train_args.num_train_epochs
    if train_args.max_steps and train_args.max_steps > 0:
        epochs = train_args.max_steps / steps_per_epoch
    return packing, sequences, steps_per_epoch, epochs


def _lora_plan(args, task, model_args, train_args, examples, source, config) -> LoraPlan:
    gpus = [gpu.strip() for gpu in args.compare_gpus.split(",") if gpu.strip()]
    unknown = [gpu for gpu in gpus if gpu not in PEAK_BF16_FLOPS]
    if unknown or not gpus:
        raise RecipeError(f"--compare_gpus={args.compare_gpus!r}: unknown GPU(s) {unknown}; "
                          f"known: {', '.join(sorted(PEAK_BF16_FLOPS))}.")
    counts = [int(n) for n in args.gpu_counts.split(",")]
    per_device = train_args.per_device_train_batch_size
    global_batch = (train_args.global_batch_size
                    or per_device * train_args.gradient_accumulation_steps)
    packing, sequences, steps_per_epoch, epochs = _schedule(
        task, train_args, examples, global_batch, args.avg_tokens_per_example)
    total_steps = math.ceil(steps_per_epoch * epochs)
    peft_config, quant = lora_config(model_args), quantization_config(model_args)
    pair = 2 if task == "dpo" else 1  # DPO runs chosen and rejected as one batch
    memory = lora_memory(
        meta_model(config), peft_config, dtype=model_args.dtype, quantization=quant,
        optim=str(getattr(train_args.optim, "value", train_args.optim)),
        tokens=pair * per_device * train_args.max_length,
        checkpointing=bool(train_args.activation_checkpointing))
    total = memory.quantized_params + memory.dense_params
    flops = lora_flops_per_token(task, total, memory.adapter_params, config.num_hidden_layers,
                                 config.hidden_size, train_args.max_length)
    return LoraPlan(
        task=task, recipe=str(args.config), lora=describe_lora(peft_config),
        lora_dropout=peft_config.lora_dropout, packing=packing, sequences_per_epoch=sequences,
        quantization=describe_quantization(quant), dtype=model_args.dtype,
        per_device_batch=per_device, global_batch=global_batch,
        max_length=train_args.max_length, train_examples=examples,
        train_examples_source=source, steps_per_epoch=steps_per_epoch, total_steps=total_steps,
        total_params=total, memory=memory, flops_per_token=flops, mfu=args.mfu,
        rows=plan_rows(gpus=gpus, counts=counts, memory=memory, global_batch=global_batch,
                       per_device=per_device,
                       flops_per_step=flops * pair * global_batch * train_args.max_length,
                       total_steps=total_steps, mfu=args.mfu, peak_flops=PEAK_BF16_FLOPS,
                       gpu_gib=GPU_MEMORY_GIB),
    )


def make_plan(argv: Sequence[str] | None = None) -> Plan | LoraPlan:
    args, overrides = _parser().parse_known_args(argv)
    recipe = resolve_recipe(args.config)
    task = recipe_task(recipe, args.task)
    if not 0 < args.mfu <= 1:
        raise RecipeError(f"--mfu={args.mfu} must be in (0, 1], e.g. 0.35 for 35%.")
    config_cls = ZephyrSFTConfig if task == "sft" else ZephyrDPOConfig
    # The recipe is validated as written; use_cpu only lets bf16 recipes parse without a GPU.
    extra = [] if torch.cuda.is_available() else ["--use_cpu", "true"]
    os.environ.pop("WORLD_SIZE", None)
    model_args, data_args, train_args = parse_args(
        config_cls, ["--config", str(recipe), *overrides, *extra])
    examples, source = _count_examples(args, data_args)
    config = _model_config(model_args, args.architecture)
    if model_args.use_peft:
        return _lora_plan(args, task, model_args, train_args, examples, source, config)

    world_size = args.num_machines * args.gpus_per_machine
    per_device = train_args.per_device_train_batch_size
    if train_args.global_batch_size is not None:
        global_batch = train_args.global_batch_size
        grad_accum = derive_gradient_accumulation(global_batch, per_device, world_size)
    else:
        grad_accum = train_args.gradient_accumulation_steps
        global_batch = per_device * grad_accum * world_size
    packing, sequences, steps_per_epoch, epochs = _schedule(
        task, train_args, examples, global_batch, args.avg_tokens_per_example)
    total, largest = count_parameters(config)

    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs

    ds = deepspeed_dict(Path(args.accelerate_config), micro_batch=per_device,
                        grad_accum=grad_accum, world_size=world_size)
    offload_opt = ds["zero_optimization"]["offload_optimizer"]["device"] != "none"
    offload_par = ds["zero_optimization"]["offload_param"]["device"] != "none"
    cpu_bytes, gpu_bytes, _ = estimate_zero3_model_states_mem_needs(
        total, largest, num_gpus_per_node=args.gpus_per_machine, num_nodes=args.num_machines,
        cpu_offload=offload_opt, cpu_offload_params=offload_par, zero_init=True)
    checked = check_with_deepspeed(ds, world_size)
    ds_check = (f"accepted (train_batch_size {checked.train_batch_size} = micro "
                f"{checked.train_micro_batch_size_per_gpu} x accumulation "
                f"{checked.gradient_accumulation_steps} x {checked.world_size} ranks)")

    return Plan(
        task=task, recipe=str(args.config), gpu=args.gpu, num_machines=args.num_machines,
        gpus_per_machine=args.gpus_per_machine, per_device_batch=per_device,
        grad_accum=grad_accum, global_batch=global_batch, max_length=train_args.max_length,
        packing=packing, train_examples=examples, train_examples_source=source,
        sequences_per_epoch=sequences, steps_per_epoch=steps_per_epoch, epochs=epochs,
        total_params=total, largest_layer_params=largest,
        num_layers=config.num_hidden_layers, hidden_size=config.hidden_size,
        flops_per_token=training_flops_per_token(config, train_args.max_length,
                                                 reference_forward=task == "dpo"),
        zero3_gpu_bytes=gpu_bytes, zero3_cpu_bytes=cpu_bytes, mfu=args.mfu,
        deepspeed_check=ds_check,
    )


def format_plan(p: Plan) -> str:
    seq_note = ("packed sequences, from --avg_tokens_per_example" if p.packing
                and p.sequences_per_epoch != p.train_examples else
                "one sequence per example" + (" (upper bound when packing; pass "
                                              "--avg_tokens_per_example)" if p.packing else ""))
    tok_note = ("exact: packed sequences are full" if p.packing else
                "upper bound: every sequence at max_length")
    if p.task == "dpo":
        tok_note += "; chosen + rejected per pair"
    hours = p.seconds_per_step * p.total_steps / 3600
    lines = [
        f"Plan for {p.task.upper()} recipe {p.recipe} on {p.num_machines} x {p.gpus_per_machine} "
        f"{p.gpu} ({GPU_MEMORY_GIB[p.gpu]} GiB)",
        f"  world size                 {p.world_size} processes",
        f"  per-device batch           {p.per_device_batch}",
        f"  gradient accumulation      {p.grad_accum}",
        f"  global batch               {p.global_batch} = {p.per_device_batch} x {p.world_size} "
        f"x {p.grad_accum} {'pairs' if p.task == 'dpo' else 'sequences'} of <= {p.max_length} "
        "tokens",
        f"  training examples          {p.train_examples:,} ({p.train_examples_source})",
        f"  sequences per epoch        {p.sequences_per_epoch:,} ({seq_note})",
        f"  optimizer steps per epoch  {p.steps_per_epoch:,} = ceil({p.sequences_per_epoch:,} / "
        f"{p.global_batch})",
        f"  epochs                     {p.epochs:g} -> {p.total_steps:,} optimizer steps",
        f"  tokens per step            {p.tokens_per_step:,} = {p.sequences_per_step} x "
        f"{p.max_length} ({tok_note})",
        f"  model parameters           {p.total_params:,} (largest tensor "
        f"{p.largest_layer_params:,})",
        f"  ZeRO-3 model states / GPU  {p.zero3_gpu_bytes / GIB:.1f} GiB "
        f"(DeepSpeed estimate_zero3_model_states_mem_needs; CPU {p.zero3_cpu_bytes / GIB:.1f} "
        "GiB; activations not included)",
        f"  DeepSpeed config check     {p.deepspeed_check}",
        f"  FLOPs per token            {p.flops_per_token:.3e} (TRL's compute_flops_per_token at "
        f"{p.max_length}: 3 x the forward's matrix products, attention included"
        + ("; + the frozen reference's forward" if p.task == "dpo" else "") + ")",
        f"  time per step at {p.mfu:.0%} MFU   {p.seconds_per_step:.1f} s "
        f"(peak {PEAK_BF16_FLOPS[p.gpu] / 1e12:.0f} TFLOP/s bf16 per GPU)",
        f"  expected time              {hours:.1f} h for {p.total_steps:,} steps",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> Plan | LoraPlan:
    plan = make_plan(sys.argv[1:] if argv is None else argv)
    print(format_lora_plan(plan, PEAK_BF16_FLOPS) if isinstance(plan, LoraPlan)
          else format_plan(plan))
    return plan


if __name__ == "__main__":
    main()
