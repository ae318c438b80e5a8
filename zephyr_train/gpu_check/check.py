"""Run the parts in order, each isolated (a failure is recorded with a hint and the next part
still runs), write ``gpu_check.json`` after every part, and print a summary."""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import math
import os
import shutil
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

import torch

from zephyr_train.flops import peak_bf16_flops
from zephyr_train.gpu_check import parts
from zephyr_train.gpu_check.bundle import Bundle
from zephyr_train.gpu_check.config import GPUCheckArguments

logger = logging.getLogger("zephyr_train.gpu_check")
PARTS = (("environment", parts.environment), ("sft", parts.sft), ("dpo", parts.dpo),
         ("generation", parts.generation))
PACK = "python -m zephyr_train.gpu_check.pack"


def make_context(args: GPUCheckArguments, checkpoints: Path) -> parts.Context:
    if args.device == "cuda" and torch.cuda.is_available():
        device = torch.device("cuda", torch.cuda.current_device())
        name = torch.cuda.get_device_name(device)
    else:
        device = torch.device(args.device)
        name = "CPU" if args.device == "cpu" else "no CUDA device"
    if args.peak_tflops is not None:
        peak, source = args.peak_tflops * 1e12, "--peak_tflops"
    else:
        peak = peak_bf16_flops(name) if device.type == "cuda" else None
        source = "TRL's peak FLOP/s table (trl.trainer.utils.get_peak_flops)"
    return parts.Context(args=args, bundle=Bundle(Path(args.bundle)), device=device,
                         device_name=name, peak_flops=peak, peak_source=source,
                         checkpoints=checkpoints)


def hint(err: BaseException, part: str, args: GPUCheckArguments) -> str | None:
    if isinstance(err, torch.OutOfMemoryError):
        batch = "max_new_tokens or generation_batch_size" if part == "generation" else (
            f"{part}_per_device_batch (the global batch stays: accumulation grows) or the "
            "max_length")
        return f"Out of device memory: lower {batch}, or keep activation_checkpointing on."
    if isinstance(err, ImportError):
        return (f"A package is missing here. Install the wheels that {PACK} downloaded: python3 "
                f"-m pip install --no-index --no-deps {args.bundle}/wheels/*.whl")
    if isinstance(err, FileNotFoundError):
        return f"Make the bundle with `{PACK} --dir {args.bundle}` and bring it along."
    return None


def run_part(name: str, fn, ctx: parts.Context) -> dict:
    result: dict = {"status": "running"}
    logger.info("GPU check: %s", name)
    started = time.perf_counter()
    try:
        fn(ctx, result)
        result["status"] = "ok"
    except Exception as err:  # each part is isolated: record it and go on
        result["status"] = "failed"
        result["error"] = {"type": type(err).__name__, "message": str(err),
                           "hint": hint(err, name, ctx.args),
                           "traceback": traceback.format_exc().splitlines()[-30:]}
        logger.error("GPU check: %s failed: %s: %s", name, type(err).__name__, err)
    finally:
        result["seconds"] = time.perf_counter() - started
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return result


def _clean(value):
    """JSON without NaN/Infinity (not JSON): a non-finite float becomes its name as a string."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def write_report(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(_clean(report), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def summarize(report: dict) -> dict:
    got = report["parts"]
    out = {"ok": all(p["status"] == "ok" for p in got.values()),
           "failed_parts": [n for n, p in got.items() if p["status"] != "ok"],
           "device": got.get("environment", {}).get("device"),
           "peak_bf16_tflops": (got.get("environment", {}).get("peak_bf16_flops") or 0) / 1e12
           or None}
    for name in ("sft", "dpo"):
        part = got.get(name, {})
        speed = part.get("throughput") or {}
        out[f"{name}_tokens_per_second_per_gpu"] = speed.get("tokens_per_second_per_gpu")
        out[f"{name}_mfu"] = speed.get("mfu")
        out[f"{name}_peak_gpu_memory_gib"] = part.get("peak_gpu_memory_gib")
        out[f"{name}_loss_first_last"] = [part.get("loss_first"), part.get("loss_last")]
    out["attn_implementation"] = (got.get("sft", {}).get("attn_implementation")
                                  or got.get("environment", {}).get("attn_implementation"))
    out["generation_tokens_per_second"] = got.get("generation", {}).get("tokens_per_second")
    out["generation_peak_gpu_memory_gib"] = got.get("generation", {}).get("peak_gpu_memory_gib")
    return out


def _fmt(value, spec: str, none: str = "-") -> str:
    return none if value is None else format(value, spec)


def format_summary(report: dict) -> str:
    env, got = report["parts"].get("environment", {}), report["parts"]
    peak = env.get("peak_bf16_flops")
    lines = [f"GPU check on {env.get('device')} (peak {_fmt(peak and peak / 1e12, '.0f')} TFLOP/s "
             f"bf16), attention {report['summary']['attn_implementation']}",
             f"  {'part':<12}{'status':<8}{'tokens/s/GPU':>14}{'MFU':>8}{'peak GPU mem':>15}"
             f"{'loss first->last':>20}{'time':>9}"]
    for name, part in got.items():
        speed = part.get("throughput") or {}
        mem = part.get("peak_gpu_memory_gib")
        loss = (f"{part['loss_first']:.3f}->{part['loss_last']:.3f}"
                if part.get("loss_last") is not None else "")
        rate = speed.get("tokens_per_second_per_gpu") or part.get("tokens_per_second")
        lines.append(f"  {name:<12}{part['status']:<8}{_fmt(rate, ',.0f'):>14}"
                     f"{_fmt(speed.get('mfu'), '.1%'):>8}"
                     f"{_fmt(mem, '.1f') + (' GiB' if mem is not None else ''):>15}"
                     f"{loss:>20}{part['seconds']:>8.1f}s")
        if part.get("error"):
            lines.append(f"      {part['error']['type']}: {part['error']['message'][:300]}")
            if part["error"]["hint"]:
                lines.append(f"      hint: {part['error']['hint']}")
    if "generation" in got and got["generation"].get("answers_file"):
        gen = got["generation"]
        lines.append(f"  generation: {gen['answers']} MT-Bench answers, {gen['generated_tokens']} "
                     f"new tokens (tokens/s above) in {gen['answers_file']}")
    lines.append(f"  whole check {report['wall_seconds']:.1f} s; JSON: {report['json']}")
    return "\n".join(lines)


def run_check(args: GPUCheckArguments) -> dict:
    started = time.perf_counter()
    report = {"check": "python -m zephyr_train.gpu_check", "json": str(args.json_path),
              "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "config": dict(dataclasses.asdict(args), model_config=args.model_config),
              "parts": {}}
    temporary = args.checkpoint_dir is None
    checkpoints = Path(tempfile.mkdtemp(prefix="gpu-check-") if temporary
                       else args.checkpoint_dir)
    try:
        ctx = make_context(args, checkpoints)
        for name, fn in PARTS:
            report["parts"][name] = run_part(name, fn, ctx)
            report["wall_seconds"] = time.perf_counter() - started
            write_report(report, args.json_path)
    finally:
        if temporary:
            shutil.rmtree(checkpoints, ignore_errors=True)
    report["summary"] = summarize(report)
    report["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    report["wall_seconds"] = time.perf_counter() - started
    write_report(report, args.json_path)
    return report
