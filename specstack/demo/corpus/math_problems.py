"""Russian arithmetic word problems of the marketplace (prices, discounts, delivery, shares).

Every problem keeps its structured data (`kind`, `params`, integers only) next to the text; answers are
computed exactly with Fraction and written with a decimal comma, at most two places. The solution ends
with the line `Ответ: <число>`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from specstack.demo.corpus import ru, vocab
from specstack.demo.corpus.common import Sample, assistant, person, system, user

SYSTEM = "Ты решаешь задачи по математике. Пиши решение по шагам, а в конце — строку «Ответ: число»."


# the first line of every solution, by kind
PLANS: dict[str, str] = {
    "discount": "Сначала найдём размер скидки в рублях, затем вычтем его из цены.",
    "bulk": "Сначала найдём стоимость всех товаров, затем прибавим доставку.",
    "price_change": "Найдём, на сколько рублей изменилась цена, и выразим это в процентах от старой цены.",
    "split": "Сложим стоимость покупки и доставки и разделим сумму поровну.",
    "by_weight": "Каждый начатый килограмм оплачивается целиком, поэтому округлим вес вверх до целых килограммов.",
    "commission": "Найдём комиссию в рублях и вычтем её из цены продажи.",
    "promo": "Сначала применим процентную скидку, потом вычтем промокод.",
    "budget": "Разделим сумму на цену одной вещи и возьмём целую часть.",
    "average": "Сложим все цены и разделим сумму на количество объявлений.",
    "installment": "Найдём полную сумму с учётом переплаты и разделим её на число месяцев.",
}


@dataclass
class MathProblem:
    """A problem with its structured data and exact answer."""

    kind: str
    params: dict[str, int]
    question: str
    steps: list[str]
    answer: Fraction

    @property
    def answer_text(self) -> str:
        return num(self.answer)

    @property
    def solution(self) -> str:
        return "\n".join([PLANS[self.kind], *self.steps, f"Ответ: {self.answer_text}"])

    def sample(self) -> Sample:
        messages = [system(SYSTEM), user(self.question), assistant(self.solution)]
        return Sample("math", messages, document=f"Задача. {self.question}\nРешение.\n{self.solution}")

    def rl_row(self) -> dict:
        return {
            "prompt": [system(SYSTEM), user(self.question)],
            "domain": "math",
            "answer": self.answer_text,
            "data": {"kind": self.kind, "params": self.params},
        }


def num(x: Fraction | int) -> str:
    """An exact number with a decimal comma and no thousands separators: 3569,5."""
    return ru.decimal(Fraction(x), 2)


def exact(x: Fraction) -> bool:
    """True when x has at most two decimal places."""
    return (x * 100).denominator == 1


def costs(p: vocab.Product) -> str:
    """'стоит' or, for plural-only nouns, 'стоят'."""
    return "стоят" if p.gender == "p" else "стоит"


def _price(rng: random.Random, p: vocab.Product, step: int) -> int:
    """A price within the product's usual range, a multiple of `step`."""
    lo = max(step, p.price[0] // step * step)
    return rng.randrange(lo, p.price[1] + 1, step)


class Retry(Exception):
    """The drawn numbers give an answer with more than two decimals; draw again."""


def discount(rng: random.Random) -> MathProblem:
    p = rng.choice(vocab.PRODUCTS)
    price, pct = _price(rng, p, 10), rng.choice((5, 10, 15, 20, 25, 30, 35, 40, 50))
    off = Fraction(price * pct, 100)
    final = price - off
    q = rng.choice(
        (
            f"{ru.cap(p.nom)} {costs(p)} {price} ₽. Продавец делает скидку {pct}%. Сколько рублей нужно заплатить?",
            f"На {p.acc} за {price} ₽ действует скидка {pct}%. Какой будет цена со скидкой в рублях?",
        )
    )
    steps = [
        f"Скидка: {price} * {pct} / 100 = {num(off)} ₽.",
        f"Цена со скидкой: {price} - {num(off)} = {num(final)} ₽.",
    ]
    return MathProblem("discount", {"price": price, "percent": pct}, q, steps, final)


def bulk(rng: random.Random) -> MathProblem:
    p, who = rng.choice(vocab.PRODUCTS), person(rng)
    n, each, ship = rng.randint(2, 12), _price(rng, p, 10), rng.randrange(0, 1001, 50)
    goods = n * each
    verb = "заказал" if who.gender == "m" else "заказала"
    paid = "оплатил" if who.gender == "m" else "оплатила"
    q = (
        f"{who.name} {verb} {p.acc} {rng.choice(p.models)} в количестве {n} шт. по {each} ₽ за штуку "
        f"и {paid} доставку за {ship} ₽. Сколько рублей составила покупка вместе с доставкой?"
    )
    steps = [
        f"Стоимость товаров: {n} * {each} = {goods} ₽.",
        f"С доставкой: {goods} + {ship} = {goods + ship} ₽.",
    ]
    return MathProblem("bulk", {"count": n, "each": each, "shipping": ship}, q, steps, Fraction(goods + ship))


def price_change(rng: random.Random) -> MathProblem:
    p = rng.choice(vocab.PRODUCTS)
    old, pct = _price(rng, p, 100), rng.choice((2, 4, 5, 8, 10, 12, 15, 20, 25, 30, 40, 50))
    up = rng.random() < 0.5
    new = old * (100 + pct) // 100 if up else old * (100 - pct) // 100
    cost = ru.agree(p.gender, "стоил", "стоила", "стоило", "стоили")
    moved = (
        ru.agree(p.gender, "подорожал", "подорожала", "подорожало", "подорожали")
        if up
        else ru.agree(p.gender, "подешевел", "подешевела", "подешевело", "подешевели")
    )
    change = "выросла" if up else "снизилась"
    q = f"Сначала {p.nom} {cost} {old} ₽, а потом {moved} до {new} ₽. На сколько процентов {change} цена?"
    diff = abs(new - old)
    steps = [
        f"Изменение цены: {max(new, old)} - {min(new, old)} = {diff} ₽.",
        f"В процентах: {diff} / {old} * 100 = {num(Fraction(diff * 100, old))}%.",
    ]
    return MathProblem("price_change", {"old": old, "new": new}, q, steps, Fraction(diff * 100, old))


def split(rng: random.Random) -> MathProblem:
    p = rng.choice(vocab.PRODUCTS)
    k, total, ship = rng.randint(2, 5), _price(rng, p, 10), rng.randrange(0, 1001, 10)
    share = Fraction(total + ship, k)
    if not exact(share):
        raise Retry
    people = ru.count(k, ("сосед", "соседа", "соседей"))
    q = (
        f"{people} решили вместе купить {p.acc} за {total} ₽ и поровну оплатить доставку за {ship} ₽. "
        "Сколько рублей заплатит каждый?"
    )
    steps = [
        f"Всего: {total} + {ship} = {total + ship} ₽.",
        f"На одного: {total + ship} / {k} = {num(share)} ₽.",
    ]
    return MathProblem("split", {"total": total, "shipping": ship, "people": k}, q, steps, share)


def by_weight(rng: random.Random) -> MathProblem:
    base, per_kg, grams = (
        rng.randrange(100, 501, 50),
        rng.randrange(20, 201, 10),
        rng.randrange(200, 30001, 100),
    )
    kg = math.ceil(Fraction(grams, 1000))
    weight = f"{grams} г" if rng.random() < 0.5 else f"{num(Fraction(grams, 1000))} кг"
    q = (
        f"Доставка стоит {base} ₽ плюс {per_kg} ₽ за каждый начатый килограмм. "
        f"Сколько рублей стоит отправить посылку весом {weight}?"
    )
    cost = base + per_kg * kg
    steps = [
        f"Вес посылки {num(Fraction(grams, 1000))} кг, начатых килограммов — {kg}.",
        f"Стоимость: {base} + {per_kg} * {kg} = {cost} ₽.",
    ]
    return MathProblem(
        "by_weight", {"base": base, "per_kg": per_kg, "grams": grams}, q, steps, Fraction(cost)
    )


def commission(rng: random.Random) -> MathProblem:
    p, who = rng.choice(vocab.PRODUCTS), person(rng)
    price, pct = _price(rng, p, 10), rng.choice((3, 5, 7, 8, 10, 12, 15))
    fee = Fraction(price * pct, 100)
    sold = "продал" if who.gender == "m" else "продала"
    q = (
        f"{who.name} {sold} {p.acc} за {price} ₽. Комиссия площадки — {pct}% от цены. "
        "Сколько рублей получит продавец?"
    )
    steps = [
        f"Комиссия: {price} * {pct} / 100 = {num(fee)} ₽.",
        f"Продавец получит: {price} - {num(fee)} = {num(price - fee)} ₽.",
    ]
    return MathProblem("commission", {"price": price, "percent": pct}, q, steps, price - fee)


def promo(rng: random.Random) -> MathProblem:
    p = rng.choice(vocab.PRODUCTS)
    price, pct, code = _price(rng, p, 100), rng.choice((5, 10, 15, 20, 25)), rng.choice((100, 200, 300, 500))
    after = Fraction(price * (100 - pct), 100)
    q = (
        f"{ru.cap(p.nom)} {costs(p)} {price} ₽. Сначала действует скидка {pct}%, затем промокод на {code} ₽. "
        "Сколько рублей нужно заплатить?"
    )
    steps = [
        f"После скидки: {price} * (100 - {pct}) / 100 = {num(after)} ₽.",
        f"После промокода: {num(after)} - {code} = {num(after - code)} ₽.",
    ]
    return MathProblem("promo", {"price": price, "percent": pct, "promo": code}, q, steps, after - code)


GOODS = (
    ("Один чехол", "чехлов"),
    ("Одна футболка", "футболок"),
    ("Одна кружка", "кружек"),
    ("Один блокнот", "блокнотов"),
    ("Один набор фломастеров", "наборов фломастеров"),
    ("Одна настольная лампа", "настольных ламп"),
)


def budget(rng: random.Random) -> MathProblem:
    one, many = rng.choice(GOODS)
    each = rng.randrange(150, 3001, 10)
    money = each * rng.randint(2, 30) + rng.randrange(0, each, 10)
    q = f"На покупку подарков выделено {money} ₽. {one} стоит {each} ₽. Сколько {many} можно купить?"
    steps = [f"{money} / {each} = {money // each} (остаток {money % each} ₽)."]
    return MathProblem("budget", {"money": money, "each": each}, q, steps, Fraction(money // each))


def average(rng: random.Random) -> MathProblem:
    p = rng.choice(vocab.PRODUCTS)
    n = rng.randint(3, 6)
    prices = [rng.randrange(p.price[0], p.price[1] + 1, 100) for _ in range(n)]
    avg = Fraction(sum(prices), n)
    if not exact(avg):
        raise Retry
    listed = ", ".join(str(x) for x in prices)
    q = (
        f"Нашлось {ru.count(n, ru.ADS)} о продаже товара «{ru.cap(p.nom)}» с ценами {listed} ₽. "
        "Какая средняя цена в рублях?"
    )
    steps = [
        f"Сумма цен: {' + '.join(str(x) for x in prices)} = {sum(prices)} ₽.",
        f"Средняя цена: {sum(prices)} / {n} = {num(avg)} ₽.",
    ]
    return MathProblem("average", {f"price{i + 1}": x for i, x in enumerate(prices)}, q, steps, avg)


def installment(rng: random.Random) -> MathProblem:
    p = rng.choice(vocab.PRODUCTS)
    price, months, over = _price(rng, p, 100), rng.choice((3, 4, 6, 10, 12)), rng.choice((0, 5, 10, 15, 20))
    total = Fraction(price * (100 + over), 100)
    monthly = total / months
    if not exact(monthly):
        raise Retry
    tail = f" с переплатой {over}%" if over else " без переплаты"
    q = (
        f"{ru.cap(p.nom)} {costs(p)} {price} ₽. {ru.agree(p.gender, 'Его', 'Её', 'Его', 'Их')} можно купить в рассрочку на {ru.count(months, ru.MONTHS)}"
        f"{tail}. Какой будет ежемесячный платёж в рублях?"
    )
    steps = [
        f"Сумма с переплатой: {price} * (100 + {over}) / 100 = {num(total)} ₽.",
        f"В месяц: {num(total)} / {months} = {num(monthly)} ₽.",
    ]
    return MathProblem("installment", {"price": price, "months": months, "percent": over}, q, steps, monthly)


KINDS: dict[str, Callable[[random.Random], MathProblem]] = {
    "discount": discount,
    "bulk": bulk,
    "price_change": price_change,
    "split": split,
    "by_weight": by_weight,
    "commission": commission,
    "promo": promo,
    "budget": budget,
    "average": average,
    "installment": installment,
}


def make_math_problem(rng: random.Random) -> MathProblem:
    """A random problem; numbers are redrawn until the answer is exact to two decimals."""
    make = KINDS[rng.choice(tuple(KINDS))]
    for _ in range(100):
        try:
            return make(rng)
        except Retry:
            continue
    raise RuntimeError("could not draw an exact math problem")
