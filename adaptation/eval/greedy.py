"""Greedy answers from a local HF model: LocalSampler's model, tokenizer and chat rendering, no sampling.

LocalSampler always samples (transformers refuses temperature 0), so evaluation gets its own `sample`.
"""

from __future__ import annotations

from pathlib import Path

from adaptation.sampling import LocalSampler


class GreedySampler(LocalSampler):
    """One greedy answer per prompt (n copies when n > 1: greedy decoding has only one)."""

    def __init__(self, model_dir: str | Path, max_tokens: int = 512) -> None:
        super().__init__(model_dir, temperature=1.0, max_tokens=max_tokens)

    def sample(self, messages: list[dict], n: int, tools: list[dict] | None = None) -> list[list[dict]]:
        import torch

        text = self.tokenizer.apply_chat_template(
            messages, tools=tools or None, add_generation_prompt=True, tokenize=False, **self.template_kwargs
        )
        ids = self.tokenizer(text, return_tensors="pt", add_special_tokens=False).to(self.model.device)
        with torch.no_grad():
            out = self.model.generate(
                **ids, do_sample=False, max_new_tokens=self.max_tokens,
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
            )  # fmt: skip
        answer = self.tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
        return [[{"role": "assistant", "content": answer}] for _ in range(n)]
