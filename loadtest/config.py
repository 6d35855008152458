"""The `loadtest:` section of a run config: what to load, how hard, and where the report goes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from specstack.configbase import StrictModel

DEFAULT_DATASET = "artifacts/demo/corpus/sft_heldout.jsonl"


class FixedRateConfig(StrictModel):
    """Open-loop scenario: requests arrive on a schedule drawn up front, whatever the server does."""

    rate: float = Field(12.0, gt=0, description="Offered arrival rate, requests per second.")
    arrival: Literal["poisson", "constant"] = Field(
        "poisson", description="Arrival process: exponential gaps (poisson) or equal gaps (constant)."
    )
    duration_s: float = Field(60.0, gt=0, description="Length of the arrival window in seconds.")
    max_inflight: int = Field(
        1024,
        ge=1,
        description="Safety cap on requests in flight; arrivals beyond it are counted as dropped, never delayed.",
    )
    drain_timeout_s: float = Field(
        300.0, gt=0, description="How long to wait for in-flight requests after the last arrival."
    )
    at_capacity: bool = Field(
        True, description="Also run the spec-vs-plain comparison at the rate the capacity probe finds."
    )
    rates: list[float | Literal["inf"]] = Field(
        default_factory=list,
        description="A request-rate sweep: more rates (req/s), each run spec and plain for duration_s; 'inf' "
        "sends inf_requests at once (as `vllm bench serve --request-rate inf`).",
    )
    capacity_fractions: list[float] = Field(
        default_factory=list,
        description="Also run at these fractions of the plain deployment's measured capacity (e.g. [0.5, 0.9]); "
        "needs the capacity probe.",
    )
    inf_requests: int = Field(32, ge=1, description="Requests the 'inf' rate sends at once.")

    @model_validator(mode="after")
    def _positive(self) -> FixedRateConfig:
        if any(r != "inf" and r <= 0 for r in self.rates):
            raise ValueError("rates must be > 0 (or 'inf')")
        if any(not 0 < f <= 2 for f in self.capacity_fractions):
            raise ValueError("capacity_fractions must be in (0, 2]")
        return self


class SweepConfig(StrictModel):
    """Closed-loop scenario: N users each send their next request as soon as the previous one ends."""

    enabled: bool = Field(True, description="Run the batch-size sweep.")
    concurrencies: list[int] = Field(
        [1, 2, 4, 8, 16, 32, 64], min_length=1, description="Concurrency levels (the batch sizes) to measure."
    )
    requests_per_level: int | None = Field(
        None, ge=1, description="Requests measured per level; default rounds x concurrency."
    )
    rounds: int = Field(
        4, ge=1, description="With neither requests_per_level nor duration_s: each user sends this many."
    )
    duration_s: float | None = Field(
        None, gt=0, description="Measure each level for this long instead of a request count."
    )

    @model_validator(mode="after")
    def _levels(self) -> SweepConfig:
        if any(c < 1 for c in self.concurrencies):
            raise ValueError("concurrencies must be >= 1")
        if self.requests_per_level is not None and self.duration_s is not None:
            raise ValueError("give requests_per_level or duration_s, not both")
        return self

    def requests_at(self, concurrency: int) -> int | None:
        """The request budget at a level (None when the level is time-bounded)."""
        if self.duration_s is not None:
            return None
        return self.requests_per_level or self.rounds * concurrency


class CapacityConfig(StrictModel):
    """Find the highest fixed rate the plain deployment holds without a growing queue."""

    enabled: bool = Field(True, description="Run the capacity probe against the plain deployment.")
    start_rate: float = Field(1.0, gt=0, description="First rate tried, requests per second.")
    factor: float = Field(1.5, gt=1, description="Each step multiplies the rate by this until a step fails.")
    max_rate: float = Field(256.0, gt=0, description="Stop climbing here (the probe reports a lower bound).")
    refine_steps: int = Field(
        2, ge=0, description="Bisection steps between the last rate held and the first not."
    )
    step_duration_s: float = Field(20.0, gt=0, description="Arrival window of each probe step.")
    arrival: Literal["poisson", "constant"] = Field(
        "constant", description="Arrival process of probe steps (constant gives a cleaner signal)."
    )
    min_achieved_ratio: float = Field(
        0.95, gt=0, le=1, description="A step holds only if completions keep up: achieved/sent >= this."
    )
    max_latency_growth: float = Field(
        1.5, ge=1, description="A step holds only if median E2E of its last third / first third <= this."
    )
    max_error_ratio: float = Field(0.01, ge=0, le=1, description="A step holds only if errors/sent <= this.")


class GatewayPoolConfig(StrictModel):
    """The gateway's load-aware pool (spec and plain upstreams behind one URL), measured as a third deployment."""

    url: str = Field(description="Base URL of the gateway (e.g. http://127.0.0.1:8080).")
    api_key: str | None = Field(None, description="Bearer key for the gateway, if it checks keys.")


class SloConfig(StrictModel):
    """A service-level objective per request; goodput is the share (and rate) of requests that meet it."""

    ttft_ms: float | None = Field(
        None, gt=0, description="Longest time to first token that still counts as good."
    )
    tpot_ms: float | None = Field(
        None, gt=0, description="Longest time per output token that still counts as good."
    )


class LoadtestConfig(StrictModel):
    """Speculative vs plain under load: batch-size sweep, fixed-rate runs, capacity probe, report."""

    spec_url: str | None = Field(
        None, description="Base URL of the speculative deployment (server root, without /v1)."
    )
    plain_url: str | None = Field(
        None, description="Base URL of the plain deployment (same model, no draft)."
    )
    start_servers: bool = Field(
        False,
        description="Start both deployments from the run config's engine section (speculation on, then off) "
        "and stop them afterwards; the URLs are then ignored.",
    )
    api_key: str | None = Field(None, description="Bearer key sent to both deployments, if they check keys.")
    model: str | None = Field(
        None, description="Model name in requests; default the server's first /v1/models id."
    )
    dataset: str = Field(
        DEFAULT_DATASET,
        description="SFT JSONL (OpenAI chat or ShareGPT); each conversation up to its last assistant turn "
        "is a prompt.",
    )
    max_prompts: int | None = Field(None, ge=1, description="Use at most this many prompts of the dataset.")
    seed: int = Field(0, description="Seed for prompt order and arrival times (spec and plain see the same).")
    max_tokens: int = Field(128, ge=1, description="max_tokens of every request.")
    temperature: float = Field(
        0.0, ge=0, description="Sampling temperature (0: greedy, same text spec and plain)."
    )
    ignore_eos: bool = Field(
        False, description="Send ignore_eos (vLLM/SGLang extension) so every request makes max_tokens tokens."
    )
    extra_body: dict[str, Any] = Field(
        default_factory=dict, description="Extra JSON fields merged into every request body."
    )
    request_timeout_s: float = Field(600.0, gt=0, description="Network timeout of one request.")
    warmup_requests: int = Field(
        2, ge=0, description="Requests sent to each deployment before measuring, discarded."
    )
    fixed_rate: FixedRateConfig | None = Field(
        default_factory=FixedRateConfig, description="The open-loop fixed-rate scenario (null to skip)."
    )
    sweep: SweepConfig = Field(default_factory=SweepConfig, description="The closed-loop batch-size sweep.")
    capacity: CapacityConfig = Field(default_factory=CapacityConfig, description="The capacity probe.")
    gateway: GatewayPoolConfig | None = Field(
        None, description="Also measure the gateway's load-aware pool mode as a third deployment."
    )
    generator_processes: int = Field(
        1,
        ge=1,
        description="Load-generating processes per fixed-rate run (arrivals dealt round-robin) for rates "
        "one process cannot generate.",
    )
    slo: SloConfig = Field(
        default_factory=SloConfig,
        description="Goodput's objective (as `vllm bench serve --goodput`); none: no goodput.",
    )
    stops_paying_below: float = Field(
        1.05,
        ge=1,
        description="Speculation 'stops paying' at the first batch size whose speedup is below this.",
    )
    out_dir: str = Field(
        "artifacts/loadtest", description="Where report.json, requests.csv, report.md, PNGs go."
    )
