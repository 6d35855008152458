"""Tiny corpora and tokenizers for the adaptation tests: an English/code base and a Russian tokenizer."""

from __future__ import annotations

import random
from functools import cache
from pathlib import Path

from tokenizers import Tokenizer

from adaptation.corpus import DOC_SEPARATOR

RU_WORDS = [
    "продаю",
    "купить",
    "диван",
    "велосипед",
    "доставка",
    "Москва",
    "Казань",
    "цена",
    "скидка",
    "рублей",
    "отличное",
    "состояние",
    "здравствуйте",
    "спасибо",
    "пожалуйста",
    "заказ",
    "возврат",
    "карта",
    "объявление",
    "продавец",
    "покупатель",
    "новый",
]
EN_WORDS = [
    "the",
    "seller",
    "shipped",
    "order",
    "delivery",
    "price",
    "discount",
    "new",
    "condition",
    "hello",
    "thanks",
    "please",
    "return",
    "card",
    "listing",
    "buyer",
    "city",
    "bike",
    "sofa",
    "table",
    "lamp",
    "with",
    "for",
    "and",
    "from",
    "in",
    "on",
]
CODE_LINES = [
    "def total(items):\n    return sum(i['price'] for i in items)\n",
    "for city in cities:\n    counts[city] = counts.get(city, 0) + 1\n",
    "class Order:\n    def __init__(self, qty: int) -> None:\n        self.qty = qty\n",
    "import json\nprint(json.dumps({'name': 'lamp', 'price': 1200}))\n",
]


def _sentences(words: list[str], n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words_ = [rng.choice(words) for _ in range(rng.randint(5, 14))]
        out.append(
            " ".join(words_).capitalize() + rng.choice([".", "!", "?"]) + f" {rng.randint(1, 99) * 100} ₽"
        )
    return out


def russian_docs(n: int = 300, seed: int = 0) -> list[str]:
    return _sentences(RU_WORDS, n, seed)


def english_docs(n: int = 300, seed: int = 1) -> list[str]:
    return _sentences(EN_WORDS, n, seed)


def code_docs(n: int = 100, seed: int = 2) -> list[str]:
    rng = random.Random(seed)
    return ["\n".join(rng.sample(CODE_LINES, 2)) for _ in range(n)]


def write_corpus(path: Path, docs: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DOC_SEPARATOR.join(docs) + "\n", encoding="utf-8")
    return path


@cache
def base_tokenizer() -> Tokenizer:
    """A Qwen-style base trained on English and code (a little Russian), 600 ids."""
    from adaptation.tokenizer.qwen_style import train_qwen_style_bpe

    texts = english_docs() + code_docs() + russian_docs(20, seed=9)
    return train_qwen_style_bpe(texts, 600)


@cache
def russian_tokenizer() -> Tokenizer:
    from adaptation.tokenizer.train import train_like

    return train_like(base_tokenizer(), russian_docs(), 700)


def fresh(tokenizer: Tokenizer) -> Tokenizer:
    """An independent copy (tests must not mutate the cached tokenizers)."""
    return Tokenizer.from_str(tokenizer.to_str())
