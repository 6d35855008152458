"""Small SFT data sets and configs for the draft-training tests (tiny random target from tests/conftest.py)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from draft_training.config import DraftConfig

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search_items",
            "description": "Search listings",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    }
]
ITEMS = ["диван", "велосипед", "стол", "лампа", "шкаф", "ковёр"]
CITIES = ["Москве", "Казани", "Самаре"]


def conversation(rng: random.Random) -> dict:
    """A short marketplace chat; every third one calls a tool."""
    item, city = rng.choice(ITEMS), rng.choice(CITIES)
    price = rng.randint(1, 90) * 500
    if rng.random() < 0.33:
        return {
            "messages": [
                {"role": "user", "content": f"Найди {item} в {city}"},
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {
                            "type": "function",
                            "function": {"name": "search_items", "arguments": {"query": item}},
                        }
                    ],
                },
                {"role": "tool", "content": f'[{{"title": "{item}", "price": {price}}}]'},
                {"role": "assistant", "content": f"Нашёл {item} за {price} ₽ в {city}."},
            ],
            "tools": TOOLS,
            "category": "fc",
        }
    return {
        "messages": [
            {"role": "system", "content": "Ты помощник маркетплейса."},
            {"role": "user", "content": f"Сколько стоит {item}?"},
            {"role": "assistant", "content": f"Продаю {item} в {city} за {price} ₽, состояние отличное."},
        ],
        "category": "chat",
    }


def write_sft(path: Path, n: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    path.write_text("".join(json.dumps(conversation(rng), ensure_ascii=False) + "\n" for _ in range(n)))
    return path


def tiny_config(tmp: Path, target: Path, **over) -> DraftConfig:
    """A draft config that trains in seconds on the tiny target."""
    train = write_sft(tmp / "train.jsonl", 64, seed=0)
    held = write_sft(tmp / "heldout.jsonl", 8, seed=1)
    base = {
        "target_model": str(target),
        "train_data": str(train),
        "eval_data": str(held),
        "output_dir": str(tmp / "draft"),
        "run_dir": str(tmp / "run"),
        "max_length": 640,
        "draft_vocab_size": 200,
        "ttt_steps": 3,
        "batch_size": 4,
        "optim": {"steps": 6, "lr": 1e-3, "warmup_steps": 2},
        "eval": {"max_k": 3, "num_prompts": 3, "max_new_tokens": 8},
        "log_every": 2,
        "checkpoint_every": 2,
    }
    base.update(over)
    return DraftConfig.model_validate(base)


def build_target(out: Path, num_layers: int = 8, head_dim: int = 16, seed: int = 0) -> Path:
    """A random tiny Qwen3 deep enough for distinct default aux layers (2, L//2, L-3).

    vLLM's CPU attention needs head_dim >= 32."""
    from tests.conftest import TINY_TEXTS
    from tests.tiny_models import ModelShape, build_tiny_model_dir

    shape = ModelShape(
        hidden_size=64,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=head_dim,
        intermediate_size=128,
    )
    return build_tiny_model_dir(out, TINY_TEXTS * 40, shape, vocab_size=400, seed=seed)
