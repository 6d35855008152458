"""Python source documents for tokenizer training and pretraining: modules rendered from the code-task
families (with docstrings and pytest tests) and small dataclass/service modules with varied names."""

from __future__ import annotations

import random
from collections.abc import Callable
from string import Template

from specstack.demo.corpus import code_tasks, vocab


def _with_docstring(source: str, doc: str) -> str:
    """Insert a one-line docstring after the `def` line of a function template rendering."""
    lines = source.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("def "):
            lines.insert(i + 1, f'    """{doc}"""')
            break
    return "\n".join(lines)


def functions_module(rng: random.Random) -> str:
    """A module of 2-4 task solutions plus a pytest test per function."""
    families = rng.sample(code_tasks.FAMILIES, rng.randint(2, 4))
    imports: set[str] = set()
    defs, tests = [], []
    for fam in families:
        task = code_tasks.make_code_task_for(rng, fam)
        body = task.solution
        for imp in ("import math", "import re"):
            if body.startswith(imp):
                imports.add(imp)
                body = body[len(imp) :].lstrip("\n")
        defs.append(_with_docstring(body, task.doc_en))
        asserts = "\n".join("    " + line for line in task.tests.strip().split("\n"))
        tests.append(f"def test_{task.entry_point}() -> None:\n{asserts}")
    topic = rng.choice(
        ("Helpers for listings", "Order utilities", "Pricing helpers", "Marketplace utilities")
    )
    head = f'"""{topic}."""\n\nfrom __future__ import annotations\n'
    if imports:
        head += "\n" + "\n".join(sorted(imports)) + "\n"
    return head + "\n\n" + "\n\n\n".join(defs) + "\n\n\n" + "\n\n\n".join(tests)


FIELDS = (
    ("title", "str"),
    ("price", "int"),
    ("city", "str"),
    ("category", "str"),
    ("seller_id", "str"),
    ("views", "int"),
    ("rating", "float"),
    ("weight_kg", "float"),
    ("is_active", "bool"),
    ("created_at", "str"),
)
ENTITIES = ("Listing", "Ad", "Offer", "Product", "Item", "Lot")
SAMPLE = {"str": '"x"', "int": "1", "float": "1.0", "bool": "True"}

DATACLASS = Template('''"""$doc"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class $cls:
    """One $lower on the marketplace."""

$fields

    def label(self) -> str:
        """A short human-readable label."""
        return f"$label"


def $fn(items: list[$cls], max_price: int) -> list[$cls]:
    """Items not more expensive than `max_price`, cheapest first."""
    return sorted((it for it in items if it.price <= max_price), key=lambda it: it.price)


def test_$fn() -> None:
    a = $cls($args_a)
    b = $cls($args_b)
    assert $fn([a, b], $limit) == [$expect]
''')


def dataclass_module(rng: random.Random) -> str:
    """A frozen dataclass with a filter function and its test."""
    cls = rng.choice(ENTITIES)
    extra = rng.sample([f for f in FIELDS if f[0] not in ("title", "price")], rng.randint(1, 4))
    fields = [("title", "str"), ("price", "int"), *extra]
    p = rng.choice(vocab.PRODUCTS)
    pa, pb = sorted(rng.sample(range(p.price[0], p.price[1] + 1, 100), 2))

    def args(title: str, price: int) -> str:
        vals = {"title": repr(title), "price": str(price)}
        return ", ".join(vals.get(name, SAMPLE[kind]) for name, kind in fields)

    limit = rng.choice((pa, pb))
    expect = "a" if limit < pb else "a, b"
    return DATACLASS.substitute(
        doc=f"{cls} records and filters for the {vocab.CATEGORY_EN[p.category].lower()} section.",
        cls=cls,
        lower=cls.lower(),
        fields="\n".join(f"    {name}: {kind}" for name, kind in fields),
        label="{self.title} — {self.price} RUB",
        fn=rng.choice(("affordable", "within_budget", "cheaper_than")),
        args_a=args(rng.choice(p.models), pa),
        args_b=args(rng.choice(p.models), pb),
        limit=limit,
        expect=expect,
    )


CART = Template('''"""A shopping $lower that counts items and their total price."""

from __future__ import annotations


class $cls:
    """Positions added to the $lower as (price, quantity) pairs."""

    def __init__(self) -> None:
        self.items: list[tuple[int, int]] = []

    def add(self, price: int, qty: int = 1) -> None:
        """Add `qty` units at `price` roubles each."""
        if price <= 0 or qty <= 0:
            raise ValueError("price and quantity must be positive")
        self.items.append((price, qty))

    def total(self) -> int:
        """Total price in roubles."""
        return sum(price * qty for price, qty in self.items)

    def count(self) -> int:
        """Number of units."""
        return sum(qty for _, qty in self.items)


def test_${lower}_totals() -> None:
    c = $cls()
$adds
    assert c.count() == $count
    assert c.total() == $total
''')


def cart_module(rng: random.Random) -> str:
    """A cart class and its test with random contents."""
    cls = rng.choice(("Cart", "ShoppingCart", "Basket", "Order"))
    adds = [(rng.randrange(100, 5001, 100), rng.randint(1, 4)) for _ in range(rng.randint(1, 4))]
    return CART.substitute(
        cls=cls,
        lower=cls.lower(),
        adds="\n".join(f"    c.add({p}, {q})" for p, q in adds),
        count=sum(q for _, q in adds),
        total=sum(p * q for p, q in adds),
    )


KINDS: tuple[Callable[[random.Random], str], ...] = (
    functions_module,
    functions_module,
    dataclass_module,
    cart_module,
)


def make_code_document(rng: random.Random) -> str:
    """One Python module of a random kind."""
    return rng.choice(KINDS)(rng)
