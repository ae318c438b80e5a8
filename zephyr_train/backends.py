"""Text generation backends: vLLM when installed and a GPU is present, else transformers."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

logger = logging.getLogger(__name__)


class TransformersBackend:
    """Batched ``model.generate`` with left padding; prompts are already chat-formatted."""

    name = "transformers"

    def __init__(self, model: str, *, revision: str = "main", dtype: str = "auto", seed: int = 42):
        self.tokenizer = AutoTokenizer.from_pretrained(model, revision=revision)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.unk_token or self.tokenizer.eos_token
        device = "cuda" if torch.cuda.is_available() else "cpu"
        torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
        self.model = AutoModelForCausalLM.from_pretrained(model, revision=revision,
                                                          dtype=torch_dtype).to(device).eval()
        torch.manual_seed(seed)  # once: the run's samples are reproducible, turns still differ
        self.generated_tokens = 0  # new tokens of every answer so far, padding excluded

    def render(self, conversation: list[dict]) -> str:
        return self.tokenizer.apply_chat_template(conversation, tokenize=False,
                                                  add_generation_prompt=True)

    @torch.inference_mode()
    def generate(self, prompts: Sequence[str], *, temperature: float,
                 max_new_tokens: int) -> list[str]:
        # The chat template writes every special token the model was trained with (it has no
        # BOS, like the SFT/DPO training data), so nothing is added here.
        batch = self.tokenizer(list(prompts), return_tensors="pt", padding=True,
                               add_special_tokens=False).to(self.model.device)
        sampling = temperature >= 1e-4  # FastChat: below that, greedy decoding
        out = self.model.generate(
            **batch, max_new_tokens=max_new_tokens, do_sample=sampling,
            temperature=temperature if sampling else None, top_p=None, top_k=None,
            eos_token_id=self.tokenizer.eos_token_id, pad_token_id=self.tokenizer.pad_token_id,
        )
        new_tokens = out[:, batch["input_ids"].shape[1]:]
        self.generated_tokens += int((new_tokens != self.tokenizer.pad_token_id).sum())
        return [t.strip() for t in
                self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]


class VLLMBackend:
    """vLLM offline inference (GPU). Prompts go in as token ids so no BOS is added."""

    name = "vllm"

    def __init__(self, model: str, *, revision: str = "main", dtype: str = "auto", seed: int = 42):
        from vllm import LLM

        self.llm = LLM(model=model, revision=revision, dtype=dtype, seed=seed)
        self.tokenizer = self.llm.get_tokenizer()

    def render(self, conversation: list[dict]) -> str:
        return self.tokenizer.apply_chat_template(conversation, tokenize=False,
                                                  add_generation_prompt=True)

    def generate(self, prompts: Sequence[str], *, temperature: float,
                 max_new_tokens: int) -> list[str]:
        from vllm import SamplingParams, TokensPrompt

        params = SamplingParams(temperature=temperature if temperature >= 1e-4 else 0.0,
                                max_tokens=max_new_tokens)
        inputs = [TokensPrompt(prompt_token_ids=self.tokenizer(p, add_special_tokens=False)
                               .input_ids) for p in prompts]
        outputs = self.llm.generate(inputs, params, use_tqdm=False)
        return [o.outputs[0].text.strip() for o in outputs]


def make_backend(kind: str, model: str, **kwargs):
    """``auto``: vLLM when it is installed and a CUDA GPU is present, else transformers."""
    vllm_ok = importlib.util.find_spec("vllm") is not None and torch.cuda.is_available()
    if kind == "vllm" and not vllm_ok:
        raise ValueError(
            "backend='vllm' needs the vllm package and a CUDA GPU "
            f"(vllm installed: {importlib.util.find_spec('vllm') is not None}, CUDA: "
            f"{torch.cuda.is_available()}). Use --backend transformers or auto."
        )
    if kind not in ("auto", "vllm", "transformers"):
        raise ValueError(f"backend={kind!r} is not one of auto, vllm, transformers.")
    if kind == "vllm" or (kind == "auto" and vllm_ok):
        return VLLMBackend(model, **kwargs)
    logger.info("Generating with transformers%s.", "" if kind == "transformers" else
                " (vLLM needs the vllm package and a CUDA GPU)")
    return TransformersBackend(model, **kwargs)
