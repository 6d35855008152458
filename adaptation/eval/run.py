"""Evaluate checkpoints on the same data: task accuracy (fc by category, math, code), chat perplexity on
assistant tokens, text perplexity and tokenizer density (chars/token) per language.

Task answers are greedy: from the checkpoint itself (transformers) or, when given, from an OpenAI-compatible
endpoint serving it (temperature 0; the model name sent is the directory's name, what `specstack serve
engine` serves it as). Perplexity and density always read the local directory.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from rich.progress import Progress

from adaptation.eval.inputs import EvalData
from adaptation.sampling import Sampler
from specstack.errors import SpecstackError

T = TypeVar("T")


@dataclass(frozen=True)
class Checkpoint:
    """A named model directory, and optionally an endpoint serving it for the task answers."""

    name: str
    model_dir: Path
    endpoint: str | None = None

    def check(self) -> None:
        """A one-line error when the directory holds no HF model."""
        if not (self.model_dir / "config.json").is_file():
            raise SpecstackError(
                f"model {self.name}: {self.model_dir}: no HF model directory (no config.json)"
            )


def _ticking(items: Iterable[T], progress: Progress, description: str, total: int) -> Iterator[T]:
    """Yield `items`, advancing a progress task once each item has been handled."""
    task = progress.add_task(description, total=total, status="")
    for item in items:
        yield item
        progress.advance(task)


def _task_sampler(checkpoint: Checkpoint, local: Sampler, max_new_tokens: int, stack: ExitStack) -> Sampler:
    """The checkpoint's endpoint at temperature 0 (closed with `stack`) when it has one, else `local`."""
    if checkpoint.endpoint is None:
        return local
    from adaptation.sampling import EndpointClient, EndpointConfig

    cfg = EndpointConfig(url=checkpoint.endpoint, model=checkpoint.model_dir.name)
    return stack.enter_context(EndpointClient(cfg, temperature=0.0, max_tokens=max_new_tokens))


def evaluate_checkpoint(
    checkpoint: Checkpoint, data: EvalData, max_new_tokens: int, progress: Progress
) -> dict:
    """`{"name", "model", "tasks"?, "chat"?, "text": {lang: ...}, "density": {lang: ...}, "seconds"}`."""
    from adaptation.eval.perplexity import chat_perplexity, text_perplexity
    from adaptation.eval.tasks import evaluate_tasks
    from adaptation.sampling import LocalSampler
    from adaptation.tokenizer.density import chars_per_token

    t0 = time.time()
    local = LocalSampler(checkpoint.model_dir, temperature=0.0, max_tokens=max_new_tokens)
    model, tokenizer = local.model, local.tokenizer
    out: dict = {"name": checkpoint.name, "model": str(checkpoint.model_dir)}
    if checkpoint.endpoint:
        out["endpoint"] = checkpoint.endpoint
    name = checkpoint.name
    if data.rl:
        with ExitStack() as stack:
            sampler = _task_sampler(checkpoint, local, max_new_tokens, stack)
            rows = _ticking(data.rl, progress, f"{name}: prompts", len(data.rl))
            out["tasks"] = evaluate_tasks(rows, sampler)
    if data.chat:
        rows = _ticking(data.chat, progress, f"{name}: chat perplexity", len(data.chat))
        out["chat"] = chat_perplexity(model, tokenizer, rows)
    out["text"] = {
        lang: text_perplexity(model, tokenizer, _ticking(docs, progress, f"{name}: {lang} text", len(docs)))
        for lang, docs in data.text.items()
    }
    out["density"] = {
        lang: chars_per_token(tokenizer.backend_tokenizer, docs) for lang, docs in data.text.items()
    }
    out["seconds"] = round(time.time() - t0, 1)
    return out


def evaluate_checkpoints(
    checkpoints: list[Checkpoint], data: EvalData, max_new_tokens: int, progress: Progress
) -> dict:
    """The whole report: the data used, the settings, one entry per checkpoint in the given order."""
    for checkpoint in checkpoints:
        checkpoint.check()
    with progress:
        rows = [evaluate_checkpoint(c, data, max_new_tokens, progress) for c in checkpoints]
    return {
        "settings": {"decoding": "greedy", "max_new_tokens": max_new_tokens},
        "data": data.counts(),
        "checkpoints": rows,
    }
