"""The gateway in front of real vLLM (CPU) servers, driven by the real `openai` client.

- Tiny: a random 8-layer Qwen3 (head_dim 32, which vLLM's CPU attention supports; the 4-layer, head_dim 16
  `tiny_model_dir` of tests/conftest.py is not servable there) with a random EAGLE-3 draft, so τ ≈ 1 but
  every response carries vLLM's per-request speculative statistics.
- Demo: the trained demo target and draft (artifacts/demo/{target,draft}), a speculative and a plain
  engine behind load-aware routing; skipped, loudly, until `make demo` has built them.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from serving.engines import EngineConfig, start_engine
from tests.engine_helpers import demo_models_missing
from tests.unit.gateway_helpers import ALICE, BOB, metric_value, running_gateway

pytestmark = [pytest.mark.engine, pytest.mark.slow]
openai = pytest.importorskip("openai")
pytest.importorskip("vllm")

ROOT = Path(__file__).resolve().parents[2]
DEMO_TARGET = ROOT / "artifacts" / "demo" / "target"
DEMO_DRAFT = ROOT / "artifacts" / "demo" / "draft"
K = 3
TIMEOUTS = {"connect_s": 2.0, "first_byte_s": 120.0, "total_s": 300.0}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search_items",
            "description": "Найти объявления",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}},
                "required": ["query"],
            },
        },
    }
]


def _tiny_dirs(root: Path) -> tuple[Path, Path]:
    from tests.conftest import TINY_TEXTS
    from tests.random_draft import write_random_eagle3_draft
    from tests.tiny_models import ModelShape, build_tiny_model_dir

    shape = ModelShape(hidden_size=64, num_hidden_layers=8, num_attention_heads=2, num_key_value_heads=1,
                       head_dim=32, intermediate_size=128)  # fmt: skip
    target = build_tiny_model_dir(root / "target", TINY_TEXTS * 40, shape, vocab_size=400)
    return target, write_random_eagle3_draft(target, root / "draft")


@pytest.fixture(scope="module")
def tiny_engine(tmp_path_factory: pytest.TempPathFactory):
    target, draft = _tiny_dirs(tmp_path_factory.mktemp("gw_engine"))
    cfg = EngineConfig(model=target, draft=draft, port=0, num_draft_tokens=K, max_model_len=512,
                       served_model_name="tiny", startup_timeout_s=300)  # fmt: skip
    with start_engine(cfg, prefix="[vllm-tiny] ") as proc:
        yield proc.base_url


@pytest.fixture(scope="module")
def gw(tiny_engine):
    with running_gateway({"tiny": {"speculative": [tiny_engine]}}, timeouts=TIMEOUTS) as g:
        yield g


def ask(**kw) -> dict:
    return {"model": "tiny", "messages": [{"role": "user", "content": "Привет! Товар ещё в продаже?"}],
            "max_tokens": 16, "temperature": 0, **kw}  # fmt: skip


def test_chat_through_the_gateway_keeps_vllm_spec_metrics(gw):
    raw = gw.client().chat.completions.with_raw_response.create(
        **ask(), extra_headers={"X-Request-Id": "gw-it-1"}
    )
    r = raw.parse()
    assert isinstance(r.choices[0].message.content, str)
    assert r.usage.completion_tokens > 0 and r.usage.prompt_tokens > 0
    spec = r.model_extra["metrics"]["speculative_decoding"]
    assert spec["num_spec_steps"] >= 1 and 1 <= spec["mean_acceptance_length"] <= K + 1
    assert raw.headers["x-request-id"] == "gw-it-1" and "gw-it-1" in r.id  # vLLM used our request id


def test_stream_with_and_without_usage(gw):
    c = gw.client()
    chunks = list(c.chat.completions.create(**ask(), stream=True))
    assert all(ch.usage is None and ch.choices for ch in chunks)
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks)
    chunks = list(c.chat.completions.create(**ask(), stream=True, stream_options={"include_usage": True}))
    last = chunks[-1]
    assert last.choices == [] and last.usage.completion_tokens > 0
    assert last.model_extra["metrics"]["speculative_decoding"]["num_spec_steps"] >= 1


def test_completions_tools_and_engine_errors_pass_through(gw):
    c = gw.client()
    assert c.completions.create(model="tiny", prompt="Скидка 15%", max_tokens=8).usage.completion_tokens > 0
    r = c.chat.completions.create(**ask(), tools=TOOLS)
    assert r.choices[0].finish_reason in ("stop", "length", "tool_calls")
    with pytest.raises(openai.BadRequestError) as e:  # longer than max_model_len: vLLM's own 400, unchanged
        c.chat.completions.create(**ask(max_tokens=4000))
    assert e.value.body["message"]


def test_tau_per_key_in_metrics_after_traffic(gw):
    for key in (ALICE, BOB):
        gw.client(key).chat.completions.create(**ask())
        list(gw.client(key).chat.completions.create(**ask(), stream=True))
    text = gw.metrics_text()
    for name in ("alice", "bob"):
        n = metric_value(text, "specstack_gateway_spec_acceptance_length_count", model="tiny", key=name)
        total = metric_value(text, "specstack_gateway_spec_acceptance_length_sum", model="tiny", key=name)
        assert n >= 2 and 1 <= total / n <= K + 1
        assert metric_value(text, "specstack_gateway_spec_draft_tokens_total", key=name) > 0
    assert httpx.get(gw.url + "/ready").json()["ready"] is True


# ---------------------------------------------------------------------------------------------- demo models
@pytest.fixture(scope="module")
def demo_stack():
    missing = [str(p) for p in (DEMO_TARGET, DEMO_DRAFT) if not (p / "config.json").is_file()]
    if missing:
        demo_models_missing(", ".join(missing))
    base = {"model": DEMO_TARGET, "draft": DEMO_DRAFT, "port": 0, "num_draft_tokens": K, "served_model_name": "demo",
            "startup_timeout_s": 600}  # fmt: skip
    with (
        start_engine(EngineConfig(**base), prefix="[vllm-spec] ") as spec,
        start_engine(EngineConfig(**base, speculative=False), prefix="[vllm-plain] ") as plain,
    ):
        models = {
            "demo": {"speculative": [spec.base_url], "plain": [plain.base_url], "spec_inflight_threshold": 1}
        }
        with running_gateway(models, timeouts=TIMEOUTS) as g:
            yield g


# Two 135M-parameter engines share two cores with the gateway: a 96-token reply took over 20 s on an AVX2 machine.
DEMO_CLIENT_TIMEOUT_S = 180


def demo_ask(**kw) -> dict:
    return {"model": "demo", "messages": [{"role": "user", "content": "Сколько стоит доставка в Казань?"}],
            "max_tokens": 48, "temperature": 0, **kw}  # fmt: skip


def test_demo_chat_stream_and_tau_above_one(demo_stack):
    c = demo_stack.client(timeout=DEMO_CLIENT_TIMEOUT_S)
    r = c.chat.completions.create(**demo_ask())
    assert r.choices[0].message.content
    chunks = list(
        c.chat.completions.create(**demo_ask(), stream=True, stream_options={"include_usage": True})
    )
    assert chunks[-1].usage.completion_tokens > 0
    text = demo_stack.metrics_text()
    n = metric_value(text, "specstack_gateway_spec_acceptance_length_count", key="alice")
    # τ > 1: drafts were accepted and the gateway read the engine's counts (how far above 1 is the draft's
    # quality: docs/demo.md).
    assert (
        n >= 2 and metric_value(text, "specstack_gateway_spec_acceptance_length_sum", key="alice") / n > 1.0
    )


def test_demo_tool_call_parsed(demo_stack):
    messages = [{"role": "user", "content": "Найди диван в Казани"}]
    r = demo_stack.client(timeout=DEMO_CLIENT_TIMEOUT_S).chat.completions.create(
        model="demo", messages=messages, tools=TOOLS, max_tokens=96, temperature=0
    )
    choice = r.choices[0]
    assert choice.message.tool_calls or choice.message.content  # the demo target may answer in text


def pools_of_concurrent_streams(clients: list, body: dict) -> list[str]:
    """The pool (x-specstack-pool) each client's stream was routed to, with every stream held open at once:
    started together and none read to the end before all have their headers, so the in-flight count the
    routing sees does not depend on how fast the model answers."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    start, all_routed = threading.Barrier(len(clients)), threading.Barrier(len(clients))

    def one(client) -> str:
        start.wait(timeout=30)
        with client.chat.completions.with_streaming_response.create(**body, stream=True) as r:
            pool = r.headers["x-specstack-pool"]
            all_routed.wait(timeout=60)
            for _ in r.iter_lines():
                pass
        return pool

    with ThreadPoolExecutor(len(clients)) as ex:
        return list(ex.map(one, clients))


def test_demo_load_aware_split(demo_stack):
    body = demo_ask(max_tokens=128, extra_body={"ignore_eos": True})  # still generating when all are routed
    pools = pools_of_concurrent_streams(
        [demo_stack.client(timeout=DEMO_CLIENT_TIMEOUT_S) for _ in range(4)], body
    )
    assert "speculative" in pools and "plain" in pools
    assert demo_stack.metric("specstack_gateway_routing_decisions_total", reason="over_threshold") >= 1


# ---------------------------------------------------------------------------------------------- serve stack
def test_serve_stack_starts_both_pools_and_stops_everything(tmp_path_factory: pytest.TempPathFactory):
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    from specstack.net import free_port

    target, draft = _tiny_dirs(tmp_path_factory.mktemp("gw_stack"))
    tmp = tmp_path_factory.mktemp("gw_stack_cfg")
    port = free_port()
    cfg = tmp / "run.yaml"
    cfg.write_text(
        f"serve:\n  model: {target}\n  draft: {draft}\n  num_draft_tokens: {K}\n  max_model_len: 512\n"
        "  served_model_name: tiny\n  startup_timeout_s: 300\n"
        f"gateway:\n  port: {port}\n  stack: {{speculative_replicas: 1, plain_replicas: 1, spec_inflight_threshold: 1}}\n"
    )
    log = tmp / "stack.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "specstack.cli", "serve", "stack", "--config", str(cfg)],
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                if httpx.get(base + "/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        engines = psutil.Process(proc.pid).children(recursive=True)
        assert len(engines) >= 2

        clients = [
            openai.OpenAI(base_url=base + "/v1", api_key="none", max_retries=0, timeout=120) for _ in range(3)
        ]
        # long enough (ignore_eos) that no engine finishes a request before the others are routed: a replica
        # is released when its engine stream ends, whether or not the client has read it
        long_ask = ask(max_tokens=256, extra_body={"ignore_eos": True})
        assert set(pools_of_concurrent_streams(clients, long_ask)) == {"speculative", "plain"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0, log.read_text()[-3000:]
        _, alive = psutil.wait_procs(engines, timeout=30)
        assert not alive, f"engine processes left behind: {alive}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
