"""What every generator shares: per-item random streams, the Sample record, small pickers."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from specstack.demo.corpus import vocab
from specstack.demo.corpus.vocab import Person


def item_rng(seed: int, stream: str, index: int) -> random.Random:
    """An independent random stream per (seed, stream, index): items never depend on each other.

    String seeds are hashed with SHA-512 by `random`, so streams are identical across runs and machines.
    """
    return random.Random(f"specstack-corpus/{seed}/{stream}/{index}")


def system(content: str) -> dict:
    """A system message."""
    return {"role": "system", "content": content}


def user(content: str) -> dict:
    """A user message."""
    return {"role": "user", "content": content}


def assistant(content: str) -> dict:
    """A plain assistant message."""
    return {"role": "assistant", "content": content}


@dataclass
class Sample:
    """One generated conversation plus its plain-text rendering for the raw-text corpus."""

    category: str
    messages: list[dict]
    tools: list[dict] | None = None
    document: str = ""

    def sft_row(self) -> dict:
        """The SFT JSONL row (contract: messages, tools when offered, category)."""
        row: dict[str, Any] = {"messages": self.messages}
        if self.tools:
            row["tools"] = self.tools
        row["category"] = self.category
        return row

    def prompt(self) -> list[dict]:
        """The system and user messages before the first assistant turn."""
        out = []
        for m in self.messages:
            if m["role"] == "assistant":
                break
            out.append(m)
        return out


def person(rng: random.Random) -> Person:
    """A random first name with its gender."""
    if rng.random() < 0.5:
        return Person(rng.choice(vocab.MALE_NAMES), "m")
    return Person(rng.choice(vocab.FEMALE_NAMES), "f")


def nice_price(rng: random.Random, lo: int, hi: int) -> int:
    """A price people would write: multiples of 100 below 10 000 ₽, of 500 above."""
    step = 100 if hi < 10000 else 500
    return rng.randint(max(1, lo // step), max(1, hi // step)) * step


def digits(rng: random.Random, n: int) -> str:
    """A string of n digits not starting with 0."""
    return str(rng.randint(10 ** (n - 1), 10**n - 1))


def pick_by_weight(rng: random.Random, weights: dict[str, float]) -> str:
    """A key of `weights` drawn proportionally to its weight."""
    keys = [k for k, w in weights.items() if w > 0]
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def apportion(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Split `total` across keys proportionally (largest remainder; ties by key order)."""
    s = sum(weights.values())
    if total == 0 or s <= 0:
        return dict.fromkeys(weights, 0)
    raw = {k: total * w / s for k, w in weights.items()}
    out = {k: int(v) for k, v in raw.items()}
    rest = total - sum(out.values())
    order = sorted(weights, key=lambda k: (-(raw[k] - out[k]), list(weights).index(k)))
    for k in order[:rest]:
        out[k] += 1
    return out
