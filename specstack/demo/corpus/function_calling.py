"""Function-calling conversations and GRPO prompts over the marketplace tools.

A request builder returns the user's text and the golden calls; the fake backends give the results and
the `tell_*` functions turn each result into the final Russian answer. Situations: simple (one tool
offered), multiple (several offered, one right), parallel (two calls in one turn), irrelevance (tools
offered, none applies: a plain answer).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from specstack.demo.corpus import ru, tools, vocab
from specstack.demo.corpus.common import Sample, assistant, digits, system, user
from specstack.demo.corpus.listing import make_listing

SYSTEM = (
    "Ты — ассистент сервиса объявлений. Если для ответа нужны данные, вызывай подходящие инструменты; "
    "если ни один инструмент не подходит, отвечай сам."
)

Call = tuple[str, dict]


@dataclass
class FcExample:
    """A user request, the tools offered and the golden calls (none for irrelevance)."""

    situation: str
    request: str
    offered: list[str]
    calls: list[Call]
    plain_answer: str = ""

    def tool_schemas(self) -> list[dict]:
        return [tools.SCHEMAS[name] for name in self.offered]

    def prompt(self) -> list[dict]:
        return [system(SYSTEM), user(self.request)]

    def sample(self) -> Sample:
        """The whole SFT conversation: calls, tool results, final answer (or the plain answer)."""
        messages = self.prompt()
        if not self.calls:
            messages.append(assistant(self.plain_answer))
            return Sample("fc", messages, tools=self.tool_schemas(), document="")
        messages.append(
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"type": "function", "function": {"name": n, "arguments": a}} for n, a in self.calls
                ],
            }
        )
        answers = []
        for name, args in self.calls:
            result = tools.call(name, args)
            messages.append({"role": "tool", "name": name, "content": json.dumps(result, ensure_ascii=False)})
            answers.append(TELLERS[name](args, result))
        messages.append(assistant("\n\n".join(answers)))
        return Sample("fc", messages, tools=self.tool_schemas(), document="")

    def rl_row(self) -> dict:
        """The GRPO prompt with its golden calls."""
        return {
            "prompt": self.prompt(),
            "domain": "fc",
            "tools": self.tool_schemas(),
            "tool_calls": [{"name": n, "arguments": a} for n, a in self.calls],
            "category": self.situation,
        }


def _ordered(name: str, args: dict) -> Call:
    """Arguments in the schema's property order, so equal calls serialise equally."""
    props = tools.SCHEMAS[name]["function"]["parameters"]["properties"]
    return name, {k: args[k] for k in props if k in args}


def _item_id(rng: random.Random) -> str:
    return digits(rng, 10)


def _order_id(rng: random.Random) -> str:
    return digits(rng, 8)


def _seller_id(rng: random.Random) -> str:
    return "s" + digits(rng, 6)


def _weight(rng: random.Random) -> tuple[str, int | float]:
    """A parcel weight (of a random product) as the user writes it and as the tool takes it, in kg."""
    p = rng.choice(vocab.PRODUCTS)
    grams = rng.randrange(max(100, p.grams[0] // 100 * 100), min(p.grams[1], 100_000) + 1, 100)
    if grams < 1000 and rng.random() < 0.5:
        return f"{grams} г", grams / 1000
    kg = Fraction(grams, 1000)
    return f"{ru.decimal(kg, 1)} кг", int(kg) if kg.denominator == 1 else float(kg)


# ---- requests: rng -> (text, call) ---------------------------------------------------------------


def ask_search(rng: random.Random, city: vocab.City | None = None) -> tuple[str, Call]:
    p = rng.choice(vocab.PRODUCTS)
    brand = rng.choice(p.models).split()[0].strip("«»")
    query, query_acc = (f"{p.nom} {brand}", f"{p.acc} {brand}") if rng.random() < 0.5 else (p.nom, p.acc)
    args: dict = {"query": query}
    city = city or (rng.choice(vocab.CITIES) if rng.random() < 0.6 else None)
    where = f" {city.in_}" if city else ""
    if city:
        args["city"] = city.nom
    price_text = ""
    if rng.random() < 0.6:
        args["max_price"] = (
            rng.randrange(p.price[0], p.price[1] + 1, 500) if p.price[1] > 5000 else p.price[1]
        )
        price_text = f" до {ru.rub(args['max_price'])}"
    category_text = ""
    if rng.random() < 0.25:
        args["category"] = p.category
        category_text = f" в категории «{p.category}»"
    text = rng.choice(
        (
            f"Найди {query_acc}{where}{price_text}{category_text}.",
            f"Поищи объявления по запросу «{query}»{category_text}{where}{price_text}.",
            f"Хочу купить {query_acc}{where}{price_text}{category_text}. Что есть?",
        )
    )
    return text, _ordered("search_items", args)


def ask_get_item(rng: random.Random, item: str | None = None) -> tuple[str, Call]:
    item = item or _item_id(rng)
    text = rng.choice(
        (
            f"Покажи объявление {item}.",
            f"Расскажи подробнее про объявление №{item}.",
            f"Что продают в объявлении {item}?",
        )
    )
    return text, _ordered("get_item", {"item_id": item})


def ask_create(rng: random.Random) -> tuple[str, Call]:
    x = make_listing(rng)
    title = ru.cap(x.name)
    args = {"title": title, "category": x.product.category, "price": x.price, "city": x.city.nom}
    desc = ""
    if rng.random() < 0.5:
        args["description"] = x.condition.describe(x.gender)
        desc = f" Описание: «{args['description']}»"
    text = rng.choice(
        (
            f"Размести объявление: {title}, категория «{x.product.category}», цена {ru.rub(x.price)}, "
            f"город {x.city.nom}.{desc}",
            f"Создай объявление «{title}» в категории «{x.product.category}» за {ru.rub(x.price)}, "
            f"я {x.city.in_}.{desc}",
        )
    )
    return text, _ordered("create_listing", args)


def ask_delivery_status(rng: random.Random, order: str | None = None) -> tuple[str, Call]:
    order = order or _order_id(rng)
    text = rng.choice(
        (
            f"Где моя посылка? Заказ {order}.",
            f"Когда привезут заказ №{order}?",
            f"Отследи доставку заказа {order}.",
        )
    )
    return text, _ordered("get_delivery_status", {"order_id": order})


def ask_order(rng: random.Random, order: str | None = None) -> tuple[str, Call]:
    order = order or _order_id(rng)
    text = rng.choice(
        (
            f"Покажи заказ {order}.",
            f"Что у меня в заказе №{order}?",
            f"Напомни сумму и статус заказа {order}.",
        )
    )
    return text, _ordered("get_order", {"order_id": order})


CANCEL_REASONS = (
    "нашлось дешевле",
    "изменились планы",
    "заказ сделан по ошибке",
    "слишком долго ждать доставку",
    "выбран не тот размер",
    "покупка больше не нужна",
)


def ask_cancel(rng: random.Random) -> tuple[str, Call]:
    order, reason = _order_id(rng), rng.choice(CANCEL_REASONS)
    text = rng.choice(
        (f"Отмени заказ {order}, причина: {reason}.", f"Хочу отменить заказ №{order}, причина: {reason}.")
    )
    return text, _ordered("cancel_order", {"order_id": order, "reason": reason})


def ask_rating(rng: random.Random, seller: str | None = None) -> tuple[str, Call]:
    seller = seller or _seller_id(rng)
    text = rng.choice(
        (
            f"Какой рейтинг у продавца {seller}?",
            f"Можно ли доверять продавцу {seller}? Посмотри его рейтинг.",
            f"Проверь отзывы о продавце {seller}.",
        )
    )
    return text, _ordered("get_seller_rating", {"seller_id": seller})


def ask_delivery_cost(rng: random.Random) -> tuple[str, Call]:
    a, b = rng.sample(vocab.CITIES, 2)
    w_text, w = _weight(rng)
    text = rng.choice(
        (
            f"Сколько стоит доставка из {a.gen} {b.to} посылки весом {w_text}?",
            f"Посчитай доставку {b.to} из {a.gen}, вес {w_text}.",
        )
    )
    return text, _ordered("calculate_delivery", {"from_city": a.nom, "to_city": b.nom, "weight_kg": w})


MESSAGES = (
    "Здравствуйте! Ещё продаётся?",
    "Добрый день, торг возможен?",
    "Можно посмотреть сегодня вечером?",
    "Отправите доставкой?",
    "Пришлите, пожалуйста, ещё фото.",
)


def ask_message(rng: random.Random, item: str | None = None) -> tuple[str, Call]:
    item, msg = item or _item_id(rng), rng.choice(MESSAGES)
    text = rng.choice(
        (f"Напиши продавцу объявления {item}: «{msg}»", f"Отправь в чат объявления №{item}: «{msg}»")
    )
    return text, _ordered("send_message", {"item_id": item, "text": msg})


def ask_favorite(rng: random.Random, item: str | None = None) -> tuple[str, Call]:
    item = item or _item_id(rng)
    text = rng.choice((f"Добавь объявление {item} в избранное.", f"Сохрани объявление №{item} в избранное."))
    return text, _ordered("add_to_favorites", {"item_id": item})


ASKERS: dict[str, Callable[[random.Random], tuple[str, Call]]] = {
    "search_items": ask_search,
    "get_item": ask_get_item,
    "create_listing": ask_create,
    "get_delivery_status": ask_delivery_status,
    "get_order": ask_order,
    "cancel_order": ask_cancel,
    "get_seller_rating": ask_rating,
    "calculate_delivery": ask_delivery_cost,
    "send_message": ask_message,
    "add_to_favorites": ask_favorite,
}


# ---- parallel requests: two independent calls in one turn --------------------------------------


def par_two_orders(rng: random.Random) -> tuple[str, list[Call]]:
    a, b = _order_id(rng), _order_id(rng)
    calls = [ask_delivery_status(rng, a)[1], ask_delivery_status(rng, b)[1]]
    return f"Проверь, где сейчас мои заказы {a} и {b}.", calls


def par_two_sellers(rng: random.Random) -> tuple[str, list[Call]]:
    a, b = _seller_id(rng), _seller_id(rng)
    return f"Сравни рейтинги продавцов {a} и {b}.", [ask_rating(rng, a)[1], ask_rating(rng, b)[1]]


def par_two_items(rng: random.Random) -> tuple[str, list[Call]]:
    a, b = _item_id(rng), _item_id(rng)
    return f"Покажи объявления {a} и {b}.", [ask_get_item(rng, a)[1], ask_get_item(rng, b)[1]]


def par_two_destinations(rng: random.Random) -> tuple[str, list[Call]]:
    a, b, c = rng.sample(vocab.CITIES, 3)
    w_text, w = _weight(rng)
    calls = [
        _ordered("calculate_delivery", {"from_city": a.nom, "to_city": b.nom, "weight_kg": w}),
        _ordered("calculate_delivery", {"from_city": a.nom, "to_city": c.nom, "weight_kg": w}),
    ]
    return f"Сколько будет стоить отправить посылку {w_text} из {a.gen} {b.to} и {c.to}?", calls


def par_two_cities(rng: random.Random) -> tuple[str, list[Call]]:
    a, b = rng.sample(vocab.CITIES, 2)
    p = rng.choice(vocab.PRODUCTS)
    calls = [_ordered("search_items", {"query": p.nom, "city": c.nom}) for c in (a, b)]
    return f"Найди {p.acc} {a.in_} и {b.in_}.", calls


def par_order_and_tracking(rng: random.Random) -> tuple[str, list[Call]]:
    order = _order_id(rng)
    return (
        f"Покажи заказ {order} и где он сейчас.",
        [ask_order(rng, order)[1], ask_delivery_status(rng, order)[1]],
    )


def par_favorite_and_message(rng: random.Random) -> tuple[str, list[Call]]:
    item = _item_id(rng)
    _, call = ask_message(rng, item)
    msg = call[1]["text"]
    return (
        f"Добавь объявление {item} в избранное и напиши продавцу: «{msg}»",
        [ask_favorite(rng, item)[1], call],
    )


PARALLEL = (
    par_two_orders,
    par_two_sellers,
    par_two_items,
    par_two_destinations,
    par_two_cities,
    par_order_and_tracking,
    par_favorite_and_message,
)


# ---- irrelevance: tools offered, none applies ---------------------------------------------------

CAN_DO = {
    "search_items": "искать объявления",
    "get_item": "показывать объявления",
    "create_listing": "создавать объявления",
    "get_delivery_status": "отслеживать доставку",
    "get_order": "показывать заказы",
    "cancel_order": "отменять заказы",
    "get_seller_rating": "проверять рейтинг продавцов",
    "calculate_delivery": "рассчитывать доставку",
    "send_message": "писать продавцам",
    "add_to_favorites": "добавлять объявления в избранное",
}


def _and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " и " + items[-1]


def irrelevant(rng: random.Random, offered: list[str]) -> tuple[str, str]:
    """A request no offered tool serves, and the plain answer."""
    can = _and_list([CAN_DO[n] for n in offered])
    x = make_listing(rng)
    kind = rng.randrange(6)
    if kind == 0:
        return (
            f"Какая погода будет завтра {x.city.in_}?",
            f"К сожалению, прогноза погоды у меня нет: здесь я могу только {can}. "
            "Погоду лучше посмотреть в специальном сервисе.",
        )
    if kind == 1:
        currency = rng.choice(("доллара", "евро", "юаня"))
        return (
            f"Какой сейчас курс {currency}?",
            f"Курсы валют мне недоступны: здесь я могу только {can}. Актуальный курс {currency} "
            "лучше уточнить на сайте банка.",
        )
    if kind == 2:
        return (
            f"Закажи мне пиццу с доставкой {x.city.to}.",
            f"Заказать еду я не могу: здесь я могу только {can}. Для пиццы воспользуйтесь сервисом доставки еды.",
        )
    if kind == 3:
        return (
            f"Как лучше сфотографировать {x.product.acc} для объявления?",
            "Инструменты здесь не нужны, отвечу сам. Снимайте при дневном свете на однотонном фоне, "
            "покажите товар со всех сторон и крупно — все дефекты. Первой поставьте самую удачную фотографию: "
            "по ней покупатели решают, открывать ли объявление.",
        )
    if kind == 4:
        return (
            f"Как написать хороший заголовок для объявления про {x.name_acc}?",
            "Инструменты здесь не нужны, отвечу сам. В заголовке укажите, что продаёте, бренд и модель, "
            f"например: «{ru.cap(x.name)}». Не пишите «срочно» и не ставьте лишних символов: заголовок должен быть "
            "коротким и понятным.",
        )
    return (
        f"Продавец по объявлению «{ru.cap(x.name)}» просит предоплату на карту. Это безопасно?",
        "Инструменты здесь не нужны, отвечу сам. Нет, это небезопасно: не переводите предоплату на карту и "
        "не уходите из чата сайта в мессенджеры. Оплачивайте покупку только через сайт — тогда деньги "
        "защищены, пока вы не получите товар.",
    )


# ---- final answers from tool results ------------------------------------------------------------

ORDER_STATUS_RU = {
    "paid": "оплачен, ожидает отправки",
    "shipped": "передан в доставку",
    "delivered": "доставлен",
    "cancelled": "отменён",
}
CONDITION_LABEL = {c.key: c.label for c in vocab.CONDITIONS}


def tell_search(args: dict, r: dict) -> str:
    where = f" {vocab.CITY_BY_NAME[args['city']].in_}" if "city" in args else ""
    limit = f" до {ru.rub(args['max_price'])}" if "max_price" in args else ""
    if not r["items"]:
        return (
            f"По запросу «{args['query']}»{where}{limit} ничего не нашлось. Попробуйте расширить поиск: "
            "поднять максимальную цену или выбрать другой город."
        )
    lines = [f"По запросу «{args['query']}»{where}{limit} найдено объявлений: {r['total']}."]
    lines += [
        f"{i}. {it['title']} — {ru.rub(it['price'])}, {it['city']} (№{it['item_id']})"
        for i, it in enumerate(r["items"], 1)
    ]
    best = r["items"][0]
    lines.append(f"Самый выгодный вариант — №{best['item_id']} за {ru.rub(best['price'])}.")
    lines.append("Хотите, покажу подробности какого-нибудь из них?")
    return "\n".join(lines)


def tell_item(args: dict, r: dict) -> str:
    return (
        f"Объявление №{r['item_id']}: «{r['title']}». Цена — {ru.rub(r['price'])}, город — {r['city']}, "
        f"состояние — {CONDITION_LABEL[r['condition']]}. Продавец {r['seller_id']}, объявление опубликовано "
        f"{ru.iso_to_ru(r['published'])}. Могу проверить рейтинг продавца или рассчитать доставку."
    )


def tell_create(args: dict, r: dict) -> str:
    return (
        f"Готово! Объявление «{args['title']}» создано, его номер — {r['item_id']}. Сейчас оно на модерации, "
        f"проверка займёт до {ru.count(r['moderation_hours'], ru.HOURS_GEN)}. "
        f"Цена — {ru.rub(args['price'])}, город — {args['city']}, категория — «{args['category']}»."
    )


def tell_delivery_status(args: dict, r: dict) -> str:
    order, where, when = r["order_id"], vocab.CITY_BY_NAME[r["location"]].in_, ru.iso_to_ru(r["date"])
    carrier = f" Служба доставки — {r['carrier']}."
    if r["status"] == "in_transit":
        return f"Заказ №{order} в пути: сейчас посылка {where}. Ожидаемая дата доставки — {when}.{carrier}"
    if r["status"] == "at_pickup_point":
        return (
            f"Заказ №{order} ждёт вас в пункте выдачи {where} с {when}. Не забудьте код получения.{carrier}"
        )
    if r["status"] == "delivered":
        return f"Заказ №{order} уже доставлен {when}, {where}.{carrier}"
    if r["status"] == "awaiting_shipment":
        return f"Заказ №{order} ещё не передан в доставку: продавец должен отправить его до {when}.{carrier}"
    if r["status"] == "cancelled":
        return f"Заказ №{order} отменён, поэтому доставки по нему не будет."
    return (
        f"Доставка заказа №{order} задерживается: посылка сейчас {where}. Новая ожидаемая дата — {when}. "
        f"Приносим извинения.{carrier}"
    )


def tell_order(args: dict, r: dict) -> str:
    return (
        f"Заказ №{r['order_id']} от {ru.iso_to_ru(r['created'])}: {r['item_title']}, {r['quantity']} шт., "
        f"сумма {ru.rub(r['total'])}. Статус: {ORDER_STATUS_RU[r['status']]}. Продавец {r['seller_id']}."
    )


def tell_cancel(args: dict, r: dict) -> str:
    order = r["order_id"]
    if r["cancelled"]:
        return (
            f"Заказ №{order} отменён. Деньги — {ru.rub(r['refund'])} — вернутся на карту в течение "
            f"{ru.count(r['refund_days'], ru.WORKDAYS_GEN)}."
        )
    why = {
        "shipped": "он уже передан в доставку. Отказаться от него можно при получении в пункте выдачи",
        "delivered": "он уже доставлен. Если товар не подошёл, оформите возврат в разделе «Заказы»",
        "cancelled": "он уже был отменён раньше",
    }[r["order_status"]]
    return f"Отменить заказ №{order} не получилось: {why}."


def tell_rating(args: dict, r: dict) -> str:
    rating = Fraction(str(r["rating"]))
    if rating >= Fraction(9, 2) and r["positive_percent"] >= 90:
        advice = "Продавцу можно доверять."
    elif rating >= 4:
        advice = "В целом надёжный продавец, но почитайте последние отзывы."
    else:
        advice = "Рейтинг невысокий: будьте внимательны и не переводите предоплату."
    return (
        f"У продавца {r['seller_id']} рейтинг {ru.fixed(rating, 1)} из 5 ({ru.count(r['reviews'], ru.REVIEWS)}), "
        f"положительных оценок — {r['positive_percent']}%. На сайте с {r['on_site_since']} года. {advice}"
    )


def tell_delivery_cost(args: dict, r: dict) -> str:
    a, b = vocab.CITY_BY_NAME[r["from_city"]], vocab.CITY_BY_NAME[r["to_city"]]
    kg = ru.decimal(Fraction(str(r["weight_kg"])), 3)
    return (
        f"Доставка посылки весом {kg} кг из {a.gen} {b.to} обойдётся в {ru.rub(r['cost'])} и займёт "
        f"от {r['days_min']} до {ru.count(r['days_max'], ru.DAYS_GEN)}."
    )


def tell_message(args: dict, r: dict) -> str:
    return (
        f"Сообщение «{args['text']}» отправлено продавцу объявления №{r['item_id']}. "
        "Ответ появится в разделе «Сообщения»."
    )


def tell_favorite(args: dict, r: dict) -> str:
    return (
        f"Объявление №{r['item_id']} добавлено в избранное. Всего в избранном: "
        f"{ru.count(r['favorites_count'], ru.ADS)}."
    )


TELLERS: dict[str, Callable[[dict, dict], str]] = {
    "search_items": tell_search,
    "get_item": tell_item,
    "create_listing": tell_create,
    "get_delivery_status": tell_delivery_status,
    "get_order": tell_order,
    "cancel_order": tell_cancel,
    "get_seller_rating": tell_rating,
    "calculate_delivery": tell_delivery_cost,
    "send_message": tell_message,
    "add_to_favorites": tell_favorite,
}


# ---- situations ---------------------------------------------------------------------------------

SITUATIONS = ("simple", "multiple", "parallel", "irrelevance")


def _with_distractors(rng: random.Random, needed: list[str], n_extra: int) -> list[str]:
    others = [n for n in tools.SCHEMAS if n not in needed]
    offered = list(dict.fromkeys(needed)) + rng.sample(others, n_extra)
    rng.shuffle(offered)
    return offered


def make_fc_example(rng: random.Random, situation: str) -> FcExample:
    """One example of the given situation. At most three schemas are offered (a schema is ~60-120 tokens):
    with up to five, most conversations outgrew the SFT length and lost their tool-use turns to truncation."""
    if situation == "simple":
        text, call = ASKERS[rng.choice(tuple(ASKERS))](rng)
        return FcExample(situation, text, [call[0]], [call])
    if situation == "multiple":
        text, call = ASKERS[rng.choice(tuple(ASKERS))](rng)
        return FcExample(situation, text, _with_distractors(rng, [call[0]], rng.randint(1, 2)), [call])
    if situation == "parallel":
        text, calls = rng.choice(PARALLEL)(rng)
        return FcExample(
            situation, text, _with_distractors(rng, [n for n, _ in calls], rng.randint(0, 1)), calls
        )
    if situation == "irrelevance":
        offered = rng.sample(list(tools.SCHEMAS), rng.randint(1, 2))
        text, answer = irrelevant(rng, offered)
        return FcExample(situation, text, offered, [], answer)
    raise ValueError(f"unknown function-calling situation {situation!r}")
