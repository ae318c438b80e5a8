"""The shared body of the SFT and DPO jobs: check, load, train, save."""

from __future__ import annotations

import logging

import transformers
from trl import DPOTrainer, SFTTrainer

from zephyr_train.callbacks import ZeroPartitionReport
from zephyr_train.configs import DataArguments, ModelArguments
from zephyr_train.data import load_train_eval
from zephyr_train.lora import check_quantization_runtime, check_target_modules, lora_config
from zephyr_train.modeling import check_model_source, load_model, load_tokenizer, model_config

logger = logging.getLogger("zephyr_train")


def _setup_logging(training_args) -> None:
    level = logging.INFO if training_args.process_index == 0 else logging.WARNING
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level)
    logging.getLogger("zephyr_train").setLevel(level)
    transformers.utils.logging.set_verbosity(level)


def run(task: str, model_args: ModelArguments, data_args: DataArguments, training_args):
    """Train with SFTTrainer (``task='sft'``) or DPOTrainer (``'dpo'``); returns the trainer."""
    _setup_logging(training_args)
    logger.info(
        "%s: global batch %s = %s per device x %s processes x %s accumulation",
        task.upper(), training_args.global_batch_size, training_args.per_device_train_batch_size,
        training_args.world_size, training_args.gradient_accumulation_steps,
    )
    # Everything that can be checked cheaply is checked before any weights are loaded.
    check_quantization_runtime(model_args)
    if model_args.model_name_or_path is not None:
        check_model_source(model_args.model_name_or_path)
    peft_config = lora_config(model_args)
    if peft_config is not None:
        check_target_modules(model_args, model_config(model_args))
    train_dataset, eval_dataset = load_train_eval(data_args, task)
    tokenizer = load_tokenizer(model_args)
    model = load_model(model_args)

    callbacks = [ZeroPartitionReport()] if training_args.zero_partition_report else None
    trainer_cls = SFTTrainer if task == "sft" else DPOTrainer
    trainer = trainer_cls(
        model=model, args=training_args, train_dataset=train_dataset,
        eval_dataset=eval_dataset, processing_class=tokenizer, callbacks=callbacks,
        peft_config=peft_config,  # LoRA: the DPO reference is this model with the adapter off
    )
    trainer.train()
    trainer.save_model(training_args.output_dir)  # with LoRA: the adapter and its config only
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(training_args.output_dir)
    return trainer
