"""Support-ticket summaries: the user pastes a client/support dialogue, the assistant summarises it.

Each issue type builds the dialogue and the four summary fields from the same facts; the requested form
(fields or one paragraph) is named in the request.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass

from specstack.demo.corpus import ru, vocab
from specstack.demo.corpus.common import Sample, assistant, digits, person, system, user
from specstack.demo.corpus.listing import Listing, make_listing
from specstack.demo.corpus.vocab import Person

SYSTEM = "Ты — помощник службы поддержки маркетплейса. Резюмируй обращения точно и без домыслов."

REQUESTS: dict[str, tuple[str, ...]] = {
    "fields": (
        "Составь краткое резюме обращения в поддержку по пунктам: имя клиента, суть, детали, решение, статус, следующий шаг.",
        "Кратко резюмируй диалог с поддержкой по пунктам.",
        "Сделай резюме тикета по шаблону: имя клиента, суть обращения, детали, решение, статус, следующий шаг.",
    ),
    "paragraph": (
        "Перескажи этот диалог с поддержкой одним абзацем.",
        "Сделай короткую выжимку обращения одним абзацем.",
        "Опиши суть обращения и его итог в одном абзаце.",
    ),
}

TODAY = dt.date(2025, 6, 2)


@dataclass
class Ticket:
    """A support dialogue and its summary fields."""

    client: Person
    lines: list[tuple[str, str]]
    problem: str
    details: str
    resolution: str
    status: str
    next_step: str


def _v(p: Person, m: str, f: str) -> str:
    """A past-tense verb agreeing with the client."""
    return m if p.gender == "m" else f


def _date(rng: random.Random, lo: int, hi: int) -> str:
    return ru.date_ru(TODAY + dt.timedelta(days=rng.randint(lo, hi)))


def late_delivery(rng: random.Random, c: Person, x: Listing, order: str) -> Ticket:
    """The parcel is late; a new date, sometimes a bonus."""
    promised, new = _date(rng, -6, -2), _date(rng, 1, 5)
    hub = rng.choice(vocab.CITIES)
    lines = [
        (
            "Клиент",
            f"Здравствуйте! {_v(c, 'Заказал', 'Заказала')} {x.name_acc}, заказ №{order}. "
            f"Доставку обещали {promised}, но посылки до сих пор нет.",
        ),
        (
            "Поддержка",
            f"Здравствуйте, {c.name}! Посылка задержалась на сортировочном центре {hub.in_}. "
            f"Новая ожидаемая дата доставки — {new}. Приносим извинения за задержку.",
        ),
    ]
    resolution = f"новая дата доставки — {new}"
    if rng.random() < 0.5:
        bonus = rng.choice((200, 300, 500))
        lines += [
            ("Клиент", "А можно получить какую-то компенсацию?"),
            (
                "Поддержка",
                f"Да, мы начислили вам {bonus} бонусных рублей, их можно потратить на следующий заказ.",
            ),
        ]
        resolution += f"; в качестве компенсации начислено {bonus} бонусных рублей"
    lines.append(("Клиент", "Хорошо, спасибо, буду ждать."))
    return Ticket(c, lines, f"задержка доставки заказа №{order} ({x.name})",
                  f"доставку обещали {promised}, посылка задержалась на сортировочном центре {hub.in_}",
                  resolution, "решено, клиент ждёт доставку",
                  f"проконтролировать, что посылка придёт {new}")  # fmt: skip


def wrong_color(rng: random.Random, c: Person, x: Listing, order: str) -> Ticket:
    """A parcel in the wrong colour: exchange or refund."""
    want, got = rng.sample(vocab.COLORS, 2)
    days = rng.choice((3, 5, 7))
    pickup = _date(rng, 1, 4)
    lines = [
        ("Клиент", f"Добрый день. Пришёл заказ №{order} — {x.name}, но цвет не тот: "
                   f"{_v(c, 'заказывал', 'заказывала')} {want.m}, а прислали {got.m}."),
        ("Поддержка", f"Здравствуйте, {c.name}! Извините за ошибку. Можем обменять товар или вернуть деньги. "
                      "Как вам удобнее?"),
    ]  # fmt: skip
    if rng.random() < 0.5:
        lines += [
            ("Клиент", "Лучше обменять."),
            ("Поддержка", f"Оформили обмен: курьер заберёт товар {pickup} и сразу привезёт нужный цвет."),
        ]
        resolution, status = f"оформлен обмен, курьер заберёт товар {pickup}", "в работе, ожидается обмен"
    else:
        lines += [
            ("Клиент", "Верните, пожалуйста, деньги."),
            ("Поддержка", f"Оформили возврат {ru.rub(x.price)}. Курьер заберёт товар {pickup}, деньги придут "
                          f"в течение {ru.count(days, ru.WORKDAYS_GEN)}."),
        ]  # fmt: skip
        resolution = (
            f"оформлен возврат {ru.rub(x.price)}, курьер заберёт товар {pickup}, "
            f"деньги придут в течение {ru.count(days, ru.WORKDAYS_GEN)}"
        )
        status = "в работе, ожидается возврат"
    return Ticket(c, lines, f"прислали товар не того цвета (заказ №{order}, {x.name})",
                  f"заказан {want.m} цвет, доставлен {got.m}", resolution, status,
                  f"проверить, что курьер заберёт товар {pickup}")  # fmt: skip


DAMAGE = (
    "трещина на корпусе",
    "вмятина сбоку",
    "разбита упаковка и поцарапан корпус",
    "сломано крепление",
    "глубокая царапина на лицевой стороне",
)


def damaged(rng: random.Random, c: Person, x: Listing, order: str) -> Ticket:
    """The item arrived damaged: photos, then a refund."""
    damage = rng.choice(DAMAGE)
    days = rng.choice((3, 5, 10))
    lines = [
        ("Клиент", f"Здравствуйте. {_v(c, 'Получил', 'Получила')} заказ №{order} — {x.name}, а там {damage}."),
        ("Поддержка", f"Здравствуйте, {c.name}! Очень жаль. Пришлите, пожалуйста, фото повреждений."),
        ("Клиент", f"{_v(c, 'Отправил', 'Отправила')} фото в этот чат."),
        ("Поддержка", f"Спасибо, фото получили. Оформили возврат {ru.rub(x.price)}: деньги придут на карту "
                      f"в течение {ru.count(days, ru.WORKDAYS_GEN)}. Товар можно сдать в любой пункт выдачи."),
    ]  # fmt: skip
    return Ticket(c, lines, f"товар из заказа №{order} ({x.name}) пришёл повреждённым",
                  f"{damage}; фото повреждений получены",
                  f"оформлен возврат {ru.rub(x.price)} в течение {ru.count(days, ru.WORKDAYS_GEN)}, "
                  "товар нужно сдать в пункт выдачи", "решено",
                  "проверить зачисление денег после сдачи товара")  # fmt: skip


def refund_missing(rng: random.Random, c: Person, x: Listing, order: str) -> Ticket:
    """The money for a returned item has not arrived yet."""
    returned, approved, later = _date(rng, -14, -9), _date(rng, -8, -5), _date(rng, 3, 6)
    days = rng.choice((5, 7, 10))
    lines = [
        ("Клиент", f"Добрый день! {_v(c, 'Вернул', 'Вернула')} {x.name_acc} по заказу №{order} ещё {returned}, "
                   f"а деньги — {ru.rub(x.price)} — так и не пришли."),
        ("Поддержка", f"Здравствуйте, {c.name}! Мы проверили заказ: возврат одобрен {approved}, деньги отправлены "
                      f"на вашу карту. Банк зачисляет их в течение {ru.count(days, ru.WORKDAYS_GEN)}."),
        ("Клиент", "А если не придут?"),
        ("Поддержка", f"Тогда напишите нам после {later}, и мы запросим у банка номер транзакции."),
    ]  # fmt: skip
    return Ticket(c, lines, f"не поступили деньги за возвращённый товар (заказ №{order}, {ru.rub(x.price)})",
                  f"товар возвращён {returned}, возврат одобрен {approved}",
                  f"деньги отправлены на карту, зачисление до {ru.count(days, ru.WORKDAYS_GEN)}; "
                  f"если не придут, написать после {later}", "ожидает зачисления",
                  f"после {later} запросить у банка номер транзакции, если денег не будет")  # fmt: skip


BLOCK_REASONS = (
    "входа с нового устройства",
    "множества одинаковых объявлений",
    "подозрительной смены пароля",
)


def account_blocked(rng: random.Random, c: Person, x: Listing, order: str) -> Ticket:
    """An automatic block lifted after a phone confirmation."""
    reason = rng.choice(BLOCK_REASONS)
    lines = [
        ("Клиент", f"Здравствуйте, мой аккаунт заблокировали, не могу разместить объявление про {x.name_acc}."),
        ("Поддержка", f"Здравствуйте, {c.name}! Аккаунт заблокирован автоматически из-за {reason}. Чтобы снять "
                      "блокировку, подтвердите номер телефона по коду из СМС."),
        ("Клиент", f"{_v(c, 'Подтвердил', 'Подтвердила')}, код пришёл."),
        ("Поддержка", "Спасибо! Блокировка снята, можно снова размещать объявления."),
    ]  # fmt: skip
    return Ticket(c, lines, "аккаунт заблокирован, нельзя разместить объявление",
                  f"блокировка автоматическая из-за {reason}",
                  "номер телефона подтверждён, блокировка снята", "решено",
                  "действий не требуется")  # fmt: skip


PAY_ERRORS = ("Операция отклонена банком", "Ошибка проверки 3-D Secure", "Превышен лимит по карте")
PAY_WAYS = ("через СБП", "другой картой", "через кошелёк маркетплейса")


def payment_failed(rng: random.Random, c: Person, x: Listing, order: str) -> Ticket:
    """A card payment fails; another way works."""
    error, way = rng.choice(PAY_ERRORS), rng.choice(PAY_WAYS)
    lines = [
        ("Клиент", f"Добрый вечер! Не проходит оплата заказа №{order} на {ru.rub(x.price)}, пишет «{error}»."),
        ("Поддержка", f"Здравствуйте, {c.name}! Платёж отклонила сторона банка, деньги не списаны. "
                      f"Попробуйте оплатить {way}."),
        ("Клиент", f"{ru.cap(way)} всё прошло, спасибо!"),
    ]  # fmt: skip
    return Ticket(c, lines, f"не проходила оплата заказа №{order} на {ru.rub(x.price)}",
                  f"ошибка «{error}», деньги не списаны", f"заказ оплачен {way}", "решено",
                  "действий не требуется")  # fmt: skip


def fraud(rng: random.Random, c: Person, x: Listing, order: str) -> Ticket:
    """A seller asks for a prepayment off the site."""
    item = digits(rng, 10)
    lines = [
        ("Клиент", f"Здравствуйте. Продавец по объявлению {item} ({x.name} за {ru.rub(x.price)}) просит "
                   "перевести предоплату на карту и продолжить общение в мессенджере. Это нормально?"),
        ("Поддержка", f"Здравствуйте, {c.name}! Спасибо, что сообщили. Не переводите деньги вне сайта. "
                      f"Объявление {item} заблокировано, продавца проверяет служба безопасности."),
        ("Клиент", "Хорошо, спасибо, что быстро отреагировали."),
    ]  # fmt: skip
    return Ticket(c, lines, f"подозрение на мошенничество в объявлении {item}",
                  "продавец просил предоплату на карту и общение вне сайта",
                  "объявление заблокировано, продавец передан на проверку в службу безопасности; клиенту "
                  "рекомендовано не переводить деньги вне сайта", "передано в службу безопасности",
                  "сообщить клиенту решение службы безопасности")  # fmt: skip


ISSUES: tuple[Callable[[random.Random, Person, Listing, str], Ticket], ...] = (
    late_delivery,
    wrong_color,
    damaged,
    refund_missing,
    account_blocked,
    payment_failed,
    fraud,
)


def summary_fields(t: Ticket) -> str:
    """The summary as four labelled lines."""
    return (
        f"Имя клиента: {t.client.name}.\nСуть обращения: {t.problem}.\nДетали: {t.details}.\n"
        f"Решение: {t.resolution}.\nСтатус: {t.status}.\nСледующий шаг: {t.next_step}."
    )


def summary_paragraph(t: Ticket) -> str:
    """The summary as one paragraph, agreeing with the client's gender."""
    who = "Клиент обратился" if t.client.gender == "m" else "Клиентка обратилась"
    return (
        f"{who} в поддержку: {t.problem}. {ru.cap(t.details)}. "
        f"Итог: {t.resolution}. Статус обращения — {t.status}. Следующий шаг: {t.next_step}."
    )


def make_support(rng: random.Random) -> Sample:
    """A ticket-summary conversation; the document is the dialogue followed by its summary."""
    client = person(rng)
    ticket = rng.choice(ISSUES)(rng, client, make_listing(rng), digits(rng, 8))
    form = rng.choice(tuple(REQUESTS))
    dialogue = "\n".join(f"{who}: {text}" for who, text in ticket.lines)
    summary = summary_fields(ticket) if form == "fields" else summary_paragraph(ticket)
    messages = [
        system(SYSTEM),
        user(f"{rng.choice(REQUESTS[form])}\n\n{dialogue}"),
        assistant(summary),
    ]
    return Sample("support", messages, document=f"{dialogue}\n\nРезюме:\n{summary}")
