"""Run a target (optionally with an EAGLE-3 draft) in vLLM offline, greedy, in a child process.

Used by the engine contract test and bench/draft_tau.py. The child runs with
VLLM_ENABLE_V1_MULTIPROCESSING=0 so the engine lives in its process, where `Eagle3LlamaForCausalLM.
combine_hidden_states` is patched to record the first aux states vLLM hands the drafter (the prompt's
prefill): that is how we check which target layers feed the head. It returns the generated token ids,
the speculative-decoding counters (τ = 1 + accepted / drafts) and the probe, as JSON.

    python -m draft_training.vllm_run REQUEST.json RESULT.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from specstack.errors import SpecstackError


def run_vllm(
    target: str | Path,
    prompts: list[list[int]],
    max_tokens: int,
    draft: str | Path | None = None,
    k: int = 4,
    probe: bool = False,
    one_at_a_time: bool = False,
    dtype: str = "float32",
    timeout: float = 900,
    workdir: str | Path | None = None,
) -> dict[str, Any]:
    """Greedy-generate `max_tokens` per prompt (token ids in and out) in a fresh vLLM child process.

    one_at_a_time: batch 1, prompt after prompt (after a warm-up request), for per-token latency."""
    import tempfile

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        req, res = Path(tmp) / "request.json", Path(tmp) / "result.json"
        spec = {"target": str(target), "prompts": prompts, "max_tokens": max_tokens, "dtype": dtype}
        spec |= {
            "draft": str(draft) if draft else None,
            "k": k,
            "probe": probe,
            "one_at_a_time": one_at_a_time,
        }
        req.write_text(json.dumps(spec))
        env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        proc = subprocess.run(
            [sys.executable, "-m", "draft_training.vllm_run", str(req), str(res)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0 or not res.is_file():
            tail = (proc.stdout + proc.stderr)[-3000:]
            raise SpecstackError(f"vLLM run failed (exit {proc.returncode}):\n{tail}")
        return json.loads(res.read_text())


def _child(req_path: str, res_path: str) -> None:
    """The child: build the engine, generate, read the counters, write the result."""
    import numpy as np
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    spec = json.loads(Path(req_path).read_text())
    probed: list[np.ndarray] = []
    if spec["probe"]:
        from vllm.model_executor.models.llama_eagle3 import Eagle3LlamaForCausalLM

        original = Eagle3LlamaForCausalLM.combine_hidden_states

        def recording(self, hidden_states):
            if not probed:
                probed.append(hidden_states.detach().float().cpu().numpy())
            return original(self, hidden_states)

        Eagle3LlamaForCausalLM.combine_hidden_states = recording
    kwargs: dict[str, Any] = {}
    if spec["draft"]:
        kwargs["speculative_config"] = {
            "method": "eagle3",
            "model": spec["draft"],
            "num_speculative_tokens": spec["k"],
        }
    llm = LLM(
        model=spec["target"],
        dtype=spec["dtype"],
        enforce_eager=True,
        max_model_len=2048,
        seed=0,
        disable_log_stats=False,
        **kwargs,
    )
    params = SamplingParams(temperature=0.0, max_tokens=spec["max_tokens"], ignore_eos=False)
    prompts = [TokensPrompt(prompt_token_ids=p) for p in spec["prompts"]]
    if spec["one_at_a_time"]:
        warm = llm.generate(prompts[:1], SamplingParams(temperature=0.0, max_tokens=8), use_tqdm=False)
        before = _spec_counters(llm)
        t0 = time.perf_counter()
        outs = [llm.generate([p], params, use_tqdm=False)[0] for p in prompts]
        elapsed = time.perf_counter() - t0
        del warm
    else:
        before = {}
        t0 = time.perf_counter()
        outs = llm.generate(prompts, params, use_tqdm=False)
        elapsed = time.perf_counter() - t0
    counters = {k: v - before.get(k, 0.0) for k, v in _spec_counters(llm).items()}
    drafts = counters.get("vllm:spec_decode_num_drafts", 0.0)
    accepted = counters.get("vllm:spec_decode_num_accepted_tokens", 0.0)
    tokens = [list(o.outputs[0].token_ids) for o in outs]
    result = {
        "outputs": tokens,
        "seconds": elapsed,
        "ms_per_token": 1000 * elapsed / max(1, sum(len(t) for t in tokens)),
        "counters": counters,
        "tau": 1 + accepted / drafts if drafts else None,
        "probe": probed[0].tolist() if probed else None,
    }
    Path(res_path).write_text(json.dumps(result))


def _spec_counters(llm) -> dict[str, float]:
    """vLLM's speculative-decoding counters (drafts, draft tokens, accepted tokens)."""
    return {
        m.name: float(m.value)
        for m in llm.get_metrics()
        if m.name.startswith("vllm:spec_decode") and hasattr(m, "value")
    }


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2])
