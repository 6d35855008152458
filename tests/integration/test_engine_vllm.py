"""vLLM's CPU build on a tiny random Qwen3 with a random EAGLE-3 draft, through the launcher and `openai`.

Covers the serving contract (chat, streaming with usage and speculative statistics, errors passed through
unchanged, /metrics), losslessness of the speculative path on the random pair, and clean stops and
crashes (no process left behind). The trained demo models are exercised in test_engine_demo.py.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from serving.engines import EngineConfig, start_engine
from specstack.errors import SpecstackError
from specstack.net import port_in_use
from tests.engine_helpers import build_engine_dirs, first_divergence, greedy_ids, run_all

pytestmark = [pytest.mark.engine, pytest.mark.slow]
openai = pytest.importorskip("openai")
pytest.importorskip("vllm")

K = 3
PROMPTS = [
    "Привет! Товар ещё в продаже?",
    "Сколько стоит доставка в Казань?",
    "def total_price(items):",
    "The seller shipped the order on Monday;",
    "Скидка 15% от 2 000 ₽ составляет",
    "Здравствуйте, можно посмотреть завтра?",
]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_engine_dirs(tmp_path_factory.mktemp("vllm_tiny"))


def cfg_for(dirs: tuple[Path, Path], **kw) -> EngineConfig:
    target, draft = dirs
    base = {
        "model": target,
        "draft": draft,
        "port": 0,
        "num_draft_tokens": K,
        "max_model_len": 1024,
        "startup_timeout_s": 300,
    }
    base.update(kw)
    return EngineConfig(**base)


def assert_all_gone(procs: list[psutil.Process], port: int) -> None:
    deadline = time.monotonic() + 10
    alive = procs
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"engine processes left behind: {alive}"
    assert not port_in_use(port)


@pytest.fixture(scope="module")
def spec_engine(dirs):
    proc = start_engine(cfg_for(dirs), log=sys.stderr)
    members = proc._members()
    assert len(members) >= 3  # API server, engine core, worker
    yield proc
    proc.stop()
    assert_all_gone(members, proc.command.port)


@pytest.fixture(scope="module")
def client(spec_engine):
    return openai.OpenAI(base_url=spec_engine.base_url + "/v1", api_key="unused", max_retries=0, timeout=120)


def test_models_lists_the_served_name(client, spec_engine) -> None:
    assert [m.id for m in client.models.list().data] == [spec_engine.model_name] == ["target"]


def test_chat_carries_speculative_statistics(client, spec_engine) -> None:
    r = client.chat.completions.create(
        model=spec_engine.model_name,
        messages=[{"role": "user", "content": PROMPTS[0]}],
        max_tokens=24,
        temperature=0,
    )
    assert r.object == "chat.completion" and r.choices[0].message.role == "assistant"
    assert r.usage.completion_tokens > 0
    spec = r.model_extra["metrics"]["speculative_decoding"]
    assert spec["num_spec_tokens"] == K
    assert spec["num_spec_steps"] >= 1 and spec["num_draft_tokens"] == K * spec["num_spec_steps"]
    assert 1.0 <= spec["mean_acceptance_length"] <= K + 1


def test_stream_final_chunk_has_usage_and_spec_stats(client, spec_engine) -> None:
    stream = client.chat.completions.create(
        model=spec_engine.model_name,
        messages=[{"role": "user", "content": PROMPTS[1]}],
        max_tokens=24,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None and last.usage.completion_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-2].choices[0].finish_reason in ("stop", "length")
    spec = last.model_extra["metrics"]["speculative_decoding"]
    assert spec["num_spec_tokens"] == K and spec["num_spec_steps"] >= 1


def test_errors_pass_through_unchanged(client, spec_engine) -> None:
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(
            model=spec_engine.model_name, messages=[{"role": "user", "content": "x"}], max_tokens=100_000
        )
    assert e.value.status_code == 400
    err = e.value.response.json()["error"]
    assert set(err) >= {"message", "type", "param", "code"} and "max_tokens" in err["message"]
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "x"}], max_tokens=4
        )
    assert e.value.response.json()["error"]["code"] == 404


def test_metrics_export_spec_decode_counters(spec_engine) -> None:
    text = httpx.get(spec_engine.base_url + "/metrics", timeout=30).text
    for name in ("vllm:spec_decode_num_drafts_total", "vllm:spec_decode_num_accepted_tokens_total"):
        assert name in text


def test_lossless_against_plain_greedy(dirs, client, spec_engine) -> None:
    """Random draft: nearly every proposal is rejected, which exercises the correction path hardest."""
    convs = [([{"role": "user", "content": p}], None) for p in PROMPTS]
    plain = start_engine(cfg_for(dirs, speculative=False), log=None)
    members = plain._members()
    try:
        pc = openai.OpenAI(base_url=plain.base_url + "/v1", api_key="unused", max_retries=0, timeout=120)
        want = run_all(lambda c: greedy_ids(pc, plain.model_name, *c, 48), convs, 1)
    finally:
        plain.stop()
    assert_all_gone(members, plain.command.port)  # clean stop of a second engine
    for conc in (1, len(convs)):
        got = run_all(lambda c: greedy_ids(client, spec_engine.model_name, *c, 48), convs, conc)
        diffs = [
            (i, first_divergence(a, b)) for i, (a, b) in enumerate(zip(want, got, strict=True)) if a != b
        ]
        assert not diffs, (
            f"concurrency {conc}: spec output differs from plain greedy at (prompt, token) {diffs}"
        )


def test_crash_while_loading_is_one_line_and_leaves_nothing(dirs, tmp_path: Path) -> None:
    """Truncated weights are caught before launch; weights that disagree with config.json (the checks do not
    compare shapes) pass the checks and vLLM dies loading them: both are one line, and nothing is left."""
    import json
    import shutil

    target = shutil.copytree(dirs[0], tmp_path / "target")
    weights = target / "model.safetensors"
    data = weights.read_bytes()
    header_len = int.from_bytes(data[:8], "little")
    weights.write_bytes(data[: 8 + header_len + 100])
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(SpecstackError, match="not a readable safetensors file") as e:
        start_engine(EngineConfig(model=target, port=0), log=None)
    assert "\n" not in str(e.value) and {p.pid for p in psutil.Process().children(recursive=True)} <= before
    weights.write_bytes(data)
    config = json.loads((target / "config.json").read_text())
    config["intermediate_size"] += 8  # the MLP weights no longer fit the model vLLM builds
    (target / "config.json").write_text(json.dumps(config))
    cfg = EngineConfig(model=target, port=0, startup_timeout_s=300, stop_grace_s=5)
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(SpecstackError) as e:
        start_engine(cfg, log=None)
    msg = str(e.value)
    assert "\n" not in msg and "vllm exited with code" in msg, msg
    time.sleep(1)
    left = [
        p
        for p in psutil.Process().children(recursive=True)
        if p.pid not in before and p.status() != psutil.STATUS_ZOMBIE
    ]
    assert not left, f"left behind: {left}"
