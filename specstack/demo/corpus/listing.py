"""A concrete item for sale: the facts that ads, chats and tool results are built from."""

from __future__ import annotations

import random
from dataclasses import dataclass

from specstack.demo.corpus import ru, vocab
from specstack.demo.corpus.common import nice_price, person
from specstack.demo.corpus.vocab import City, Color, Condition, Person, Product


@dataclass(frozen=True)
class Listing:
    """One item somebody sells, with every fact a template may mention."""

    product: Product
    model: str
    color: Color | None
    condition: Condition
    attrs: tuple[tuple[str, str], ...]
    price: int
    min_price: int | None  # None: no bargaining
    city: City
    place: str
    delivery: bool
    carrier: str
    kit: str
    defect: str | None
    reason: str
    seller: Person

    @property
    def name(self) -> str:
        """'смартфон Samsung Galaxy S21'."""
        return f"{self.product.nom} {self.model}"

    @property
    def name_acc(self) -> str:
        """'кофемашину DeLonghi Magnifica S' (accusative, for 'продаю ...')."""
        return f"{self.product.acc} {self.model}"

    @property
    def title(self) -> str:
        """The ad title: 'Кофемашина DeLonghi Magnifica S, чёрная'."""
        base = ru.cap(self.name)
        return f"{base}, {self.color.form(self.product.gender)}" if self.color else base

    @property
    def gender(self) -> str:
        """Grammatical gender of the product noun."""
        return self.product.gender


def make_listing(rng: random.Random, product: Product | None = None) -> Listing:
    """A random listing; pass `product` to fix the kind of item."""
    product = product or rng.choice(vocab.PRODUCTS)
    n_attrs = rng.randint(1, len(product.attrs))
    attrs = tuple((label, rng.choice(values)) for label, values in rng.sample(product.attrs, n_attrs))
    condition = rng.choice(vocab.CONDITIONS)
    price = nice_price(rng, *product.price)
    bargain = rng.random() < 0.5
    min_price = (price * rng.choice((85, 90, 95)) // 100) // 100 * 100 if bargain else None
    return Listing(
        product=product,
        model=rng.choice(product.models),
        color=rng.choice(vocab.COLORS) if product.colored else None,
        condition=condition,
        attrs=attrs,
        price=price,
        min_price=min_price,
        city=rng.choice(vocab.CITIES),
        place=rng.choice(vocab.MEETING_PLACES),
        delivery=rng.random() < 0.6,
        carrier=rng.choice(tuple(vocab.CARRIERS)),
        kit=rng.choice(vocab.KITS[product.category]),
        defect=None
        if condition.key in ("new", "like_new", "excellent")
        else rng.choice(vocab.DEFECTS[product.category]),
        reason=rng.choice(vocab.SALE_REASONS),
        seller=person(rng),
    )
