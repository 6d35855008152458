"""The marketplace tools: OpenAI function schemas (descriptions in Russian) and fake backends whose
results are a deterministic function of the arguments alone."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from collections.abc import Callable
from typing import Any

from specstack.demo.corpus import ru, vocab
from specstack.demo.corpus.common import digits, nice_price

ITEM_ID = {"type": "string", "pattern": "^[0-9]{10}$", "description": "Номер объявления, 10 цифр."}
ORDER_ID = {"type": "string", "pattern": "^[0-9]{8}$", "description": "Номер заказа, 8 цифр."}
SELLER_ID = {
    "type": "string",
    "pattern": "^s[0-9]{6}$",
    "description": "Идентификатор продавца, например s123456.",
}
CITY = {"type": "string", "description": "Город в именительном падеже, например «Казань»."}
CATEGORY = {"type": "string", "enum": list(vocab.CATEGORIES), "description": "Категория объявлений."}


def _schema(name: str, description: str, properties: dict[str, dict], required: list[str]) -> dict:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
        },
    }


SCHEMAS: dict[str, dict] = {
    s["function"]["name"]: s
    for s in (
        _schema(
            "search_items",
            "Ищет объявления по текстовому запросу с необязательными фильтрами.",
            {
                "query": {"type": "string", "description": "Что ищем, например «велосипед Stels»."},
                "category": CATEGORY,
                "city": CITY,
                "max_price": {"type": "integer", "minimum": 1, "description": "Максимальная цена в рублях."},
            },
            ["query"],
        ),
        _schema(
            "get_item", "Возвращает подробности объявления по его номеру.", {"item_id": ITEM_ID}, ["item_id"]
        ),
        _schema(
            "create_listing",
            "Создаёт новое объявление от имени пользователя.",
            {
                "title": {"type": "string", "description": "Заголовок объявления."},
                "category": CATEGORY,
                "price": {"type": "integer", "minimum": 1, "description": "Цена в рублях."},
                "city": CITY,
                "description": {"type": "string", "description": "Текст объявления."},
            },
            ["title", "category", "price", "city"],
        ),
        _schema(
            "get_delivery_status",
            "Показывает, где сейчас посылка по заказу и когда её доставят.",
            {"order_id": ORDER_ID},
            ["order_id"],
        ),
        _schema(
            "get_order", "Возвращает состав, сумму и статус заказа.", {"order_id": ORDER_ID}, ["order_id"]
        ),
        _schema(
            "cancel_order",
            "Отменяет заказ, если он ещё не передан в доставку.",
            {
                "order_id": ORDER_ID,
                "reason": {"type": "string", "description": "Причина отмены со слов пользователя."},
            },
            ["order_id", "reason"],
        ),
        _schema(
            "get_seller_rating",
            "Возвращает рейтинг продавца и число отзывов о нём.",
            {"seller_id": SELLER_ID},
            ["seller_id"],
        ),
        _schema(
            "calculate_delivery",
            "Рассчитывает стоимость и срок доставки посылки между городами.",
            {
                "from_city": CITY,
                "to_city": CITY,
                "weight_kg": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "maximum": 100,
                    "description": "Вес, кг.",
                },
            },
            ["from_city", "to_city", "weight_kg"],
        ),
        _schema(
            "send_message",
            "Отправляет сообщение продавцу в чат объявления.",
            {"item_id": ITEM_ID, "text": {"type": "string", "description": "Текст сообщения."}},
            ["item_id", "text"],
        ),
        _schema("add_to_favorites", "Добавляет объявление в избранное.", {"item_id": ITEM_ID}, ["item_id"]),
    )
}

TODAY = dt.date(2025, 6, 2)
DELIVERY_STATUSES = (
    "awaiting_shipment",
    "in_transit",
    "delayed",
    "at_pickup_point",
    "delivered",
    "cancelled",
)
ORDER_STATUSES = ("paid", "shipped", "delivered", "cancelled")


def _rng(name: str, args: dict) -> random.Random:
    return random.Random(f"tool/{name}/" + json.dumps(args, sort_keys=True, ensure_ascii=False))


def _day(rng: random.Random, lo: int, hi: int) -> str:
    return (TODAY + dt.timedelta(days=rng.randint(lo, hi))).isoformat()


def _product_for(query: str) -> vocab.Product | None:
    """The product whose noun starts the query ('велосипед Stels' -> велосипед)."""
    q = query.lower()
    best = None
    for p in vocab.PRODUCTS:
        if q.startswith(p.nom) and (best is None or len(p.nom) > len(best.nom)):
            best = p
    return best


def _item(item_id: str) -> dict:
    """Every fact about an ad, derived from its number."""
    rng = _rng("item", {"item_id": item_id})
    p = rng.choice(vocab.PRODUCTS)
    return {
        "item_id": item_id,
        "title": f"{ru.cap(p.nom)} {rng.choice(p.models)}",
        "price": nice_price(rng, *p.price),
        "city": rng.choice(vocab.CITIES).nom,
        "condition": rng.choice(vocab.CONDITIONS).key,
        "seller_id": "s" + digits(rng, 6),
        "published": _day(rng, -30, 0),
    }


def search_items(args: dict) -> dict:
    rng = _rng("search_items", args)
    product = _product_for(args["query"])
    lo, hi = product.price if product else (500, 20000)
    hi = min(hi, args.get("max_price", hi))
    items: list[dict] = []
    if lo <= hi:
        for _ in range(rng.randint(1, 3)):
            price = nice_price(rng, lo, hi)
            if price > hi:
                continue
            items.append(
                {
                    "item_id": digits(rng, 10),
                    "title": ru.cap(args["query"]),
                    "price": price,
                    "city": args.get("city") or rng.choice(vocab.CITIES).nom,
                }
            )
    items.sort(key=lambda it: (it["price"], it["item_id"]))
    return {"total": len(items), "items": items}


def get_item(args: dict) -> dict:
    return _item(args["item_id"])


def create_listing(args: dict) -> dict:
    rng = _rng("create_listing", args)
    return {"item_id": digits(rng, 10), "status": "moderation", "moderation_hours": rng.choice((1, 2, 4, 24))}


def _order(order_id: str) -> dict:
    rng = _rng("order", {"order_id": order_id})
    p = rng.choice(vocab.PRODUCTS)
    qty = rng.choice((1, 1, 1, 2, 3))
    return {
        "order_id": order_id,
        "item_title": f"{ru.cap(p.nom)} {rng.choice(p.models)}",
        "quantity": qty,
        "total": qty * nice_price(rng, *p.price),
        "status": rng.choice(ORDER_STATUSES),
        "created": _day(rng, -20, -1),
        "seller_id": "s" + digits(rng, 6),
    }


def get_order(args: dict) -> dict:
    return _order(args["order_id"])


def get_delivery_status(args: dict) -> dict:
    """Consistent with get_order: a paid order is not shipped yet, a shipped one is on its way."""
    order = _order(args["order_id"])
    rng = _rng("get_delivery_status", args)
    status = {
        "paid": "awaiting_shipment",
        "shipped": rng.choice(("in_transit", "in_transit", "delayed", "at_pickup_point")),
        "delivered": "delivered",
        "cancelled": "cancelled",
    }[order["status"]]
    when = _day(rng, -3, 0) if status in ("delivered", "at_pickup_point") else _day(rng, 1, 7)
    return {
        "order_id": args["order_id"],
        "status": status,
        "location": rng.choice(vocab.CITIES).nom,
        "date": when,
        "carrier": rng.choice(tuple(vocab.CARRIERS)),
    }


def cancel_order(args: dict) -> dict:
    order = _order(args["order_id"])
    if order["status"] == "paid":
        rng = _rng("cancel_order", args)
        return {"order_id": args["order_id"], "cancelled": True, "refund": order["total"],
                "refund_days": rng.choice((1, 3, 5))}  # fmt: skip
    return {"order_id": args["order_id"], "cancelled": False, "order_status": order["status"]}


def get_seller_rating(args: dict) -> dict:
    rng = _rng("get_seller_rating", args)
    return {
        "seller_id": args["seller_id"],
        "rating": rng.randint(35, 50) / 10,
        "reviews": rng.randint(3, 900),
        "positive_percent": rng.randint(70, 100),
        "on_site_since": rng.randint(2012, 2024),
    }


def distance_km(a: vocab.City, b: vocab.City) -> int:
    """Great-circle distance, rounded to whole kilometres."""
    la1, lo1, la2, lo2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return round(2 * 6371 * math.asin(math.sqrt(h)))


def calculate_delivery(args: dict) -> dict:
    a, b = vocab.CITY_BY_NAME.get(args["from_city"]), vocab.CITY_BY_NAME.get(args["to_city"])
    if a is None or b is None:
        return {"error": "unknown_city"}
    km = distance_km(a, b)
    kg = math.ceil(args["weight_kg"])
    cost = 250 + 50 * kg + 10 * (km // 100)
    days = 1 + km // 800
    return {"from_city": a.nom, "to_city": b.nom, "weight_kg": args["weight_kg"], "cost": cost,
            "days_min": days, "days_max": days + 2}  # fmt: skip


def send_message(args: dict) -> dict:
    rng = _rng("send_message", args)
    return {"item_id": args["item_id"], "delivered": True, "chat_id": "c" + digits(rng, 9)}


def add_to_favorites(args: dict) -> dict:
    rng = _rng("add_to_favorites", args)
    return {"item_id": args["item_id"], "added": True, "favorites_count": rng.randint(1, 60)}


BACKENDS: dict[str, Callable[[dict], dict]] = {
    "search_items": search_items,
    "get_item": get_item,
    "create_listing": create_listing,
    "get_delivery_status": get_delivery_status,
    "get_order": get_order,
    "cancel_order": cancel_order,
    "get_seller_rating": get_seller_rating,
    "calculate_delivery": calculate_delivery,
    "send_message": send_message,
    "add_to_favorites": add_to_favorites,
}


def call(name: str, args: dict[str, Any]) -> dict:
    """Run the fake backend of tool `name`."""
    return BACKENDS[name](args)
