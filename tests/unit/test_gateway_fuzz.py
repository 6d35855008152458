"""Fuzzing the gateway's own OpenAPI schema with schemathesis: no input may produce a 5xx.

The gateway runs on loopback in front of the scripted fake engine (a test double), with a valid key, so
valid requests go all the way through and invalid ones must be refused with 4xx OpenAI errors. Skipped,
loudly, when schemathesis is not installed (it is a dev dependency: pip install schemathesis==4.32.5).
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip(
    "schemathesis",
    reason="SCHEMATHESIS MISSING: the OpenAPI fuzz did NOT run (pip install schemathesis==4.32.5)",
)
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from tests.fakes.scripted_upstream import Script, ScriptedUpstream  # noqa: E402
from tests.unit.gateway_helpers import ALICE, running_gateway  # noqa: E402


@pytest.fixture(scope="module")
def fuzz_target():
    with (
        ScriptedUpstream(Script(tokens=3), record=False) as up,
        running_gateway({"demo": {"plain": [up.url]}}) as gw,
    ):
        yield gw


MODES = ["positive", "negative"]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", MODES)
def test_no_input_makes_the_gateway_fail(fuzz_target, mode):
    schema = schemathesis.openapi.from_url(fuzz_target.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/chat/completions", "/v1/completions", "/v1/models"}
    auth = {"Authorization": f"Bearer {ALICE}"}
    seen: dict[int, int] = {}

    for operation in operations:
        if mode == "negative" and operation.method.upper() != "POST":
            continue  # nothing to make invalid in a GET without parameters

        @given(case=operation.as_strategy(generation_mode=GenerationMode(mode)))
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case) -> None:
            if mode == "positive" and isinstance(case.body, dict) and "model" in case.body:
                case.body["model"] = "demo"  # a served model, so valid bodies go all the way to the engine
            response = case.call(base_url=fuzz_target.url, headers=auth, timeout=20)
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            case.validate_response(response, checks=[not_a_server_error])
            if response.status_code >= 400 and case.path.startswith("/v1/"):
                body = response.json()
                assert set(body["error"]) == {"message", "type", "param", "code"}, body

        fuzz()
    assert all(code < 500 for code in seen), seen
    print(f"{mode}: status counts {sorted(seen.items())}")
