"""Russian surface helpers: plural forms, gender agreement, numbers, money and dates."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

GENDERS = ("m", "f", "n", "p")  # masculine, feminine, neuter, plural-only

MONTHS_GEN = (
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)


def plural(n: int, forms: tuple[str, str, str]) -> str:
    """The form of a noun after the number n: (1 товар, 2 товара, 5 товаров)."""
    n = abs(n) % 100
    if 11 <= n <= 19:
        return forms[2]
    n %= 10
    if n == 1:
        return forms[0]
    if 2 <= n <= 4:
        return forms[1]
    return forms[2]


def count(n: int, forms: tuple[str, str, str]) -> str:
    """`n` followed by the agreeing noun form: count(3, DAYS) == '3 дня'."""
    return f"{n} {plural(n, forms)}"


# nominative/accusative after a number: 1 отзыв, 2 отзыва, 5 отзывов
REVIEWS = ("отзыв", "отзыва", "отзывов")
ADS = ("объявление", "объявления", "объявлений")
MONTHS = ("месяц", "месяца", "месяцев")
# genitive after "в течение", "до", "от": до 1 рабочего дня, до 3 рабочих дней
WORKDAYS_GEN = ("рабочего дня", "рабочих дней", "рабочих дней")
DAYS_GEN = ("дня", "дней", "дней")
HOURS_GEN = ("часа", "часов", "часов")


def agree(gender: str, m: str, f: str, n: str, p: str) -> str:
    """The form agreeing with `gender` (one of GENDERS): agree("f", "продан", "продана", ...)."""
    return {"m": m, "f": f, "n": n, "p": p}[gender]


def cap(text: str) -> str:
    """Upper-case the first letter only."""
    return text[:1].upper() + text[1:]


def group_thousands(n: int) -> str:
    """12500 -> '12 500' (Russian typography groups numbers of five digits and more)."""
    s = str(abs(n))
    if len(s) >= 5:
        parts = []
        while s:
            parts.append(s[-3:])
            s = s[:-3]
        s = " ".join(reversed(parts))
    return ("-" if n < 0 else "") + s


def rub(n: int) -> str:
    """An amount of roubles as written in an ad: '12 500 ₽'."""
    return f"{group_thousands(n)} ₽"


def decimal(x: Fraction | int, max_places: int = 2) -> str:
    """An exact decimal with a comma: Fraction(5, 2) -> '2,5'; raises ValueError if not exact."""
    x = Fraction(x)
    for places in range(max_places + 1):
        scaled = x * 10**places
        if scaled.denominator == 1:
            digits = str(abs(scaled.numerator)).rjust(places + 1, "0")
            sign = "-" if x < 0 else ""
            if places == 0:
                return sign + digits
            return f"{sign}{digits[:-places]},{digits[-places:]}"
    raise ValueError(f"{x} has no exact decimal form with {max_places} places")


def date_ru(d: dt.date) -> str:
    """'14 марта' (the year is left out: dates in the demo are close to 'today')."""
    return f"{d.day} {MONTHS_GEN[d.month - 1]}"


def iso_to_ru(iso: str) -> str:
    """'2025-03-14' -> '14 марта'."""
    return date_ru(dt.date.fromisoformat(iso))


def decap(text: str) -> str:
    """Lower-case a Cyrillic first letter for use mid-sentence ('Память' -> 'память'; 'GPS', 'Smart TV' stay)."""
    first = text[:1]
    if "А" <= first <= "Я" or first == "Ё":
        if len(text) > 1 and text[1].isupper():
            return text
        return first.lower() + text[1:]
    return text


def fixed(x: Fraction | int, places: int) -> str:
    """Exactly `places` decimals with a comma: fixed(4, 1) == '4,0'; raises ValueError if not exact."""
    x = Fraction(x)
    scaled = x * 10**places
    if scaled.denominator != 1:
        raise ValueError(f"{x} needs more than {places} decimal places")
    digits = str(abs(scaled.numerator)).rjust(places + 1, "0")
    sign = "-" if x < 0 else ""
    return sign + (f"{digits[:-places]},{digits[-places:]}" if places else digits)


def v(word: str) -> str:
    """The preposition 'в' with its word: 'во' before в/ф + consonant ('во Владивостоке', 'в Волгограде')."""
    vowels = "аеёиоуыэюя"
    if len(word) > 1 and word[0].lower() in "вф" and word[1].lower() not in vowels:
        return f"во {word}"
    return f"в {word}"
