"""Helpers for tests that start real engines: tiny servable model dirs, greedy token ids via the openai client."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn

DEMO_DIR = Path(__file__).resolve().parents[1] / "artifacts" / "demo"
DEMO_TARGET = DEMO_DIR / "target"
DEMO_DRAFT = DEMO_DIR / "draft"
DEMO_HELDOUT = DEMO_DIR / "corpus" / "sft_heldout.jsonl"


def demo_models_missing(what: str) -> NoReturn:
    """Skip a test that needs the demo models, loudly; fail instead under SPECSTACK_REQUIRE_DEMO=1, which
    `make test` sets after building them (so CI can never pass with these tests silently skipped)."""
    import os

    import pytest

    message = f"DEMO MODELS MISSING: {what}; build them with `make models` (or `make demo`)"
    if os.environ.get("SPECSTACK_REQUIRE_DEMO") == "1":
        pytest.fail(message + " (SPECSTACK_REQUIRE_DEMO=1)", pytrace=False)
    pytest.skip(message)


def build_engine_dirs(root: Path) -> tuple[Path, Path]:
    """A tiny random Qwen3 that vLLM's CPU build can serve (head_dim 32, 8 layers so EAGLE-3's default aux
    layers 2, 4, 5 are distinct) with the demo tokenizer and chat template, and a random EAGLE-3 draft."""
    from tests.conftest import TINY_TEXTS
    from tests.random_draft import write_random_eagle3_draft
    from tests.tiny_models import ModelShape, build_tiny_model_dir

    shape = ModelShape(
        hidden_size=64,
        num_hidden_layers=8,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        intermediate_size=128,
    )
    target = build_tiny_model_dir(root / "target", TINY_TEXTS * 40, shape, vocab_size=400)
    return target, write_random_eagle3_draft(target, root / "draft")


def prompt_of(row: dict) -> tuple[list[dict], list[dict] | None]:
    """The messages before the first assistant turn of an SFT row, and its tools."""
    messages = []
    for m in row["messages"]:
        if m["role"] == "assistant":
            break
        messages.append(m)
    return messages, row.get("tools")


def greedy_ids(
    client: Any, model: str, messages: list[dict], tools: list[dict] | None, max_tokens: int
) -> list[int]:
    """Greedy completion token ids of one chat request (vLLM's `return_token_ids`)."""
    kwargs: dict[str, Any] = {"tools": tools} if tools else {}
    r = client.chat.completions.create(
        model=model,
        messages=messages,
        max_tokens=max_tokens,
        temperature=0.0,
        extra_body={"return_token_ids": True},
        **kwargs,
    )
    ids = r.choices[0].model_extra.get("token_ids")
    assert ids is not None, "the engine did not return token ids"
    return list(ids)


def run_all(fn: Callable[[Any], Any], items: Iterable[Any], concurrency: int) -> list[Any]:
    """fn over items, `concurrency` at a time, results in input order."""
    items = list(items)
    if concurrency <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(fn, items))


def first_divergence(a: list[int], b: list[int]) -> int | None:
    """Index of the first differing token (or the shorter length), None when identical."""
    if a == b:
        return None
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))
