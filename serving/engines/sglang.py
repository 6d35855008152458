"""SGLang's server (0.5.x, on CUDA): config -> exact argv + env.

SGLang is not installable on the CPU machines this project is developed on; the flag names used here are
checked against sglang 0.5.14's `python/sglang/srt/server_args.py` (tests/data/sglang_server_args_0.5.14.json).
"""

from __future__ import annotations

from serving.engines.command import EngineCommand, ServerFlags, common_server_argv
from serving.engines.config import DEFAULT_TOOL_CALL_PARSER, EngineConfig

SGLANG_SERVER_MODULE = "sglang.launch_server"
SGLANG_FLAGS = ServerFlags(
    module=SGLANG_SERVER_MODULE,
    model="--model-path",
    max_seqs="--max-running-requests",
    seed="--random-seed",
    context_length="--context-length",
)


def eagle_tree(cfg: EngineConfig) -> tuple[int, int, int]:
    """(num_steps, eagle_topk, num_draft_tokens) for SGLang; a chain of cfg.num_draft_tokens by default.

    SGLang counts the verified root in --speculative-num-draft-tokens, so a chain of k proposals is
    steps=k, topk=1, draft tokens=k+1: the same work per step as vLLM's num_speculative_tokens=k.
    """
    steps = cfg.sglang.num_steps or cfg.num_draft_tokens
    topk = cfg.sglang.eagle_topk
    tokens = cfg.sglang.num_draft_tokens or steps + 1
    return steps, topk, tokens


def sglang_command(cfg: EngineConfig, *, device: str, python: str, port: int | None = None) -> EngineCommand:
    """The command that serves `cfg` with SGLang through `python` (device is "cuda"; CPU is not supported here)."""
    port = cfg.port if port is None else port
    argv = common_server_argv(cfg, SGLANG_FLAGS, python, port)
    argv += ["--mem-fraction-static", str(cfg.sglang.mem_fraction_static), "--enable-metrics"]
    if cfg.enable_tool_calls:
        argv += ["--tool-call-parser", cfg.tool_call_parser or DEFAULT_TOOL_CALL_PARSER["sglang"]]
    if cfg.speculation_on:
        steps, topk, tokens = eagle_tree(cfg)
        argv += [
            "--speculative-algorithm",
            "EAGLE3",
            "--speculative-draft-model-path",
            str(cfg.draft),
            "--speculative-num-steps",
            str(steps),
            "--speculative-eagle-topk",
            str(topk),
            "--speculative-num-draft-tokens",
            str(tokens),
        ]
    argv += list(cfg.extra_args)
    return EngineCommand(
        engine="sglang",
        device=device,
        argv=argv,
        env=dict(cfg.extra_env),
        host=cfg.host,
        port=port,
        model_name=cfg.model_name(),
        speculative=cfg.speculation_on,
    )
