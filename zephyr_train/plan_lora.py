"""The plan of a LoRA or QLoRA recipe: trainable parameters, memory per GPU and time.

LoRA trains data-parallel (DDP): every GPU holds the whole frozen model, the adapter with its
gradients and optimizer states, and the activations of its own micro-batch, so the memory per
GPU is the same on 1 or 8 GPUs; more GPUs cut the gradient accumulation and the time.

Every figure is a count times bytes per element, printed so that a reader can redo it:

- frozen weights: bitsandbytes NF4 stores 4 bits per weight plus one absmax per block of 64
  (fp32, or with double quantization uint8 plus one fp32 per 256 blocks); the embeddings, the
  LM head and the norms stay in the compute dtype (transformers skips the output embeddings);
- the adapter: peft keeps LoRA weights in fp32 on a bf16 model, TRL casts them to bf16 on a
  4-bit one (QLoRA); gradients in the same dtype, AdamW's two states too (``adamw_torch``);
- activations saved for backward, with activation checkpointing: each layer's input, one layer
  recomputed during backward, the final norm and TRL's fused LM head (it never materialises the
  logits). The bytes per token of a layer were measured with ``saved_tensors_hooks`` on
  transformers' Mistral layer under bf16 autocast (the test measures them again):
  ``12d + 6f + 4d_kv + 4h + 8`` for the frozen layer, plus ``(2 + a)·in + a·r`` per LoRA
  module with dropout (``2·in + a·r`` without), ``a`` the adapter's bytes per element.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import torch

from zephyr_train.batching import StepShape, derive_gradient_accumulation

GIB = 2**30
CUDA_RESERVE_GIB = 1.0  # CUDA context, kernels and allocator slack on top of the tensors
_LAYER = re.compile(r"\.layers\.(\d+)\.")
DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4, "auto": 2}


def bytes_per_4bit_weight(double_quant: bool, blocksize: int = 64) -> float:
    """NF4/FP4 storage per weight: 4 bits, plus the block's absmax (bitsandbytes' layout)."""
    if double_quant:
        return 0.5 + 1 / blocksize + 4 / (blocksize * 256)
    return 0.5 + 4 / blocksize


def optimizer_state_bytes(optim: str, param_bytes: int) -> float:
    """AdamW's two moments per trainable parameter: in the parameter's dtype for the torch
    optimizers, 4 bytes each for bitsandbytes' 32-bit ones, 1 each for its 8-bit ones."""
    if "8bit" in optim:
        return 2
    if "32bit" in optim:
        return 8
    return 2 * param_bytes


@dataclass
class LoraMemory:
    quantized_params: int
    dense_params: int
    quantized_bytes_per_param: float
    dense_bytes_per_param: int
    adapter_params: int
    adapter_bytes: int  # per element of the adapter's weights and gradients
    optimizer_bytes: float  # per adapter parameter
    tokens: int  # per micro-batch
    num_layers: int
    checkpoint_bytes_per_token: int  # per layer
    frozen_layer_bytes_per_token: int  # saved for backward by one frozen layer
    lora_layer_bytes_per_token: int  # ... and by the LoRA modules of one layer
    head_bytes_per_token: int
    checkpointing: bool

    @property
    def layer_bytes_per_token(self) -> int:
        return self.frozen_layer_bytes_per_token + self.lora_layer_bytes_per_token

    @property
    def weights(self) -> float:
        return (self.quantized_params * self.quantized_bytes_per_param
                + self.dense_params * self.dense_bytes_per_param)

    @property
    def adapter_bytes_per_param(self) -> float:
        return 2 * self.adapter_bytes + self.optimizer_bytes

    @property
    def adapter(self) -> float:
        return self.adapter_params * self.adapter_bytes_per_param

    @property
    def checkpoints(self) -> float:
        return self.num_layers * self.tokens * self.checkpoint_bytes_per_token \
            if self.checkpointing else 0

    @property
    def layers(self) -> float:
        return self.tokens * self.layer_bytes_per_token * (1 if self.checkpointing
                                                            else self.num_layers)

    @property
    def head(self) -> float:
        return self.tokens * self.head_bytes_per_token

    @property
    def activations(self) -> float:
        return self.checkpoints + self.layers + self.head

    @property
    def total(self) -> float:
        return self.weights + self.adapter + self.activations


def _lora_modules(peft_model) -> list:
    from peft.tuners.lora import LoraLayer

    return [(name, m) for name, m in peft_model.named_modules() if isinstance(m, LoraLayer)]


def lora_memory(model, peft_config, *, dtype: str, quantization, optim: str, tokens: int,
                checkpointing: bool) -> LoraMemory:
    """Memory per GPU of LoRA training of ``model`` (on the meta device; peft wraps it)."""
    from peft import get_peft_model
    from transformers.quantizers.base import get_keys_to_not_convert

    config = model.config
    keep = set(get_keys_to_not_convert(model))
    quantized = 0
    if quantization is not None:
        quantized = sum(m.weight.numel() for name, m in model.named_modules()
                        if isinstance(m, torch.nn.Linear) and name not in keep)
    total = sum(p.numel() for p in model.parameters())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # peft asks a deprecated transformers API
        peft_model = get_peft_model(model, peft_config, low_cpu_mem_usage=True)  # on meta
    adapter_params = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)

    if quantization is None:
        q_bytes = 0.0
    elif quantization.load_in_4bit:
        q_bytes = bytes_per_4bit_weight(quantization.bnb_4bit_use_double_quant)
    else:
        q_bytes = 1.0  # int8, plus one fp32 scale per row (negligible)
    dense_bytes = DTYPE_BYTES[dtype]
    # peft upcasts LoRA weights to fp32 on a 16-bit model; TRL casts them to bf16 on a 4-bit one.
    adapter_bytes = 2 if quantization is not None else 4

    d, f = config.hidden_size, config.intermediate_size
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or d // heads
    d_kv = config.num_key_value_heads * head_dim
    frozen_layer = 12 * d + 6 * f + 4 * d_kv + 4 * heads + 8
    dropout = peft_config.lora_dropout > 0
    lora_per_layer: dict[str, int] = {}
    for name, module in _lora_modules(peft_model):
        layer = _LAYER.search(name)
        extra = ((2 + adapter_bytes) if dropout else 2) * module.in_features \
            + adapter_bytes * module.r["default"]
        key = layer.group(1) if layer else name
        lora_per_layer[key] = lora_per_layer.get(key, 0) + extra
    memory = LoraMemory(
        quantized_params=quantized, dense_params=total - quantized,
        quantized_bytes_per_param=q_bytes, dense_bytes_per_param=dense_bytes,
        adapter_params=adapter_params, adapter_bytes=adapter_bytes,
        optimizer_bytes=optimizer_state_bytes(optim, adapter_bytes), tokens=tokens,
        num_layers=config.num_hidden_layers, checkpoint_bytes_per_token=2 * d,
        frozen_layer_bytes_per_token=frozen_layer,
        lora_layer_bytes_per_token=max(lora_per_layer.values(), default=0),
        head_bytes_per_token=6 * d + 16,
        checkpointing=checkpointing,
    )
    return memory


def lora_flops_per_token(task: str, total_params: int, adapter_params: int, num_layers: int,
                         hidden_size: int, max_length: int) -> float:
    """Model FLOPs per training token with frozen base weights: forward 2N, backward 2N (input
    gradients only), the adapter's 6N_a, attention 12·L·d·s; DPO adds the reference forward
    (adapter off: 2N + 4·L·d·s)."""
    attn = num_layers * hidden_size * max_length
    flops = 4 * total_params + 6 * adapter_params + 12 * attn
    if task == "dpo":
        flops += 2 * total_params + 4 * attn
    return flops


def describe_lora(peft_config) -> str:
    targets = peft_config.target_modules
    targets = targets if isinstance(targets, str) else ", ".join(sorted(targets or []))
    return (f"r={peft_config.r}, alpha={peft_config.lora_alpha}, dropout "
            f"{peft_config.lora_dropout:g}, on {targets or 'peft defaults'}")


def describe_quantization(quant) -> str | None:
    if quant is None:
        return None
    if not quant.load_in_4bit:
        return "int8"
    return (f"{quant.bnb_4bit_quant_type.upper()} 4-bit"
            + (", double quantization" if quant.bnb_4bit_use_double_quant else ""))


def format_memory(m: LoraMemory, *, dtype: str, quant_name: str | None,
                  dropout: bool) -> list[str]:
    gib = lambda x: f"{x / GIB:.2f} GiB"  # noqa: E731
    lines = ["  memory per GPU (the same on 1 or 8 GPUs: each holds the whole model)"]
    if m.quantized_params:
        quantized = m.quantized_params * m.quantized_bytes_per_param
        dense = m.dense_params * m.dense_bytes_per_param
        lines.append(f"    frozen linear weights  {m.quantized_params:,} x "
                     f"{m.quantized_bytes_per_param:.4f} B ({quant_name}) = {gib(quantized)}")
        lines.append(f"    other frozen weights   {m.dense_params:,} x {m.dense_bytes_per_param} B "
                     f"({dtype}: embeddings, LM head, norms) = {gib(dense)}")
    else:
        lines.append(f"    frozen weights         {m.dense_params:,} x {m.dense_bytes_per_param} B "
                     f"({dtype}) = {gib(m.weights)}")
    adapter_dtype = "fp32" if m.adapter_bytes == 4 else "bf16"
    lines += [
        f"    adapter                {m.adapter_params:,} x {m.adapter_bytes_per_param:g} B "
        f"({adapter_dtype} weight {m.adapter_bytes} + gradient {m.adapter_bytes} + AdamW states "
        f"{m.optimizer_bytes:g}) = {gib(m.adapter)}",
        f"    activations            {gib(m.activations)} for {m.tokens:,} tokens per micro-batch"
        + (" with activation checkpointing" if m.checkpointing else " without checkpointing")
        + " (bf16 autocast):",
    ]
    if m.checkpointing:
        lines.append(f"      layer inputs kept    {m.num_layers} layers x {m.tokens:,} tokens x "
                     f"{m.checkpoint_bytes_per_token:,} B (2d, bf16) = {gib(m.checkpoints)}")
    lines += [
        f"      {'one layer recomputed' if m.checkpointing else 'every layer         '} "
        f"{m.tokens:,} tokens x {m.layer_bytes_per_token:,} B"
        + ("" if m.checkpointing else f" x {m.num_layers} layers") + f" = {gib(m.layers)}",
        f"                           (frozen layer 12d + 6f + 4d_kv + 4h + 8 = "
        f"{m.frozen_layer_bytes_per_token:,} B; LoRA modules "
        f"{'(2 + a)·in' if dropout else '2·in'} + a·r, a = {m.adapter_bytes}: "
        f"{m.lora_layer_bytes_per_token:,} B)",
        f"      final norm, LM head  {m.tokens:,} tokens x {m.head_bytes_per_token:,} B (6d + 16; "
        f"TRL's fused head keeps no logits) = {gib(m.head)}",
        f"    total                  {gib(m.total)} (+ about {CUDA_RESERVE_GIB:g} GiB of CUDA "
        "context and allocator slack)",
    ]
    return lines


def fits(m: LoraMemory, gpu_gib: float) -> bool:
    return m.total / GIB + CUDA_RESERVE_GIB <= gpu_gib


@dataclass
class LoraPlan(StepShape):
    lora: str  # r, alpha, dropout, target modules
    lora_dropout: float
    quantization: str | None
    dtype: str
    total_steps: int
    memory: LoraMemory
    flops_per_token: float
    mfu: float
    rows: list[dict]  # one per (GPU model, number of GPUs)


def plan_rows(*, gpus: list[str], counts: list[int], memory: LoraMemory, global_batch: int,
              per_device: int, flops_per_step: float, total_steps: int, mfu: float,
              peak_flops: dict, gpu_gib: dict) -> list[dict]:

    rows = []
    for gpu in gpus:
        for n in counts:
            seconds = flops_per_step / (n * peak_flops[gpu] * mfu)
            try:
                accum = derive_gradient_accumulation(global_batch, per_device, n)
            except ValueError:
                accum = None  # this many GPUs cannot make the recipe's global batch
            rows.append(dict(
                gpu=gpu, gib=gpu_gib[gpu], gpus=n, fits=fits(memory, gpu_gib[gpu]),
                grad_accum=accum, seconds_per_step=seconds, hours=seconds * total_steps / 3600))
    return rows


def format_lora_plan(p: LoraPlan, peak_flops: dict) -> str:
    if p.quantization is None:
        what = f"LoRA on frozen {p.dtype} weights"
    else:
        what = f"QLoRA (LoRA on frozen {8 if p.quantization == 'int8' else 4}-bit weights)"
    share = p.memory.adapter_params / p.total_params
    unit = (f"pairs ({2 * p.per_device_batch} sequences: chosen + rejected)" if p.task == "dpo"
            else "sequences")
    lines = [
        f"Plan for {p.task.upper()} recipe {p.recipe}: {what}, data-parallel (DDP)",
        f"  LoRA                       {p.lora}",
        f"  model parameters           {p.total_params:,} (frozen)",
        f"  trainable parameters       {p.memory.adapter_params:,} ({share:.2%} of the model)",
        f"  micro-batch per GPU        {p.per_device_batch} {unit} of <= {p.max_length} tokens "
        f"= {p.memory.tokens:,} tokens",
        f"  global batch               {p.global_batch} "
        f"{'pairs' if p.task == 'dpo' else 'sequences'} = {p.tokens_per_step:,} tokens per step "
        + ("(exact: packed sequences are full)" if p.packing
           else "(upper bound: every sequence at max_length)"),
        f"  training examples          {p.train_examples:,} ({p.train_examples_source})",
        f"  sequences per epoch        {p.sequences_per_epoch:,}"
        + (" (one packed sequence per example, an upper bound; pass --avg_tokens_per_example)"
           if p.packing and p.sequences_per_epoch == p.train_examples else ""),
        f"  optimizer steps            {p.total_steps:,} ({p.steps_per_epoch:,} per epoch)",
        *format_memory(p.memory, dtype=p.dtype, quant_name=p.quantization,
                       dropout=p.lora_dropout > 0),
        f"  FLOPs per token            {p.flops_per_token:.3e} ("
        + ("6N + 6N_lora + 16·L·d·s: policy forward and input gradients on chosen+rejected, "
           "reference forward with the adapter off" if p.task == "dpo" else
           "4N + 6N_lora + 12·L·d·s: forward, input gradients, adapter gradients")
        + ")",
        f"  {'GPU':<14} {'memory':>7}  {'fits':<4} {'GPUs':>4} {'accumulation':>12} "
        f"{'s/step':>7} {'expected time':>13}  (at {p.mfu:.0%} MFU)",
    ]
    for r in p.rows:
        fit = "yes" if r["fits"] else "NO"
        head = f"  {r['gpu']:<14} {r['gib']:>4} GiB  {fit:<4} {r['gpus']:>4} "
        if r["grad_accum"] is None:
            lines.append(head + f"  -- global batch {p.global_batch} is not a multiple of "
                         f"{p.per_device_batch} x {r['gpus']} GPUs")
            continue
        peak = peak_flops[r["gpu"]] / 1e12
        lines.append(head + f"{r['grad_accum']:>12} {r['seconds_per_step']:>7.1f} "
                     f"{r['hours']:>11.1f} h  (peak {peak:.0f} TFLOP/s bf16)")
    return "\n".join(lines)
