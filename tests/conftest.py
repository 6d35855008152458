"""Shared fixtures: a tiny random-weight Qwen3 target with the demo tokenizer and chat template, and a check
that no engine process outlives the session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("SPECSTACK_NO_PROGRESS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TINY_TEXTS = [
    "Продаю велосипед в Москве за 15 000 ₽, состояние отличное, торг уместен.",
    "Здравствуйте! Товар ещё в продаже? Да, можно посмотреть завтра после шести.",
    'def total_price(items):\n    return sum(item["price"] * item["qty"] for item in items)\n',
    "The seller shipped the order on Monday; delivery takes three to five days.",
    '{"name": "search_items", "arguments": {"query": "диван", "city": "Казань"}}',
    "Ответ: 1250. Скидка 15% от 2 000 ₽ составляет 300 ₽.",
]


@pytest.fixture(scope="session", autouse=True)
def no_engine_left_behind() -> Iterator[None]:
    """Fail the run, after killing them, when engine processes this session started outlive it."""
    import psutil

    from tests.engine_leftovers import find_leftovers, kill_leftovers, tag_session

    session, since = tag_session(), psutil.Process().create_time()
    yield
    named = kill_leftovers(find_leftovers(os.getpid(), since, session))
    if named:
        pytest.fail("engine processes left running (killed now): " + "; ".join(named), pytrace=False)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-layer, 64-wide Qwen3 with random weights, a ~400-token Qwen-style tokenizer and the chat template."""
    from tests.tiny_models import ModelShape, build_tiny_model_dir

    shape = ModelShape(
        hidden_size=64,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        intermediate_size=128,
    )
    out = tmp_path_factory.mktemp("tiny") / "target"
    return build_tiny_model_dir(out, TINY_TEXTS * 40, shape, vocab_size=400)
