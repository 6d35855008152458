"""OpenAI-style errors: `{"error": {"message", "type", "param", "code"}}` with the matching HTTP status."""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import Response

# HTTP status -> OpenAI error type, for errors the gateway makes itself.
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    499: "client_closed_request",
    500: "internal_error",
    502: "upstream_error",
    503: "service_unavailable",
    504: "timeout",
}


class GatewayError(HTTPException):
    """An error answered to the client as OpenAI error JSON; `headers` go along (e.g. Retry-After).

    It is a Starlette HTTPException so that FastAPI passes it on unchanged when it is raised while the
    request body is being read (the body size limit)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, message, headers)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.type = type or ERROR_TYPES.get(status, "api_error")
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)

    def response(self) -> Response:
        return Response(json.dumps(self.body()), self.status, self.headers, media_type="application/json")


def error_body(message: str, type: str, param: str | None = None, code: str | int | None = None) -> dict:
    """The OpenAI error object."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def normalize_upstream_error(status: int, content: bytes) -> bytes:
    """An engine's error body in OpenAI form: kept as is when it already is, wrapped when it is not."""
    try:
        data = json.loads(content)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        err = data["error"]
        if all(k in err for k in ("message", "type", "param", "code")):
            return content
        err.setdefault("type", ERROR_TYPES.get(status, "api_error"))
        err.setdefault("param", None)
        err.setdefault("code", None)
        err.setdefault("message", "")
        return json.dumps(data).encode()
    if (
        isinstance(data, dict) and "message" in data
    ):  # older vLLM: {"object": "error", "message", "type", ...}
        body = error_body(
            str(data["message"]),
            str(data.get("type") or ERROR_TYPES.get(status, "api_error")),
            data.get("param"),
            data.get("code"),
        )
        return json.dumps(body).encode()
    text = content.decode("utf-8", "replace").strip()[:500] or f"upstream answered HTTP {status}"
    return json.dumps(error_body(text, ERROR_TYPES.get(status, "upstream_error"), None, None)).encode()
