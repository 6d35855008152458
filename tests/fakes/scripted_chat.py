"""TEST DOUBLE: a scripted OpenAI-compatible chat endpoint whose answers a test function writes, NOT a model.

Reuses the scripted fake engine (`ScriptedUpstream`: loopback uvicorn in a thread, request recording, status
scripting) and only replaces the answer: `reply(body) -> str | dict | Response` gives the assistant message's
content (a string), the whole message (a dict, e.g. with `tool_calls`) or a response sent as is (an error, a
body that is not a completion) for each request body. Used to stand in for the policy endpoint of the
difficulty filter and the sampling/judge endpoints of the preference builder.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.fakes.scripted_upstream import Received, ScriptedUpstream


@dataclass
class ScriptedChat(ScriptedUpstream):
    """`with ScriptedChat(reply=fn) as up: up.url` serves /v1/chat/completions answering `fn(body)`."""

    reply: Callable[[dict], str | dict | Response] = field(default=lambda body: "")

    async def _generate(self, request: Request) -> Response:
        body = json.loads(await request.body())
        if self.record:
            self.received.append(Received(request.url.path, body, dict(request.headers)))
        if self.script.status is not None:
            err = {"error": {"message": f"scripted {self.script.status}", "type": "scripted", "param": None,
                             "code": self.script.status}}  # fmt: skip
            return JSONResponse(err, self.script.status)
        answer = self.reply(body)
        if isinstance(answer, Response):
            return answer
        message = answer if isinstance(answer, dict) else {"role": "assistant", "content": answer}
        message.setdefault("role", "assistant")
        out = {
            "id": "chatcmpl-scripted",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        return JSONResponse(out)
