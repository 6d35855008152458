"""Small Python tasks of the marketplace: a Russian prompt, a fenced solution, assert-based tests.

Each family has a solution template, a deliberately wrong variant (the tests must catch it), a reference
implementation that computes the expected values, and input generators whose first cases are chosen to
tell the right solution from the wrong one. Templates use `$name`-style fields (string.Template), so
Python braces need no escaping.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from string import Template
from typing import Any

from specstack.demo.corpus import vocab
from specstack.demo.corpus.common import Sample, assistant, system, user

SYSTEM = "Ты — опытный Python-разработчик. Отвечай кодом в блоке ```python и коротким пояснением."


@dataclass(frozen=True)
class Family:
    """A kind of task with its naming variants, templates, reference and test inputs."""

    key: str
    names: tuple[str, ...]
    params: tuple[tuple[str, ...], ...]
    prompt: str
    solution: str
    wrong: str
    explain: str
    doc_en: str
    reference: Callable[..., Any]
    edge: tuple[tuple, ...]
    draw: Callable[[random.Random], tuple]


@dataclass
class CodeTask:
    """One generated task."""

    family: str
    entry_point: str
    prompt: str
    solution: str
    wrong_solution: str
    tests: str
    explanation: str
    doc_en: str

    def answer(self) -> str:
        return f"```python\n{self.solution}\n```\n\n{self.explanation}"

    def sample(self) -> Sample:
        messages = [system(SYSTEM), user(self.prompt), assistant(self.answer())]
        return Sample("code", messages, document="")

    def rl_row(self) -> dict:
        return {
            "prompt": [system(SYSTEM), user(self.prompt)],
            "domain": "code",
            "tests": self.tests,
            "entry_point": self.entry_point,
        }


def _latin_models() -> tuple[str, ...]:
    return tuple(m for p in vocab.PRODUCTS for m in p.models if re.fullmatch(r"[A-Za-z0-9 .'\-/]+", m))


LATIN_MODELS = _latin_models()
CITY_EN = tuple(c.en for c in vocab.CITIES)


def _pairs(rng: random.Random) -> tuple:
    return ([(rng.randrange(50, 5001, 50), rng.randint(1, 5)) for _ in range(rng.randint(1, 4))],)


def _ads(rng: random.Random) -> tuple:
    ads = [
        {"title": rng.choice(LATIN_MODELS), "price": rng.randrange(500, 20001, 500)}
        for _ in range(rng.randint(2, 5))
    ]
    return ads, rng.choice(ads)["price"]


def _phone(rng: random.Random) -> tuple:
    d = "9" + "".join(str(rng.randint(0, 9)) for _ in range(9))
    forms = (
        f"8 ({d[:3]}) {d[3:6]}-{d[6:8]}-{d[8:]}",
        f"+7 {d[:3]} {d[3:6]} {d[6:8]} {d[8:]}",
        f"8{d}",
        f"7-{d[:3]}-{d[3:6]}-{d[6:]}",
    )
    return (rng.choice(forms),)


def _merge_lists(rng: random.Random) -> tuple:
    a = sorted(rng.randrange(100, 10001, 100) for _ in range(rng.randint(0, 4)))
    b = sorted(rng.randrange(100, 10001, 100) for _ in range(rng.randint(1, 4)))
    return a, b


def _merge(a: list[int], b: list[int]) -> list[int]:
    return sorted(a + b)


def _slug(title: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", title.lower()))


def _card(rng: random.Random) -> tuple:
    d = "".join(str(rng.randint(0, 9)) for _ in range(16))
    sep = rng.choice((" ", "-", ""))
    return (sep.join(d[i : i + 4] for i in range(0, 16, 4)),)


FAMILIES: tuple[Family, ...] = (
    Family(
        "cart_total",
        ("cart_total", "order_total", "basket_sum", "total_cost"),
        (("items", "positions", "lines"),),
        "Напиши функцию `$name($a)`, которая принимает список пар (цена, количество) и возвращает общую "
        "стоимость заказа. Для пустого списка функция возвращает 0.",
        "def $name($a: list[tuple[int, int]]) -> int:\n    return sum(price * qty for price, qty in $a)",
        "def $name($a: list[tuple[int, int]]) -> int:\n    return sum(price for price, qty in $a)",
        "Функция умножает цену каждой позиции на количество и складывает результаты встроенной функцией "
        "sum. Для пустого списка sum возвращает 0, поэтому отдельная проверка не нужна.",
        "Total cost of (price, quantity) pairs.",
        lambda items: sum(p * q for p, q in items),
        (([],), ([(100, 3)],)),
        _pairs,
    ),
    Family(
        "apply_discount",
        ("apply_discount", "discounted_price", "price_with_discount"),
        (("price", "amount", "cost"), ("percent", "discount", "pct")),
        "Напиши функцию `$name($a, $b)`, которая возвращает цену $a (целое число рублей) со скидкой $b "
        "процентов, округлённую вниз до целого рубля.",
        "def $name($a: int, $b: int) -> int:\n    return $a * (100 - $b) // 100",
        "def $name($a: int, $b: int) -> int:\n    return $a * $b // 100",
        "Цена со скидкой — это (100 - скидка) процентов от исходной цены. Целочисленное деление // "
        "отбрасывает дробную часть, то есть округляет результат вниз до целого рубля.",
        "Price after a percentage discount, rounded down to whole roubles.",
        lambda price, pct: price * (100 - pct) // 100,
        ((1000, 10), (999, 15)),
        lambda rng: (rng.randrange(100, 100001, 10), rng.choice((5, 10, 15, 20, 25, 30, 50))),
    ),
    Family(
        "filter_by_price",
        ("filter_by_price", "affordable_titles", "titles_under"),
        (("ads", "listings", "offers"), ("max_price", "limit", "budget")),
        'Напиши функцию `$name($a, $b)`: $a — список словарей с ключами "title" и "price". Функция '
        "возвращает заголовки объявлений с ценой не выше $b в исходном порядке.",
        'def $name($a: list[dict], $b: int) -> list[str]:\n    return [ad["title"] for ad in $a if ad["price"] <= $b]',
        'def $name($a: list[dict], $b: int) -> list[str]:\n    return [ad["title"] for ad in $a if ad["price"] < $b]',
        "Списковое включение проходит по объявлениям по порядку и оставляет заголовки тех, у которых цена "
        "не превышает лимит. Сравнение <= включает объявления с ценой, ровно равной лимиту.",
        "Titles of the ads whose price is at most the limit, in order.",
        lambda ads, limit: [ad["title"] for ad in ads if ad["price"] <= limit],
        (([{"title": "Lamp", "price": 500}, {"title": "Desk", "price": 900}], 500),),
        _ads,
    ),
    Family(
        "count_by_city",
        ("count_by_city", "city_counts", "ads_per_city"),
        (("cities", "locations", "city_names"),),
        "Напиши функцию `$name($a)`, которая получает список городов объявлений и возвращает словарь: "
        "город -> сколько раз он встречается.",
        "def $name($a: list[str]) -> dict[str, int]:\n    counts: dict[str, int] = {}\n    for city in $a:\n"
        "        counts[city] = counts.get(city, 0) + 1\n    return counts",
        "def $name($a: list[str]) -> dict[str, int]:\n    return {city: 1 for city in $a}",
        "Функция заводит пустой словарь и для каждого города увеличивает его счётчик на единицу; метод get "
        "с нулём по умолчанию обрабатывает город, который встретился впервые.",
        "How many times each city occurs.",
        lambda cities: {c: cities.count(c) for c in dict.fromkeys(cities)},
        ((["Kazan", "Omsk", "Kazan"],), ([],)),
        lambda rng: ([rng.choice(CITY_EN[:6]) for _ in range(rng.randint(1, 6))],),
    ),
    Family(
        "normalize_phone",
        ("normalize_phone", "clean_phone", "format_phone"),
        (("phone", "raw", "number"),),
        "Напиши функцию `$name($a)`, которая оставляет в номере телефона только цифры, заменяет ведущую 8 "
        'на 7 (если цифр 11) и возвращает номер со знаком +, например "+79123456789".',
        'def $name($a: str) -> str:\n    digits = "".join(ch for ch in $a if ch.isdigit())\n'
        '    if len(digits) == 11 and digits.startswith("8"):\n        digits = "7" + digits[1:]\n'
        '    return "+" + digits',
        'def $name($a: str) -> str:\n    digits = "".join(ch for ch in $a if ch.isdigit())\n    return "+" + digits',
        "Сначала из строки собираются только цифры. Если их 11 и номер начинается с 8, первую цифру "
        "меняем на 7 — так российские номера приводятся к международному виду.",
        "Digits of a Russian phone number in +7 form.",
        lambda s: "+" + (lambda d: "7" + d[1:] if len(d) == 11 and d[0] == "8" else d)(re.sub(r"\D", "", s)),
        (("8 (912) 345-67-89",),),
        _phone,
    ),
    Family(
        "paginate",
        ("paginate", "get_page", "page_slice"),
        (("items", "rows", "ads"), ("page", "page_number", "num"), ("per_page", "size", "page_size")),
        "Напиши функцию `$name($a, $b, $c)`, которая возвращает элементы страницы номер $b (нумерация с 1) "
        "при $c элементах на странице. Если страница пустая, верни пустой список.",
        "def $name($a: list, $b: int, $c: int) -> list:\n    start = ($b - 1) * $c\n    return $a[start : start + $c]",
        "def $name($a: list, $b: int, $c: int) -> list:\n    start = $b * $c\n    return $a[start : start + $c]",
        "Страница номер n начинается с индекса (n - 1) * размер страницы. Срез списка сам обрезается по "
        "длине, поэтому для несуществующей страницы получится пустой список.",
        "One page of a list, pages numbered from 1.",
        lambda items, page, size: items[(page - 1) * size : page * size],
        ((list(range(1, 8)), 1, 3),),
        lambda rng: (list(range(1, rng.randint(2, 15))), rng.randint(1, 4), rng.randint(1, 5)),
    ),
    Family(
        "slugify",
        ("slugify", "make_slug", "to_slug"),
        (("title", "text", "name"),),
        "Напиши функцию `$name($a)`, которая делает из заголовка адрес страницы: оставляет латинские буквы "
        "и цифры в нижнем регистре, а группы остальных символов заменяет одним дефисом (без дефисов по краям).",
        'import re\n\n\ndef $name($a: str) -> str:\n    return "-".join(re.findall(r"[a-z0-9]+", $a.lower()))',
        'def $name($a: str) -> str:\n    return $a.lower().replace(" ", "-")',
        "Регулярное выражение находит в строке в нижнем регистре все группы латинских букв и цифр, а join "
        "соединяет их дефисами, поэтому лишних дефисов по краям не бывает.",
        "URL slug: lowercase latin words and digits joined by hyphens.",
        _slug,
        (("iPhone 13, 128GB!",),),
        lambda rng: (rng.choice(LATIN_MODELS) + rng.choice(("", "!", ", new", " (used)", " — 2024")),),
    ),
    Family(
        "delivery_cost",
        ("delivery_cost", "shipping_price", "calc_shipping"),
        (("weight_kg", "weight", "kg"), ("base", "base_price", "fixed"), ("per_kg", "rate", "kg_price")),
        "Напиши функцию `$name($a, $b, $c)`: доставка стоит $b рублей плюс $c рублей за каждый начатый "
        "килограмм веса $a. Верни стоимость в рублях.",
        "import math\n\n\ndef $name($a: float, $b: int, $c: int) -> int:\n    return $b + $c * math.ceil($a)",
        "def $name($a: float, $b: int, $c: int) -> int:\n    return $b + $c * int($a)",
        "Каждый начатый килограмм оплачивается целиком, поэтому вес округляется вверх функцией math.ceil; "
        "к результату добавляется фиксированная часть.",
        "Delivery price: a fixed part plus a rate per started kilogram.",
        lambda kg, base, rate: base + rate * math.ceil(kg),
        ((2.5, 300, 50),),
        lambda rng: (rng.randint(1, 200) / 10, rng.randrange(100, 501, 50), rng.randrange(20, 201, 10)),
    ),
    Family(
        "cheapest",
        ("cheapest", "top_cheapest", "lowest_prices"),
        (("prices", "values", "costs"), ("n", "k", "count")),
        "Напиши функцию `$name($a, $b)`, которая возвращает $b самых низких цен из списка $a по возрастанию.",
        "def $name($a: list[int], $b: int) -> list[int]:\n    return sorted($a)[:$b]",
        "def $name($a: list[int], $b: int) -> list[int]:\n    return sorted($a, reverse=True)[:$b]",
        "sorted возвращает новый список по возрастанию, не меняя исходный, а срез [:n] берёт первые n "
        "элементов; если цен меньше n, вернутся все.",
        "The n lowest prices in ascending order.",
        lambda prices, n: sorted(prices)[:n],
        (([300, 100, 200], 2),),
        lambda rng: ([rng.randrange(100, 10001, 100) for _ in range(rng.randint(1, 6))], rng.randint(1, 4)),
    ),
    Family(
        "average_rating",
        ("average_rating", "mean_rating", "avg_score"),
        (("ratings", "scores", "marks"),),
        "Напиши функцию `$name($a)`, которая возвращает среднюю оценку из списка, округлённую функцией round "
        "до одного знака после запятой. Для пустого списка верни 0.0.",
        "def $name($a: list[int]) -> float:\n    if not $a:\n        return 0.0\n    return round(sum($a) / len($a), 1)",
        "def $name($a: list[int]) -> float:\n    return round(sum($a) / len($a), 1)",
        "Пустой список проверяется отдельно, иначе будет деление на ноль. Для остальных среднее — это сумма, "
        "делённая на количество, округлённая до десятых.",
        "Mean rating rounded to one decimal; 0.0 for no ratings.",
        lambda r: round(sum(r) / len(r), 1) if r else 0.0,
        (([],),),
        lambda rng: ([rng.randint(1, 5) for _ in range(rng.randint(1, 7))],),
    ),
    Family(
        "mask_card",
        ("mask_card", "hide_card_number", "masked_card"),
        (("card", "number", "pan"),),
        "Напиши функцию `$name($a)`, которая скрывает номер банковской карты: возвращает строку "
        '"**** **** **** " и четыре последние цифры номера (пробелы и дефисы в номере игнорируются).',
        'def $name($a: str) -> str:\n    digits = "".join(ch for ch in $a if ch.isdigit())\n'
        '    return "**** **** **** " + digits[-4:]',
        'def $name($a: str) -> str:\n    digits = "".join(ch for ch in $a if ch.isdigit())\n'
        '    return "**** **** **** " + digits[:4]',
        "Сначала из номера извлекаются только цифры, затем к маске добавляются четыре последние из них: "
        "срез [-4:] берёт элементы с конца строки.",
        "A card number with all but the last four digits hidden.",
        lambda s: "**** **** **** " + re.sub(r"\D", "", s)[-4:],
        (("1234 5678 9012 3456",),),
        _card,
    ),
    Family(
        "valid_order_id",
        ("is_valid_order_id", "check_order_id", "valid_order_number"),
        (("order_id", "value", "code"),),
        "Напиши функцию `$name($a)`, которая возвращает True, если строка $a — номер заказа ровно из 8 цифр, "
        "и False в остальных случаях.",
        "def $name($a: str) -> bool:\n    return len($a) == 8 and $a.isdigit()",
        "def $name($a: str) -> bool:\n    return $a.isdigit()",
        "Проверяются два условия сразу: длина строки равна восьми и все символы — цифры. Оператор and "
        "вернёт False, если не выполнено хотя бы одно.",
        "True for an order number of exactly eight digits.",
        lambda s: len(s) == 8 and s.isdigit(),
        (("1234567",), ("12345678",)),
        lambda rng: (rng.choice(("", "A")) + str(rng.randint(10 ** rng.randint(5, 8), 10**9)),),
    ),
    Family(
        "merge_sorted",
        ("merge_sorted", "merge_prices", "merge_lists"),
        (("a", "left", "first"), ("b", "right", "second")),
        "Напиши функцию `$name($a, $b)`, которая сливает два отсортированных по возрастанию списка цен в один "
        "отсортированный список за линейное время.",
        "def $name($a: list[int], $b: list[int]) -> list[int]:\n    out: list[int] = []\n    i = j = 0\n"
        "    while i < len($a) and j < len($b):\n        if $a[i] <= $b[j]:\n            out.append($a[i])\n"
        "            i += 1\n        else:\n            out.append($b[j])\n            j += 1\n"
        "    return out + $a[i:] + $b[j:]",
        "def $name($a: list[int], $b: list[int]) -> list[int]:\n    return $a + $b",
        "Два указателя идут по спискам и каждый раз берут меньший из текущих элементов. Когда один список "
        "закончился, хвост другого уже отсортирован и добавляется целиком.",
        "Merge two ascending lists into one ascending list.",
        _merge,
        (([100, 300], [200]),),
        _merge_lists,
    ),
)


def _fields(rng: random.Random, fam: Family) -> dict[str, str]:
    """Function and parameter names; parameters share one naming variant ("left, right", "a, b")."""
    fields = {"name": rng.choice(fam.names)}
    variant = rng.randrange(3)
    for slot, options in zip("abc", fam.params, strict=False):
        fields[slot] = options[variant % len(options)]
    return fields


def _tests(rng: random.Random, fam: Family, name: str) -> tuple[str, tuple]:
    """Assert lines: the family's edge cases, then random ones (no duplicates); and the example case."""
    cases: list[tuple] = list(fam.edge)
    for _ in range(8):
        if len(cases) >= len(fam.edge) + 3:
            break
        case = fam.draw(rng)
        if case not in cases:
            cases.append(case)
    lines = [f"assert {name}({', '.join(repr(a) for a in c)}) == {fam.reference(*c)!r}" for c in cases]
    return "\n".join(lines) + "\n", cases[-1]


def make_code_task(rng: random.Random) -> CodeTask:
    """A random task from a random family."""
    return make_code_task_for(rng, rng.choice(FAMILIES))


def make_code_task_for(rng: random.Random, fam: Family) -> CodeTask:
    """A task of the given family with random names and tests."""
    fields = _fields(rng, fam)
    tests, example = _tests(rng, fam, fields["name"])
    call = f"{fields['name']}({', '.join(repr(a) for a in example)})"
    prompt = (
        Template(fam.prompt).substitute(fields)
        + f"\nПример: `{call}` возвращает `{fam.reference(*example)!r}`."
    )
    return CodeTask(
        family=fam.key,
        entry_point=fields["name"],
        prompt=prompt,
        solution=Template(fam.solution).substitute(fields),
        wrong_solution=Template(fam.wrong).substitute(fields),
        tests=tests,
        explanation=fam.explain,
        doc_en=fam.doc_en,
    )
