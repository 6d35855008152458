"""Tool specs (OpenAI function definitions) and personas: loading, validation, and checking one call against
its tool's JSON schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.validators import validator_for

from specstack.errors import SpecstackError
from specstack.io import read_jsonl

# The OpenAI envelope of a tool; `parameters` is then checked against its own JSON Schema meta-schema.
ENVELOPE = {
    "type": "object",
    "required": ["type", "function"],
    "additionalProperties": False,
    "properties": {
        "type": {"const": "function"},
        "function": {
            "type": "object",
            "required": ["name", "parameters"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                "description": {"type": "string"},
                "parameters": {
                    "type": "object",
                    "required": ["type"],
                    "properties": {"type": {"const": "object"}},
                },
                "strict": {"type": "boolean"},
            },
        },
    },
}

PERSONAS = (
    "Покупатель из Казани: ищет недорогой б/у велосипед, пишет коротко, иногда с опечатками.",
    "Продавец мебели из Москвы: выставляет диваны и шкафы, хочет продать быстрее и не переплачивать за доставку.",
    "Пенсионерка из Самары: впервые заказывает с доставкой, переспрашивает и просит объяснять попроще.",
    "Студент из Новосибирска: перепродаёт электронику, торгуется и ждёт точных цифр.",
    "Покупательница из Екатеринбурга: недовольна задержкой посылки, настроена отменить заказ.",
    "Владелец небольшого магазина одежды из Краснодара: ведёт десятки объявлений, ценит время.",
    "Молодой отец из Перми: выбирает детскую коляску, сравнивает цены и сроки доставки.",
    "Сотрудник поддержки маркетплейса: разбирает обращение клиента и проверяет его заказ.",
)


def _problem(errors: Any, prefix: str = "") -> str | None:
    """The most relevant of `errors` as `path: message`, or None."""
    error: ValidationError | None = best_match(errors)
    if error is None:
        return None
    where = prefix + ".".join(str(p) for p in error.absolute_path)
    return f"{where.rstrip('.')}: {error.message}" if where else error.message


def schema_validator(schema: dict) -> Any:
    """A validator of `schema` (the draft its `$schema` names, else 2020-12)."""
    return validator_for(schema, default=Draft202012Validator)(schema)


def tool_error(tool: Any) -> str | None:
    """Why `tool` is not a valid OpenAI tool definition (envelope, then the parameters' meta-schema), or None."""
    problem = _problem(Draft202012Validator(ENVELOPE).iter_errors(tool))
    if problem:
        return problem
    parameters = tool["function"]["parameters"]
    meta = validator_for(parameters, default=Draft202012Validator)
    return _problem(meta(meta.META_SCHEMA).iter_errors(parameters), "function.parameters.")


def tool_name(tool: dict) -> str:
    """The function name of a (valid) tool definition."""
    return tool["function"]["name"]


def load_tools(path: str | Path) -> list[dict]:
    """Tool definitions from JSON (a list, or `{"tools": [...]}`) or JSONL (one per line), all validated;
    a bad one is a one-line SpecstackError naming the tool."""
    path = Path(path)
    if path.suffix == ".jsonl":
        tools: Any = list(read_jsonl(path))
    else:
        if not path.is_file():
            raise SpecstackError(f"{path}: no such file (tool specs)")
        try:
            tools = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise SpecstackError(f"{path}: invalid JSON ({e.msg})") from None
        if isinstance(tools, dict):
            tools = tools.get("tools")
    if not isinstance(tools, list) or not tools:
        raise SpecstackError(f"{path}: expected a non-empty list of OpenAI tool definitions")
    seen: set[str] = set()
    for i, tool in enumerate(tools, 1):
        function = tool.get("function") if isinstance(tool, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        label = name if isinstance(name, str) and name else f"#{i}"
        if problem := tool_error(tool):
            raise SpecstackError(f"{path}: tool {label}: {problem}")
        if name in seen:
            raise SpecstackError(f"{path}: tool {label}: defined twice")
        seen.add(name)
    return tools


def call_error(call: dict, tools: dict[str, dict]) -> str | None:
    """Why a `{"name", "arguments": {...}}` call does not fit `tools` (by name), or None."""
    name = call.get("name")
    if name not in tools:
        return f"unknown tool {name!r} (have {', '.join(tools)})"
    arguments = call.get("arguments")
    if not isinstance(arguments, dict):
        return f"{name}: arguments must be a JSON object"
    problem = _problem(schema_validator(tools[name]["function"]["parameters"]).iter_errors(arguments))
    return f"{name}: {problem}" if problem else None


def load_personas(path: str | Path | None) -> list[str]:
    """Personas from a text file (one per non-empty line), or the built-in ones."""
    if path is None:
        return list(PERSONAS)
    path = Path(path)
    if not path.is_file():
        raise SpecstackError(f"{path}: no such file (personas)")
    personas = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not personas:
        raise SpecstackError(f"{path}: no personas (one per line)")
    return personas
