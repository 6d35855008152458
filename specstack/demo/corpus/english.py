"""English prose of the same marketplace: listings, help-center articles, FAQs, reviews and seller tips.

Sentences come from small pools with slots, so documents vary while staying grammatical.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from specstack.demo.corpus import vocab
from specstack.demo.corpus.listing import Listing, make_listing


def _price(n: int) -> str:
    return f"{n:,} RUB"


def _a(word: str) -> str:
    """The indefinite article with its word: 'an orange', 'a black'."""
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _latin(text: str) -> bool:
    return not any("а" <= ch.lower() <= "я" or ch in "ёЁ" for ch in text)


def _one(rng: random.Random, *options: str) -> str:
    return rng.choice(options)


def listing_text(rng: random.Random) -> str:
    """A product listing written in English."""
    x: Listing = make_listing(rng)
    what = f"{x.color.en} {x.product.en}" if x.color else x.product.en
    attrs = "\n".join(
        f"- {LABELS[label]}: {value}" for label, value in x.attrs if label in LABELS and _latin(value)
    )
    details = f"\n\nDetails:\n{attrs}" if attrs else ""
    return (
        f"{x.model} {x.product.en}{', ' + x.color.en if x.color else ''} — {_price(x.price)}\n\n"
        f"{_one(rng, 'Selling', 'For sale:', 'Up for grabs:')} {_a(what)} ({x.model}), "
        f"condition: {x.condition.en}. "
        + _one(
            rng,
            "It has served me well and is ready for a new owner.",
            "Everything works exactly as it should.",
            "Selling because I no longer need it.",
            "It comes from a smoke-free, pet-free home.",
        )
        + f"{details}\n\n"
        + f"Pickup in {x.city.en}. "
        + ("Shipping is available at the buyer's expense. " if x.delivery else "Local pickup only. ")
        + ("The price is slightly negotiable." if x.min_price else "The price is firm.")
    )


LABELS = {
    "Память": "Storage", "Аккумулятор": "Battery", "Процессор": "CPU", "Оперативная память": "RAM",
    "Накопитель": "Drive", "Связь": "Connectivity", "Подключение": "Connection", "Шумоподавление": "Noise cancelling",
    "Диагональ": "Screen size", "Разрешение": "Resolution", "Размер корпуса": "Case size", "Ремешок": "Strap",
    "Геймпады в комплекте": "Controllers included", "Объектив": "Lens", "Пробег затвора": "Shutter count",
    "Защита от воды": "Water resistance", "Время работы": "Runtime", "Экран": "Screen", "Подсветка": "Backlight",
    "Частота": "Refresh rate", "Размер": "Size", "Стандарт": "Standard", "Smart TV": "Smart TV",
    "No Frost": "No Frost", "Звукосниматели": "Pickups", "Разрешение съёмки": "Video", "GPS": "GPS",
}  # fmt: skip


ARTICLES: dict[str, tuple[tuple[str, ...], ...]] = {
    "How to return an item": (
        ("Open the order in the Orders section and press Return.", "Find the order under My purchases and choose Return."),
        ("Choose the reason for the return and attach photos if the item is damaged.",
         "Tell us why the item did not suit you; photos help if it arrived damaged."),
        ("Pack the item in its original packaging together with all accessories.",
         "Put the item back in its box with everything that came with it."),
        ("Drop the parcel off at any pickup point within {days} days.",
         "You have {days} days to bring the parcel to a pickup point."),
        ("The refund arrives on your card within {refund} business days after the seller confirms the return.",
         "Once the return is accepted, the money reaches your card in up to {refund} business days."),
    ),
    "How delivery works": (
        ("The seller has {ship} days to hand the parcel over to the carrier.",
         "Sellers must ship within {ship} days of the payment."),
        ("You can follow the parcel in the Orders section at any time.",
         "Tracking is available in the app as soon as the parcel is shipped."),
        ("When the parcel reaches the pickup point, you receive a notification with a pickup code.",
         "We send you a pickup code the moment the parcel arrives."),
        ("The parcel is kept at the pickup point for {days} days.", "Pick the parcel up within {days} days."),
        ("Check the item at the pickup point before you confirm the order.",
         "Open the parcel and inspect the item before you confirm receipt."),
    ),
    "How to post an ad": (
        ("Press Post an ad and choose a category, for example {category}.",
         "Start with the category: {category} in this example."),
        ("Write a short title with the brand and model, such as {model}.",
         "Put the brand and model in the title, for instance {model}."),
        ("Add at least {photos} clear photos taken in daylight.", "Upload {photos} or more sharp photos."),
        ("Describe the condition honestly and mention any defects.",
         "Be honest about the condition; buyers appreciate it."),
        ("Set a fair price: compare similar listings in {city} first.",
         "Look at similar listings in {city} before you set the price."),
    ),
    "Staying safe when buying": (
        ("Never pay outside the website, even if the seller asks you to.",
         "Pay only through the website: your money is protected until you receive the item."),
        ("Do not share codes from text messages with anyone.", "Nobody from support will ever ask for your SMS codes."),
        ("Meet in public places such as a shopping center when you buy locally.",
         "For local deals, meet in a busy public place."),
        ("Check the seller's rating and reviews before you pay.",
         "A seller with a rating below {rating} deserves extra caution."),
        ("Report suspicious ads with the Report button under the listing.",
         "If an offer looks too good to be true, report it."),
    ),
    "Promoting your listing": (
        ("Promotion raises your ad to the top of the search results for {days} days.",
         "A promoted ad stays on top of the search for {days} days."),
        ("Promoted ads get up to {factor} times more views on average.",
         "On average, promotion brings up to {factor} times more views."),
        ("Update the photos and title before you promote an ad.", "Refresh the photos first: promotion works better."),
        ("A lower price often works better than a longer promotion.",
         "Sometimes lowering the price by {pct}% beats any promotion."),
        ("You can see views and favorites in the statistics of each ad.",
         "Watch the statistics: views, favorites and messages per day."),
    ),
    "Payment methods": (
        ("You can pay by card, through the fast payment system or from your wallet balance.",
         "Cards, the fast payment system and the wallet are all accepted."),
        ("The money is held until you confirm that the item is fine.",
         "The seller gets paid only after you confirm the order."),
        ("If the payment fails, try another card or the fast payment system.",
         "A failed payment is usually declined by the bank; another card often helps."),
        ("Refunds go back to the card that was used for the payment.", "Refunds always go back to the original card."),
        ("Wallet top-ups of more than {limit} require identity verification.",
         "Above {limit}, the wallet asks you to verify your identity."),
    ),
}  # fmt: skip


def article_text(rng: random.Random) -> str:
    """A help-center article: title, intro and numbered steps with filled slots."""
    title = rng.choice(tuple(ARTICLES))
    p = rng.choice(vocab.PRODUCTS)
    slots = {
        "days": rng.choice((3, 5, 7, 14)),
        "refund": rng.choice((3, 5, 10)),
        "ship": rng.choice((2, 3, 5)),
        "photos": rng.choice((3, 5, 8)),
        "factor": rng.choice((2, 3, 5)),
        "category": vocab.CATEGORY_EN[p.category],
        "model": rng.choice(p.models),
        "city": rng.choice(vocab.CITIES).en,
        "limit": _price(rng.choice((15000, 40000, 100000))),
        "rating": rng.choice(("4.0", "4.5")),
        "pct": rng.choice((5, 10)),
    }
    chosen = [s for s in ARTICLES[title] if rng.random() < 0.8] or list(ARTICLES[title][:3])
    steps = [rng.choice(options).format(**slots) for options in chosen]
    intro = _one(
        rng,
        "This article explains the process step by step.",
        "Here is everything you need to know.",
        "Follow these steps; most people finish in a few minutes.",
    )
    body = "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1))
    outro = _one(
        rng,
        "Still have questions? Contact support from the Help section.",
        "If something goes wrong, our support team answers around the clock.",
        "Did this article help? Rate it below.",
    )
    return f"{title}\n\n{intro}\n\n{body}\n\n{outro}"


FAQ = (
    ("Can I change the delivery address after paying?", "Yes, until the seller hands the parcel to the carrier."),
    ("How long does a refund take?", "Usually from {refund} to {refund2} business days, depending on your bank."),
    ("Why was my ad rejected?", "Most often the photos or the title break the posting rules; the reason is in the notice."),
    ("Is there a fee for sellers?", "Posting is free; a commission of {fee}% applies to orders paid on the website."),
    ("Can I buy without delivery?", "Yes, arrange a meeting with the seller and pay in person."),
    ("How do I contact a seller?", "Press Write on the listing page; the chat keeps your phone number private."),
    ("What if the item is not as described?", "Open a dispute within {days} days of receiving the order."),
    ("How is the seller rating calculated?", "It is the average of the last {n} reviews, rounded to one decimal."),
)  # fmt: skip


def faq_text(rng: random.Random) -> str:
    """A few questions and answers from the FAQ."""
    slots = {
        "refund": rng.choice((1, 3, 5)),
        "refund2": rng.choice((7, 10)),
        "fee": rng.choice((3, 5, 7)),
        "days": rng.choice((3, 7, 14)),
        "n": rng.choice((50, 100, 200)),
    }
    pairs = rng.sample(FAQ, rng.randint(3, 5))
    qa = "\n\n".join(f"Q: {q}\nA: {a.format(**slots)}" for q, a in pairs)
    return f"Frequently asked questions\n\n{qa}"


def review_text(rng: random.Random) -> str:
    """A buyer's review in English."""
    x = make_listing(rng)
    stars = rng.randint(1, 5)
    good = (
        "Works perfectly.",
        "Arrived quickly and well packed.",
        "Exactly as described.",
        "Great value for money.",
    )
    bad = (
        "The box was damaged.",
        "Delivery took almost two weeks.",
        "Smaller than I expected.",
        "The seller was slow.",
    )
    parts = rng.sample(good, max(0, stars - 2)) + rng.sample(bad, max(0, 4 - stars))
    return (
        f"{rng.choice(vocab.EN_NAMES)} rated the {x.product.en} {x.model} {stars} out of 5\n\n"
        f"{' '.join(parts) or 'No comments.'} Bought in {x.city.en} for {_price(x.price)}."
    )


TIPS = (
    "Take photos in daylight against a plain background.",
    "Put the brand and model in the title, people search for them.",
    "Answer messages within an hour: fast replies sell faster.",
    "Mention every defect; honest ads get better reviews.",
    "Check prices of similar items before you set yours.",
    "Offer delivery: it widens your audience to the whole country.",
    "Keep the box and receipt, they raise the price of electronics.",
    "Renew old ads instead of posting duplicates.",
)


def tips_text(rng: random.Random) -> str:
    """A short seller-tips post."""
    p = rng.choice(vocab.PRODUCTS)
    n = rng.randint(3, 6)
    tips = rng.sample(TIPS, n)
    body = "\n".join(f"- {t}" for t in tips)
    return f"{n} tips for selling {_a(p.en)} faster\n\n{body}\n\nGood luck with your sale!"


KINDS: tuple[Callable[[random.Random], str], ...] = (
    listing_text,
    article_text,
    faq_text,
    review_text,
    tips_text,
)


def make_english_document(rng: random.Random) -> str:
    """One English document of a random kind."""
    return rng.choice(KINDS)(rng)
