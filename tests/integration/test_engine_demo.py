"""The trained demo target and draft on vLLM's CPU build, through the real server and the `openai` client.

- Lossless: greedy output with the draft equals greedy output without it, token for token, on every
  held-out demo prompt tested, one request at a time and 16 concurrent, in float32. The plain engine is also run
  at 16 concurrent, so a floating-point batching effect is measured separately from speculation: the
  failure message gives the counts and first divergent positions of each comparison. In bfloat16 (the
  serving default) identity does not hold even without speculation: verifying k+1 tokens in one forward,
  like batching 16 requests, changes the rounding, and near-tied logits flip (docs/serving.md has the
  measured rates); float32 makes such ties rare enough to test identity.
- Tool calls: the demo template, the data and vLLM's `hermes` parser agree: a reply whose `<tool_call>`
  blocks are all well-formed comes back as parsed `tool_calls`, none is left in the content. (The parser
  takes all blocks of a reply or none: one malformed block, which a 30M-parameter target sometimes writes,
  leaves the whole reply in the content, by vLLM's design.)

Needs artifacts/demo/{target,draft} and artifacts/demo/corpus/sft_heldout.jsonl (`make demo`). Knobs:
SPECSTACK_LOSSLESS_PROMPTS (default 16: the first held-out prompts; 135M parameters one request at a time
on two CPU cores bound the count), SPECSTACK_LOSSLESS_MAX_TOKENS (default 48).
"""

from __future__ import annotations

import json
import os
import sys

import pytest

from serving.engines import EngineConfig, start_engine
from specstack.io import read_jsonl
from tests.engine_helpers import (
    DEMO_DRAFT,
    DEMO_HELDOUT,
    DEMO_TARGET,
    demo_models_missing,
    first_divergence,
    greedy_ids,
    prompt_of,
    run_all,
)

pytestmark = [pytest.mark.engine, pytest.mark.slow]
openai = pytest.importorskip("openai")
pytest.importorskip("vllm")

K = 3
CONCURRENCY = 16
MAX_TOKENS = int(os.environ.get("SPECSTACK_LOSSLESS_MAX_TOKENS", "48"))
LOSSLESS_PROMPTS = int(os.environ.get("SPECSTACK_LOSSLESS_PROMPTS", "16"))


@pytest.fixture(scope="module")
def demo_models() -> dict:
    """The demo artifacts; skipped LOUDLY when they are not built (CI builds them first)."""
    need = {
        "target": DEMO_TARGET / "config.json",
        "draft": DEMO_DRAFT / "config.json",
        "heldout": DEMO_HELDOUT,
    }
    missing = [str(p) for p in need.values() if not p.is_file()]
    if missing:
        demo_models_missing(", ".join(missing))
    rows = list(read_jsonl(DEMO_HELDOUT))
    return {"target": DEMO_TARGET, "draft": DEMO_DRAFT, "rows": rows}


def demo_cfg(**kw) -> EngineConfig:
    base = {
        "model": DEMO_TARGET,
        "draft": DEMO_DRAFT,
        "port": 0,
        "num_draft_tokens": K,
        "served_model_name": "demo",
        "max_num_seqs": CONCURRENCY,
        "startup_timeout_s": 600,
    }
    return EngineConfig(**{**base, **kw})


def outputs(cfg: EngineConfig, convs: list, concurrencies: tuple[int, ...]) -> dict[int, list[list[int]]]:
    with start_engine(cfg, log=sys.stderr) as eng:
        client = openai.OpenAI(base_url=eng.base_url + "/v1", api_key="unused", max_retries=0, timeout=600)
        return {
            c: run_all(lambda conv: greedy_ids(client, eng.model_name, *conv, MAX_TOKENS), convs, c)
            for c in concurrencies
        }


def compare(want: list[list[int]], got: list[list[int]]) -> dict:
    diffs = [(i, first_divergence(a, b)) for i, (a, b) in enumerate(zip(want, got, strict=True)) if a != b]
    return {"prompts": len(want), "differ": len(diffs), "first": diffs[:10]}


@pytest.mark.timeout(7200)
def test_speculative_greedy_is_lossless_on_heldout_prompts(demo_models) -> None:
    convs = [prompt_of(r) for r in demo_models["rows"][:LOSSLESS_PROMPTS]]
    plain = outputs(demo_cfg(speculative=False, dtype="float32"), convs, (1, CONCURRENCY))
    spec = outputs(demo_cfg(dtype="float32"), convs, (1, CONCURRENCY))
    report = {
        "plain@16 vs plain@1 (batching alone)": compare(plain[1], plain[CONCURRENCY]),
        "spec@1 vs plain@1": compare(plain[1], spec[1]),
        "spec@16 vs plain@1": compare(plain[1], spec[CONCURRENCY]),
        "spec@16 vs plain@16": compare(plain[CONCURRENCY], spec[CONCURRENCY]),
    }
    print("\nlossless report:", json.dumps(report, ensure_ascii=False))
    assert all(r["differ"] == 0 for r in report.values()), f"greedy outputs differ: {report}"


def test_tool_calls_come_back_parsed(demo_models) -> None:
    fc = [r for r in demo_models["rows"] if r.get("tools")]
    assert fc, "the held-out set has no function-calling conversations"
    fc = fc[:12]
    with start_engine(demo_cfg(), log=sys.stderr) as eng:
        client = openai.OpenAI(base_url=eng.base_url + "/v1", api_key="unused", max_retries=0, timeout=600)

        def ask(row: dict):
            messages, tools = prompt_of(row)
            return client.chat.completions.create(
                model=eng.model_name, messages=messages, tools=tools, max_tokens=160, temperature=0
            )

        results = run_all(ask, fc, 4)
    parsed, malformed, name_match, with_gold = 0, 0, 0, 0
    for row, r in zip(fc, results, strict=True):
        msg = r.choices[0].message
        blocks = tool_call_blocks(msg.content or "")
        assert not (blocks and all(map(is_call_json, blocks))), (
            f"well-formed tool calls left unparsed: {blocks!r}"
        )
        malformed += sum(not is_call_json(block) for block in blocks)
        gold = next((m for m in row["messages"] if m["role"] == "assistant"), {})
        gold_names = sorted(c["function"]["name"] for c in gold.get("tool_calls") or [])
        if msg.tool_calls:
            parsed += 1
            assert r.choices[0].finish_reason == "tool_calls"
            for call in msg.tool_calls:
                assert call.type == "function" and call.id
                assert isinstance(json.loads(call.function.arguments), dict)
        if gold_names:
            with_gold += 1
            name_match += sorted(c.function.name for c in msg.tool_calls or []) == gold_names
    print(
        f"\ntool calls: {parsed}/{len(fc)} parsed, {malformed} malformed blocks, names {name_match}/{with_gold}"
    )
    if parsed == 0:
        # Nothing well-formed to parse: a model-quality fact (the CI-sized SFT of docs/demo.md writes no, or only
        # malformed, tool calls), not a serving one; every reply was still checked above. Reported as an
        # expected failure, never as a pass.
        pytest.xfail(
            f"the demo target wrote no well-formed tool call in {len(fc)} replies ({malformed} malformed)"
        )


def tool_call_blocks(content: str) -> list[str]:
    """The bodies of `<tool_call>...</tool_call>` blocks (an unterminated last block included)."""
    return [part.split("</tool_call>")[0].strip() for part in content.split("<tool_call>")[1:]]


def is_call_json(block: str) -> bool:
    """Whether a block is a JSON object with a name and object arguments: what the parser must accept."""
    try:
        call = json.loads(block)
    except json.JSONDecodeError:
        return False
    return (
        isinstance(call, dict)
        and isinstance(call.get("name"), str)
        and isinstance(call.get("arguments"), dict)
    )
