"""The `serve:` config section: which engine serves which target (and draft), and how.

One config drives vLLM (CPU or GPU) and SGLang (GPU) alike; `speculative` switches the draft on and off
without touching anything else, so every comparison runs the same engine twice. The defaults are the
winners of `bench/engine.py` on the demo models (docs/serving.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from specstack.configbase import StrictModel

EngineName = Literal["auto", "vllm", "sglang"]
ResolvedEngine = Literal["vllm", "sglang"]
Device = Literal["auto", "cpu", "cuda"]

# The tool-call parser of each engine that reads our chat template's `<tool_call>\n{json}\n</tool_call>`.
DEFAULT_TOOL_CALL_PARSER: dict[str, str] = {"vllm": "hermes", "sglang": "qwen25"}


class CpuSettings(StrictModel):
    """vLLM's CPU backend: the environment its CPU guide asks for (docs.vllm.ai, CPU installation)."""

    kvcache_gb: int = Field(
        2, ge=1, description="KV-cache size in GiB (VLLM_CPU_KVCACHE_SPACE); the demo needs well under 1."
    )
    omp_threads_bind: str = Field(
        "auto",
        description=(
            "VLLM_CPU_OMP_THREADS_BIND: 'auto' (one core per worker thread, one core left to the scheduler and "
            "HTTP server), 'nobind', or an explicit CPU list such as '0-1'."
        ),
    )
    reserved_cpus: int | None = Field(
        None,
        ge=0,
        description="VLLM_CPU_NUM_OF_RESERVED_CPU: cores kept from the compute threads under 'auto' (None: vLLM's 1).",
    )
    preload_runtimes: bool = Field(
        True,
        description=(
            "LD_PRELOAD Intel OpenMP (libiomp5.so from the intel-openmp wheel) and tcmalloc (Debian "
            "libtcmalloc-minimal4) when present; vLLM warns that speculative decoding is slow without them."
        ),
    )


class SglangSettings(StrictModel):
    """SGLang's EAGLE-3 knobs; None means derived from the top-level num_draft_tokens (a chain, top-k 1)."""

    num_steps: int | None = Field(
        None,
        ge=1,
        description="--speculative-num-steps: draft forward passes per step (None: num_draft_tokens).",
    )
    eagle_topk: int = Field(
        1, ge=1, description="--speculative-eagle-topk: branches per draft step (1 = a chain)."
    )
    num_draft_tokens: int | None = Field(
        None,
        ge=2,
        description=(
            "--speculative-num-draft-tokens: tokens verified per step, the root included "
            "(None: num_steps + 1, which is exact for a chain; required when eagle_topk > 1)."
        ),
    )
    mem_fraction_static: float = Field(
        0.8, gt=0, lt=1, description="--mem-fraction-static: share of GPU memory for weights and KV cache."
    )

    @model_validator(mode="after")
    def _tree_needs_draft_tokens(self) -> SglangSettings:
        if self.eagle_topk > 1 and self.num_draft_tokens is None:
            raise ValueError("sglang.num_draft_tokens must be set when sglang.eagle_topk > 1")
        return self


class EngineConfig(StrictModel):
    """One engine server: target, optional EAGLE-3 draft, HTTP address, and engine-specific settings."""

    engine: EngineName = Field(
        "auto",
        description="'vllm', 'sglang', or 'auto': vLLM's CPU build without CUDA, SGLang with CUDA when installed.",
    )
    device: Device = Field("auto", description="'cpu', 'cuda', or 'auto' (CUDA when torch sees a GPU).")
    model: Path | None = Field(
        None, description="Target model: a Hugging Face directory (config.json, safetensors, tokenizer)."
    )
    draft: Path | None = Field(
        None, description="EAGLE-3 draft directory (SpecForge/SGLang layout), or none."
    )
    speculative: bool | None = Field(
        None,
        description="Speculative decoding on/off; None: on exactly when a draft is given. True without a draft is an error.",
    )
    num_draft_tokens: int = Field(
        3,
        ge=1,
        le=16,
        description="Draft tokens proposed per step (vLLM num_speculative_tokens; SGLang chain length).",
    )
    draft_tokens_by_batch: list[tuple[int, int, int]] | None = Field(
        None,
        description=(
            "vLLM dynamic speculation: [[first_batch, last_batch, k], ...] from batch size 1 up, k <= "
            "num_draft_tokens, k = 0 turns the draft off at that batch size (where it stops paying); None: always k."
        ),
    )
    served_model_name: str | None = Field(
        None,
        description="The model name clients send and /v1/models lists; None: the model directory's name.",
    )
    host: str = Field(
        "127.0.0.1", description="Address the engine binds; loopback unless a gateway is elsewhere."
    )
    port: int = Field(
        8000,
        ge=0,
        le=65535,
        description="HTTP port of the engine's OpenAI server; 0 picks a free one at launch.",
    )
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "bfloat16", description="Weights and activations; bfloat16 wins on AVX512-BF16 CPUs and on GPUs."
    )
    max_model_len: int | None = Field(
        2048, ge=16, description="Longest prompt + completion in tokens (None: the model's own limit)."
    )
    max_num_seqs: int = Field(
        32, ge=1, description="Most sequences decoded together (SGLang: max running requests)."
    )
    seed: int = Field(0, description="Engine seed (sampling only; greedy decoding ignores it).")
    enable_tool_calls: bool = Field(
        True,
        description="Parse `<tool_call>` blocks into OpenAI `tool_calls` (vLLM: --enable-auto-tool-choice).",
    )
    tool_call_parser: str | None = Field(
        None,
        description="Tool-call parser; None: 'hermes' for vLLM, 'qwen25' for SGLang (both read our template).",
    )
    enforce_eager: bool = Field(
        True, description="vLLM: skip torch.compile (startup in seconds, not minutes; see bench/engine.py)."
    )
    gpu_memory_utilization: float = Field(
        0.9,
        gt=0,
        lt=1,
        description="vLLM on CUDA: --gpu-memory-utilization (SGLang uses sglang.mem_fraction_static).",
    )
    access_log: bool = Field(
        False, description="vLLM: log every HTTP request (off: --disable-uvicorn-access-log)."
    )
    cpu: CpuSettings = Field(default_factory=CpuSettings, description="vLLM CPU backend settings.")
    sglang: SglangSettings = Field(default_factory=SglangSettings, description="SGLang EAGLE-3 settings.")
    python: str | None = Field(
        None, description="Interpreter that has the engine installed (None: the one running specstack)."
    )
    startup_timeout_s: float = Field(
        600.0, gt=0, description="Seconds to wait for the engine to answer /health and a first generation."
    )
    stop_grace_s: float = Field(
        15.0, ge=0, description="Seconds between SIGTERM and SIGKILL of the engine's process group on stop."
    )
    extra_args: list[str] = Field(
        default_factory=list,
        description="Appended verbatim to the engine's command line (expert escape hatch).",
    )
    extra_env: dict[str, str] = Field(
        default_factory=dict, description="Extra environment variables for the engine (override ours)."
    )

    @model_validator(mode="after")
    def _check_schedule(self) -> EngineConfig:
        if self.draft_tokens_by_batch:
            prev_end = 0
            for start, end, k in sorted(self.draft_tokens_by_batch):
                if not 1 <= start <= end or start <= prev_end or not 0 <= k <= self.num_draft_tokens:
                    raise ValueError(
                        "draft_tokens_by_batch: ranges [first, last, k] must be increasing, non-overlapping, "
                        "with 0 <= k <= num_draft_tokens"
                    )
                prev_end = end
            if min(r[0] for r in self.draft_tokens_by_batch) != 1:
                raise ValueError("draft_tokens_by_batch: the first range must start at batch size 1")
        return self

    @property
    def speculation_on(self) -> bool:
        """Whether this config runs the draft (an explicit True without a draft is caught at launch)."""
        return self.draft is not None if self.speculative is None else self.speculative

    def model_name(self) -> str:
        """The name clients put in `model`: served_model_name, else the target directory's name."""
        if self.served_model_name:
            return self.served_model_name
        return Path(self.model).name if self.model is not None else "model"

    def base_url(self) -> str:
        """`http://host:port` of the engine (bracketed for IPv6)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"
