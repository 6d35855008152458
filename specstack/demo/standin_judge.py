"""STAND-IN JUDGE, NOT A MODEL: the demo's judge endpoint for DPO pair building, because no judge model runs
on this machine (production points `preferences.build.judge` at a large model's endpoint).

It serves OpenAI's /v1/chat/completions on loopback, reads the request `adaptation.preferences` writes
(the conversation and the numbered answers), and ranks the answers by their similarity to the reference
answer the demo corpus holds for that conversation (difflib's ratio over characters): the most similar is
"best", the least similar "worst". The verdict is the JSON object the builder parses. A conversation it has
no reference for gets an answer that is not a verdict, which the builder counts as `bad_verdict`.
"""

from __future__ import annotations

import difflib
import json
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adaptation.preferences import conversation_text, parse_judge_request
from specstack.net import LoopbackServer


def similarity(answer: str, reference: str) -> float:
    """How close an answer is to the reference: difflib's ratio over characters, in [0, 1]."""
    return difflib.SequenceMatcher(None, answer, reference, autojunk=False).ratio()


class ReferenceJudge:
    """`with ReferenceJudge({conversation: reference}) as url:` a judge endpoint on 127.0.0.1."""

    def __init__(self, references: dict[str, str]) -> None:
        self.references = references
        self.app = Starlette(routes=[Route("/v1/chat/completions", self._chat, methods=["POST"])])
        self._server = LoopbackServer(self.app, name="stand-in-judge")

    @classmethod
    def for_prompts(cls, rows: list[dict]) -> ReferenceJudge:
        """A judge over `{"prompt": messages, "reference": text}` rows."""
        return cls({conversation_text(row["prompt"]): row["reference"] for row in rows})

    def verdict(self, request_text: str) -> str:
        """`{"best": i, "worst": j}` (1-based) for a judge request, or a refusal text."""
        try:
            conversation, answers = parse_judge_request(request_text)
        except ValueError:
            return "not a judge request"
        reference = self.references.get(conversation)
        if reference is None or len(answers) < 2:
            return "no reference for this conversation"
        scores = [similarity(a, reference) for a in answers]
        order = sorted(range(len(answers)), key=lambda i: (scores[i], -i))
        return json.dumps({"best": order[-1] + 1, "worst": order[0] + 1})

    async def _chat(self, request: Request) -> Response:
        body = json.loads(await request.body())
        content = self.verdict(body["messages"][-1].get("content") or "")
        return JSONResponse(
            {
                "id": "chatcmpl-stand-in-judge",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", ""),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            }
        )

    def __enter__(self) -> str:
        return self._server.start()

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
