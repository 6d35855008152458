"""Buyer/seller chats: the system message holds the ad card, the user is a buyer, the assistant answers
for the seller using only the card's facts (one answer sentence per question, in the asked order)."""

from __future__ import annotations

import random

from specstack.demo.corpus import ru, vocab
from specstack.demo.corpus.common import Sample, assistant, system, user
from specstack.demo.corpus.listing import Listing, make_listing
from specstack.demo.corpus.vocab import City

SYSTEM = (
    "Ты помогаешь продавцу отвечать покупателям на сайте объявлений. "
    "Отвечай вежливо, коротко и только по данным карточки."
)

GREETINGS = {"Здравствуйте!": "Здравствуйте!", "Добрый день!": "Добрый день!", "Добрый вечер!": "Добрый вечер!",
             "Привет!": "Здравствуйте!"}  # fmt: skip

QUESTIONS: dict[str, tuple[str, ...]] = {
    "available": ("Ещё продаётся?", "Объявление актуально?", "Товар ещё в наличии?"),
    "bargain": ("Торг возможен?", "Какая минимальная цена?", "Уступите немного?"),
    "delivery": ("Отправите {to}?", "Можно доставку {to}?", "Сможете отправить {to}?"),
    "defects": (
        "Есть ли дефекты?",
        "Какое реальное состояние, есть царапины?",
        "Есть ли какие-то недостатки?",
    ),
    "kit": ("Что в комплекте?", "Что идёт в комплекте?", "Что отдаёте вместе с товаром?"),
    "meeting": ("Где можно посмотреть?", "Можно приехать посмотреть?", "Где забирать?"),
    "reason": ("Почему продаёте?", "А причина продажи какая?"),
}


def card(x: Listing) -> str:
    """The ad card shown to the assistant."""
    lines = [
        f"Товар: {ru.cap(x.name)}",
        f"Цена: {ru.rub(x.price)}",
        f"Торг: {'до ' + ru.rub(x.min_price) if x.min_price else 'нет'}",
        f"Состояние: {x.condition.label}",
        f"Дефекты: {x.defect or 'нет'}",
        f"Комплект: {x.kit}",
        f"Город: {x.city.nom}, {x.place}",
        f"Доставка: {'есть, ' + x.carrier if x.delivery else 'нет, только самовывоз'}",
        f"Причина продажи: {x.reason}",
    ]
    return "\n".join(lines)


def answer(kind: str, x: Listing, to: City) -> str:
    """The seller's answer to one question."""
    if kind == "available":
        return "Да, объявление актуально, товар ещё в продаже и ждёт нового владельца."
    if kind == "bargain":
        if x.min_price:
            return f"Небольшой торг возможен: могу уступить до {ru.rub(x.min_price)}. Ниже, к сожалению, не получится."
        return f"К сожалению, без торга: цена {ru.rub(x.price)} окончательная. Она и так ниже, чем у похожих объявлений."
    if kind == "delivery":
        if not x.delivery:
            return (
                f"Отправку, к сожалению, не делаю — только самовывоз {x.city.in_}, {x.place}. "
                "Приезжайте, всё можно проверить на месте."
            )
        if to == x.city:
            return (
                f"Мы с вами в одном городе: можно забрать {x.place} или отправлю {vocab.CARRIERS[x.carrier]}."
            )
        return (
            f"Да, отправлю {to.to} {vocab.CARRIERS[x.carrier]}, доставку оплачивает покупатель. "
            "Упакую надёжно и пришлю трек-номер."
        )
    if kind == "defects":
        if x.defect:
            return (
                f"Есть один нюанс: {x.defect}. В остальном всё в порядке, могу прислать дополнительные фото."
            )
        return f"Дефектов нет. {x.condition.describe(x.gender)} Могу прислать дополнительные фото."
    if kind == "kit":
        return f"В комплекте: {x.kit}. Всё отдаю вместе с товаром."
    if kind == "meeting":
        return f"Посмотреть можно {x.city.in_}, {x.place}. Напишите, когда вам удобно, договоримся о времени."
    if kind == "reason":
        return f"Причина простая — {x.reason}. С самим товаром всё в порядке."
    raise ValueError(kind)


def make_chat(rng: random.Random) -> Sample:
    """A 1-3 turn chat; each buyer turn asks one or two questions."""
    x = make_listing(rng)
    to = rng.choice(vocab.CITIES)
    kinds = rng.sample(tuple(QUESTIONS), rng.randint(3, 6))
    turns: list[list[str]] = []
    while kinds:
        take = min(len(kinds), rng.choice((1, 2, 2, 3)))
        turns.append(kinds[:take])
        kinds = kinds[take:]
    greeting = rng.choice(tuple(GREETINGS))
    messages = [system(f"{SYSTEM}\n\nКарточка объявления:\n{card(x)}")]
    lines = [f"Объявление: {x.title}, {ru.rub(x.price)}, {x.city.nom}."]
    for i, turn in enumerate(turns):
        asked = " ".join(rng.choice(QUESTIONS[k]).format(to=to.to) for k in turn)
        reply = " ".join(answer(k, x, to) for k in turn)
        if i == 0:
            asked, reply = f"{greeting} {asked}", f"{GREETINGS[greeting]} {reply}"
        messages += [user(asked), assistant(reply)]
        lines += [f"Покупатель: {asked}", f"Продавец: {reply}"]
    return Sample("chat", messages, document="\n".join(lines))
