"""The `gateway:` section of a run config: where the engines are, who may call, how hard, how long.

Example (YAML)::

    gateway:
      port: 8000
      models:
        demo:
          speculative: ["http://127.0.0.1:8101"]   # engines started with the draft
          plain: ["http://127.0.0.1:8102"]         # the same target without it
          spec_inflight_threshold: 8               # the batch size where speculation stops paying
      api_keys_file: keys.yaml
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from specstack.configbase import StrictModel


def _check_url(url: str) -> str:
    if not url.startswith(("http://", "https://", "dns+http://", "dns+https://")):
        raise ValueError(
            f"'{url}' is not an http(s) base URL (or dns+http(s)://NAME:PORT for every address of NAME)"
        )
    return url.rstrip("/")


class ModelRoute(StrictModel):
    """One model name clients ask for, and the engine replicas that serve it."""

    speculative: list[str] = Field(
        default_factory=list,
        description="Base URLs of engine replicas serving this model WITH its draft; `dns+http://NAME:PORT` stands "
        "for every address NAME resolves to (a headless Service: one replica per pod), refreshed.",
    )
    plain: list[str] = Field(
        default_factory=list,
        description="Base URLs of engine replicas serving the same model WITHOUT a draft.",
    )
    spec_inflight_threshold: int | None = Field(
        None,
        ge=1,
        description="Load-aware speculation: a request goes to the speculative pool while the least-loaded "
        "speculative replica has fewer requests in flight than this, else to the plain pool (speculation stops "
        "paying at high batch sizes; the load test measures where). None: always prefer the speculative pool.",
    )
    upstream_model: str | None = Field(
        None, description="The name the engines serve this model under; default: the name clients use."
    )
    request_extra: dict[str, Any] = Field(
        default_factory=dict,
        description="Fields added to every upstream request body, e.g. {return_meta_info: true} so SGLang returns "
        "its per-request speculative statistics.",
    )
    upstream_api_key: str | None = Field(
        None, description="Bearer token the engines expect (vLLM/SGLang --api-key); never the clients' keys."
    )

    @field_validator("speculative", "plain")
    @classmethod
    def _urls(cls, urls: list[str]) -> list[str]:
        return [_check_url(u) for u in urls]

    @model_validator(mode="after")
    def _has_upstream(self) -> ModelRoute:
        if not self.speculative and not self.plain:
            raise ValueError("a model needs at least one upstream URL (speculative or plain)")
        return self


class RateLimits(StrictModel):
    """Per-key limits, enforced by token buckets; exceeding one is answered 429 with Retry-After."""

    requests_per_second: float | None = Field(
        None, gt=0, description="Sustained request rate; None: unlimited."
    )
    burst: int | None = Field(
        None,
        ge=1,
        description="Requests allowed at once above the rate; default: the rate rounded up (min 1).",
    )
    tokens_per_minute: int | None = Field(
        None,
        ge=1,
        description="Prompt + completion tokens per minute; a request is admitted while the budget is positive and "
        "charged its real usage when it ends. None: unlimited.",
    )


class ApiKeyEntry(RateLimits):
    """One client key in the keys file. Give `key` (hashed at load, never kept) or its `sha256`."""

    name: str = Field(
        ...,
        min_length=1,
        max_length=64,
        description="Label in metrics and logs; the key itself never appears.",
    )
    key: str | None = Field(None, min_length=8, description="The secret itself (hashed on load).")
    sha256: str | None = Field(
        None,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="Hex SHA-256 of the key, for files that hold no secrets.",
    )
    models: list[str] | None = Field(
        None, description="Models this key may use; None: every model the gateway serves."
    )

    @model_validator(mode="after")
    def _one_secret(self) -> ApiKeyEntry:
        if (self.key is None) == (self.sha256 is None):
            raise ValueError(f"key '{self.name}': give exactly one of 'key' and 'sha256'")
        return self


class ApiKeysFile(StrictModel):
    """The API keys file (YAML or JSON): a list of keys with their allow-lists and limits."""

    keys: list[ApiKeyEntry] = Field(default_factory=list, description="The client keys.")


class RequestLimits(StrictModel):
    """Size limits checked before a request reaches an engine (413 or 400)."""

    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body accepted (413 above).")
    max_messages: int = Field(256, ge=1, description="Most chat messages in one request.")
    max_prompt_chars: int = Field(
        400_000, ge=1, description="Most characters of prompt text (all messages' text, or the prompt)."
    )
    max_tokens: int = Field(
        32_768, ge=1, description="Largest max_tokens / max_completion_tokens a client may ask."
    )
    max_in_flight: int = Field(
        1024,
        ge=1,
        description="Most generation requests in progress at once over all keys; more are shed with 503 and "
        "Retry-After before they reach an engine.",
    )
    max_connections: int | None = Field(
        4096, ge=1, description="Most open client connections (uvicorn answers 503 above); None: no cap."
    )
    max_response_bytes: int = Field(
        33_554_432,
        ge=1024,
        description="Largest engine answer the gateway holds: a whole non-stream body, or one stream event "
        "(502 above).",
    )


class Timeouts(StrictModel):
    """How long the gateway waits on an engine before answering 504."""

    connect_s: float = Field(2.0, gt=0, description="TCP connect to an engine.")
    first_byte_s: float = Field(
        60.0, gt=0, description="Streams: from sending to the first event (queueing + prefill)."
    )
    total_s: float = Field(
        600.0,
        gt=0,
        description="Whole request, stream or not, retries included; also how long a client that stops reading "
        "may hold its stream. Reaching it is the client's budget running out, not an engine failure.",
    )
    client_body_s: float = Field(
        30.0, gt=0, description="Longest wait for the next piece of a client's request body (408 after)."
    )
    client_header_s: float = Field(
        10.0,
        gt=0,
        description="A connection must send complete request headers this soon after connecting (and after the "
        "first byte of each later request), or it is closed (slowloris).",
    )


class HealthChecks(StrictModel):
    """Active health checks of every engine replica."""

    interval_s: float = Field(5.0, gt=0, description="Seconds between checks of each replica.")
    timeout_s: float = Field(2.0, gt=0, description="A check slower than this fails.")
    path: str = Field("/health", description="Path probed with GET; 200 means healthy.")
    unhealthy_after: int = Field(
        2, ge=1, description="Consecutive failed checks that mark a replica unhealthy."
    )


class Retry(StrictModel):
    """Retrying on another replica, only while nothing has been sent to the client."""

    attempts: int = Field(3, ge=1, description="Most replicas tried for one request (1: no retry).")
    on_status: list[int] = Field(
        default_factory=lambda: [429, 502, 503, 504],
        description="Engine statuses retried on another replica; the last one is passed on if all fail.",
    )


class CircuitBreaker(StrictModel):
    """Stop sending to a replica that keeps failing; try it again after a pause."""

    failure_threshold: int = Field(5, ge=1, description="Consecutive failures that open the circuit.")
    open_s: float = Field(
        10.0, gt=0, description="How long an open circuit rejects before one trial request."
    )


class SharedLimits(StrictModel):
    """Rate limits shared by all gateway replicas through Redis (see serving/gateway/sharedlimits.py)."""

    redis_url: str = Field(
        ..., pattern=r"^rediss?://", description="Redis to keep the buckets in, e.g. redis://redis:6379/0."
    )
    timeout_s: float = Field(
        0.05, gt=0, description="Longest wait for Redis per call; slower counts as Redis being down."
    )
    retry_s: float = Field(
        1.0, gt=0, description="While Redis is down, each replica uses its own limits and retries after this."
    )
    key_prefix: str = Field("specstack:ratelimit", min_length=1, description="Prefix of the bucket keys.")


class StackConfig(StrictModel):
    """`specstack serve stack`: engines started from the run config's `serve:` section, and this gateway."""

    model: str | None = Field(None, description="Model name clients use; default: the engines' served name.")
    speculative_replicas: int = Field(1, ge=0, le=16, description="Engines started WITH the draft.")
    plain_replicas: int = Field(1, ge=0, le=16, description="Engines started WITHOUT the draft.")
    spec_inflight_threshold: int | None = Field(
        None, ge=1, description="Load-aware speculation threshold for this model (see ModelRoute)."
    )

    @model_validator(mode="after")
    def _some(self) -> StackConfig:
        if self.speculative_replicas + self.plain_replicas == 0:
            raise ValueError("the stack needs at least one engine replica")
        return self


class GatewayConfig(StrictModel):
    """The OpenAI-compatible gateway in front of the engine replicas."""

    host: str = Field("127.0.0.1", description="Address to listen on (0.0.0.0 in a container).")
    port: int = Field(8000, ge=1, le=65535, description="Port to listen on.")
    models: dict[str, ModelRoute] = Field(
        default_factory=dict, description="Model names clients may ask for, each with its engine pools."
    )
    api_keys_file: Path | None = Field(None, description="YAML/JSON keys file (see ApiKeysFile); None: none.")
    api_keys_env: str = Field(
        "SPECSTACK_GATEWAY_API_KEYS",
        description="Environment variable with more keys, comma-separated, each 'name=key' or just 'key'. With "
        "no keys at all the gateway is open (a warning is logged).",
    )
    default_limits: RateLimits = Field(
        default_factory=RateLimits, description="Limits for keys that set none (and for the open gateway)."
    )
    limits: RequestLimits = Field(default_factory=RequestLimits, description="Request size limits.")
    timeouts: Timeouts = Field(default_factory=Timeouts, description="Engine timeouts (504).")
    health: HealthChecks = Field(default_factory=HealthChecks, description="Active health checks.")
    retry: Retry = Field(
        default_factory=Retry, description="Retries on another replica before the first byte."
    )
    breaker: CircuitBreaker = Field(
        default_factory=CircuitBreaker, description="Per-replica circuit breaker."
    )
    drain_timeout_s: float = Field(
        30.0, ge=0, description="On shutdown, how long open requests and streams may finish before being cut."
    )
    access_log: bool = Field(
        True, description="Log one line per request (request id, key name, model, status)."
    )
    discovery_interval_s: float = Field(
        10.0, gt=0, description="How often `dns+` upstream names are resolved again (pods come and go)."
    )
    shared_limits: SharedLimits | None = Field(
        None,
        description="Share every key's rate limits between gateway replicas through Redis; None: each process "
        "keeps its own (N replicas give a key N times its limits).",
    )
    metrics_token_env: str | None = Field(
        None,
        description="Environment variable holding a bearer token that GET /metrics then requires (the metrics "
        "name keys and their usage); None: /metrics is open (keep it on an internal port or network).",
    )
    failed_auth_per_minute: int = Field(
        30,
        ge=1,
        description="Failed API-key checks allowed per client address per minute; beyond it that address gets "
        "429 for every request until its budget refills.",
    )
    stack: StackConfig | None = Field(
        None,
        description="Engines `specstack serve stack` starts (from the `serve:` section) behind the gateway.",
    )
