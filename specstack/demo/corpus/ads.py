"""Classified-ad writing: the user gives an item's facts, the assistant writes the ad in a requested style.

The style is named by the request (four phrasings per style), so the answer is a function of the prompt.
"""

from __future__ import annotations

import random

from specstack.demo.corpus import ru
from specstack.demo.corpus.common import Sample, assistant, system, user
from specstack.demo.corpus.listing import Listing, make_listing

SYSTEM = (
    "Ты — помощник продавца на сайте объявлений. Пиши грамотно, по-русски и только по данным пользователя."
)

REQUESTS: dict[str, tuple[str, ...]] = {
    "full": (
        "Напиши объявление о продаже по этим данным.",
        "Составь текст объявления для сайта объявлений.",
        "Помоги написать объявление, вот данные о товаре.",
        "Нужно подробное объявление о продаже.",
    ),
    "short": (
        "Напиши короткое объявление в два-три предложения.",
        "Сделай краткое объявление, без лишних слов.",
        "Нужно совсем короткое объявление.",
        "Составь лаконичное объявление о продаже.",
    ),
    "list": (
        "Оформи объявление списком характеристик.",
        "Напиши объявление в виде списка: заголовок и характеристики.",
        "Сделай объявление по пунктам.",
        "Составь объявление списком, чтобы было удобно читать.",
    ),
    "selling": (
        "Напиши продающее объявление, чтобы товар быстрее купили.",
        "Сделай объявление живым и привлекательным для покупателей.",
        "Нужно яркое объявление, которое выделится среди других.",
        "Напиши объявление, которое убедит купить.",
    ),
}


def facts_block(x: Listing) -> str:
    """The item's facts as 'Поле: значение' lines."""
    lines = [f"Товар: {x.name}"]
    if x.color:
        lines.append(f"Цвет: {x.color.m}")
    lines.append(f"Состояние: {x.condition.label}")
    lines += [f"{label}: {value}" for label, value in x.attrs]
    lines.append(f"Комплект: {x.kit}")
    lines.append(f"Цена: {ru.rub(x.price)}")
    lines.append(f"Торг: {'да' if x.min_price else 'нет'}")
    lines.append(f"Город: {x.city.nom}")
    lines.append(f"Доставка: {'да' if x.delivery else 'нет'}")
    lines.append(f"Причина продажи: {x.reason}")
    return "\n".join(lines)


def notes(x: Listing) -> str:
    """The same facts as a seller's rough note in one paragraph."""
    color = f"{x.color.form(x.gender, accusative=True)} " if x.color else ""
    attrs = ", ".join(f"{ru.decap(label)} {value}" for label, value in x.attrs)
    return (
        f"Продаю {color}{x.name_acc}, состояние {x.condition.label}, {attrs}. "
        f"В комплекте {x.kit}. Цена {ru.rub(x.price)}, {'торг есть' if x.min_price else 'без торга'}. "
        f"Город {x.city.nom}, доставка {'есть' if x.delivery else 'нет'}. Причина: {x.reason}."
    )


def _attr_sentence(x: Listing) -> str:
    return "Характеристики: " + "; ".join(f"{ru.decap(label)} — {value}" for label, value in x.attrs) + "."


def _delivery(x: Listing) -> str:
    return "Возможна отправка доставкой маркетплейса." if x.delivery else "Только самовывоз."


def _price(x: Listing) -> str:
    return ru.rub(x.price) + (", небольшой торг уместен" if x.min_price else ", без торга")


def _what_acc(x: Listing) -> str:
    color = f"{x.color.form(x.gender, accusative=True)} " if x.color else ""
    return f"{color}{x.name_acc}"


def write_full(x: Listing) -> str:
    """A complete ad: title, description, characteristics, kit, reason, price and place."""
    return (
        f"{x.title}\n\n"
        f"Продаю {_what_acc(x)}. {x.condition.describe(x.gender)} {_attr_sentence(x)}\n"
        f"В комплекте: {x.kit}. Причина продажи — {x.reason}.\n\n"
        f"Цена: {_price(x)}. Город: {x.city.nom}. {_delivery(x)}\n"
        "Пишите в сообщения, отвечу на все вопросы!"
    )


def write_short(x: Listing) -> str:
    """Two or three sentences."""
    label, value = x.attrs[0]
    bargain = ", торг" if x.min_price else ""
    return (
        f"{x.title}\n\n"
        f"Продаю {_what_acc(x)}, состояние {x.condition.label}, {ru.decap(label)} — {value}. "
        f"Цена {ru.rub(x.price)}{bargain}, {x.city.nom}. {_delivery(x)}"
    )


def write_list(x: Listing) -> str:
    """A title and one line per fact."""
    lines = [x.title, "", f"- Модель: {x.model}"]
    if x.color:
        lines.append(f"- Цвет: {x.color.m}")
    lines.append(f"- Состояние: {x.condition.label}")
    lines += [f"- {label}: {value}" for label, value in x.attrs]
    lines.append(f"- Комплект: {x.kit}")
    lines.append(f"- Цена: {ru.rub(x.price)}" + (" (торг возможен)" if x.min_price else " (без торга)"))
    lines.append(f"- Город: {x.city.nom}")
    lines.append(f"- Доставка: {'есть' if x.delivery else 'только самовывоз'}")
    lines += ["", f"Причина продажи — {x.reason}. Пишите, отвечу быстро!"]
    return "\n".join(lines)


def write_selling(x: Listing) -> str:
    """An enthusiastic ad with the same facts."""
    bargain = (
        "Для быстрой сделки готов обсудить цену."
        if x.min_price and x.seller.gender == "m"
        else "Для быстрой сделки готова обсудить цену."
        if x.min_price
        else "Цена окончательная, но она и так ниже рынка."
    )
    return (
        f"{x.title} — отличный выбор!\n\n"
        f"Ищете {x.product.acc} по разумной цене? Предлагаю {_what_acc(x)}. "
        f"{x.condition.describe(x.gender)} {_attr_sentence(x)} В комплекте: {x.kit}.\n\n"
        f"Всего {ru.rub(x.price)}! {bargain} Забрать можно {x.city.in_}. {_delivery(x)}\n"
        f"Причина продажи — {x.reason}. Пишите, пока не купили!"
    )


WRITERS = {"full": write_full, "short": write_short, "list": write_list, "selling": write_selling}


def make_ad(rng: random.Random) -> Sample:
    """An ad-writing conversation and the ad itself as a raw-text document."""
    x = make_listing(rng)
    style = rng.choice(tuple(REQUESTS))
    request = rng.choice(REQUESTS[style])
    if style == "selling":
        request += f" Продавец: {x.seller.name}."
    facts = facts_block(x) if rng.random() < 0.6 else notes(x)
    answer = WRITERS[style](x)
    messages = [system(SYSTEM), user(f"{request}\n\n{facts}"), assistant(answer)]
    return Sample("ad", messages, document=answer)
