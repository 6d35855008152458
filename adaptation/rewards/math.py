"""Math reward: 1 when the completion's final answer equals the reference answer, else 0.

Equivalence is `math_verify` (parse + verify, the checker TRL's accuracy reward uses). What it lacks for
our Russian data is done before it, on the extracted answer only:
- the final answer is the last `Ответ: ...` (or `Answer: ...`) line; without one, a `\\boxed{}` answer
  (left to math_verify); without either, the last number in the text;
- in the answer, after the last `=` (so `2 × 4030 + 350 = 8410 ₽` reads 8410), the first number is taken,
  units and currency around it ignored (`1 250 ₽`, `3,5 кг`, `15%`);
- Russian number formats: a decimal comma (`2312,8`), thousands grouped by spaces, no-break spaces
  (U+00A0), narrow no-break spaces (U+202F) or thin spaces (U+2009), a Unicode minus (U+2212);
  a single comma is a decimal comma (Russian convention: `1,250` is 1.25); only several comma groups
  (`1,250,000`) or a comma group before a decimal point (`1,250.5`) read as English thousands.
A fraction or LaTeX answer goes to math_verify as written. A number is compared by math_verify as `$<number>$`.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from adaptation.rewards.fc import completion_text

MAX_ANSWER_CHARS = 300
_THINK = re.compile(r"<think>.*?(</think>|$)", re.S)
_ANSWER_LINE = re.compile(r"(?:Ответ|Answer)\s*[:：]\s*(.+)", re.I)
_FORMULA = re.compile(r"\\[a-z]+|\d\s*/\s*\d")
_SPACES = " \u00a0\u202f\u2009"  # space, no-break space, narrow no-break space, thin space
_NUMBER = re.compile(
    rf"[-−]?(?:\d{{1,3}}(?:[{_SPACES}]\d{{3}})+|\d{{1,3}}(?:,\d{{3}}){{2,}}|\d{{1,3}}(?:,\d{{3}})+(?=\.\d)|\d+)"
    r"(?:[.,]\d+)?"
)


def normalise_number(text: str) -> str | None:
    """The first number in `text` as a plain decimal string (`'1 250,5 ₽'` -> `'1250.5'`), or None."""
    m = _NUMBER.search(text)
    if m is None:
        return None
    s = m.group(0).replace("−", "-")
    for ch in _SPACES:
        s = s.replace(ch, "")
    if s.count(",") >= 2 or ("," in s and "." in s):  # English thousands: 1,250,000 / 1,250.5
        s = s.replace(",", "")
    return s.replace(",", ".")


def extract_answer(completion: Any) -> str | None:
    """The final answer of a completion as text to verify (a plain number where one is found), or None."""
    text = _THINK.sub("", completion_text(completion))
    lines = _ANSWER_LINE.findall(text)
    if lines:
        return to_verifiable(lines[-1].strip().split("=")[-1])
    if "\\boxed" in text:
        return text[text.rindex("\\boxed") :]
    numbers = _NUMBER.findall(text)
    return normalise_number(numbers[-1]) if numbers else None


def to_verifiable(answer: str) -> str | None:
    """LaTeX or a fraction (`\\frac{1}{2}`, `1/2`) as written; otherwise its first number, normalised."""
    answer = answer.strip().rstrip(".")
    if _FORMULA.search(answer):
        return answer
    return normalise_number(answer) or answer or None


def _as_math(answer: str) -> str:
    if answer.startswith("\\boxed") or "$" in answer:
        return answer
    return f"${answer}$"


def _no_timeout_warning(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("Timeout is disabled")


for _name in ("math_verify.parser", "math_verify.grader"):  # we disable them on purpose, see answers_equal
    logging.getLogger(_name).addFilter(_no_timeout_warning)


def answers_equal(candidate: str, reference: str) -> bool:
    """math_verify equivalence of two answers after the Russian number normalisation."""
    from math_verify import parse, verify

    # math_verify's timeouts use signal.alarm, which only the main thread may set: elsewhere (the difficulty
    # filter's workers) run without them; the inputs are short (answers are cut to MAX_ANSWER_CHARS)
    main = threading.current_thread() is threading.main_thread()
    limits = {} if main else {"parsing_timeout": None}
    ref = to_verifiable(reference) or reference
    gold = parse(_as_math(ref[:MAX_ANSWER_CHARS]), **limits)
    pred = parse(_as_math(candidate[:MAX_ANSWER_CHARS]), **limits)
    if not gold or not pred:
        return False
    return bool(verify(gold, pred, **({} if main else {"timeout_seconds": None})))


def math_score(completion: Any, reference: Any) -> float:
    """1.0 when the completion's final answer equals `reference` (a number or LaTeX), else 0.0."""
    answer = extract_answer(completion)
    if answer is None or reference is None:
        return 0.0
    return 1.0 if answers_equal(answer, str(reference)) else 0.0


def math_reward(completions: list, answer: list, **_: Any) -> list[float]:
    """TRL reward function: the `answer` dataset column holds each row's reference answer."""
    return [math_score(c, a) for c, a in zip(completions, answer, strict=True)]
