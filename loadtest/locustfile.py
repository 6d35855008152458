"""Locust entry for interactive and distributed use (the runner does not need it; it drives Locust from Python).

    # web UI, closed loop (users = concurrency):
    locust -f loadtest/locustfile.py --host http://127.0.0.1:8000 ChatUser
    # headless open loop at 12 req/s for 2 minutes, records to JSONL:
    locust -f loadtest/locustfile.py --host URL --headless -u 1 -t 2m --rate 12 --records out.jsonl FixedRateUser
    # rates one process cannot generate: a master and N workers, N dispatchers (-u N --dispatchers N), each
    # at rate/N; the master forwards these options (and --records: each worker appends its pid) to workers
    locust -f loadtest/locustfile.py --master --expect-workers 4 --headless -u 4 --dispatchers 4 -t 2m \
        --rate 400 --records out.jsonl FixedRateUser
    locust -f loadtest/locustfile.py --worker --master-host 127.0.0.1 FixedRateUser     # x4

FixedRateUser instances are open-loop dispatchers: each sends rate/dispatchers arrivals per second on its own
schedule (the sum of independent Poisson streams is a Poisson stream of the total rate) and never waits
for responses. Locust's statistics show "POST chat" (E2E), "TTFT chat" and "TPOT chat"; --records adds one
JSONL line per request (per process: the pid is appended) with ITL lists and τ.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

from locust import events

from loadtest.client import ChatStreamClient
from loadtest.config import DEFAULT_DATASET
from loadtest.dataset import load_prompts
from loadtest.phase import request_body
from loadtest.user import ClosedLoopChatUser, OpenLoopDispatcher, RecordSink, Workload

_shared: dict[str, object] = {}


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    group = parser.add_argument_group("specstack")
    group.add_argument("--dataset", default=DEFAULT_DATASET, help="SFT JSONL with the prompts.")
    group.add_argument("--model", default="", help="Model name in requests.")
    group.add_argument("--max-tokens", type=int, default=128)
    group.add_argument("--temperature", type=float, default=0.0)
    group.add_argument("--api-key", default="", help="Bearer key, if the server checks keys.")
    group.add_argument("--rate", type=float, default=12.0, help="FixedRateUser: total arrivals per second.")
    group.add_argument("--arrival", choices=["poisson", "constant"], default="poisson")
    group.add_argument("--seed", type=int, default=0)
    group.add_argument("--records", default="", help="Append one JSONL record per request to this path.")
    group.add_argument(
        "--max-inflight", type=int, default=1024, help="FixedRateUser: in-flight cap per user."
    )
    group.add_argument(
        "--dispatchers",
        type=int,
        default=1,
        help="FixedRateUser: how many run in all (= -u); each sends rate/this.",
    )


def _setup(environment) -> tuple[ChatStreamClient, list[dict], RecordSink]:
    if "client" not in _shared:
        o = environment.parsed_options
        prompts = load_prompts(o.dataset, seed=o.seed)
        _shared["client"] = ChatStreamClient(
            environment.host, o.api_key or None, 600.0, max(64, o.max_inflight)
        )
        _shared["prompts"] = prompts
        _shared["sink"] = RecordSink(f"{o.records}.{os.getpid()}" if o.records else None)
        model = o.model or _shared["client"].first_model()  # type: ignore[attr-defined]
        _shared["spec"] = {"model": model, "gen": {"max_tokens": o.max_tokens,
                                                                     "temperature": o.temperature}}  # fmt: skip
    return _shared["client"], _shared["prompts"], _shared["sink"]  # type: ignore[return-value]


def _workload(environment, **kw) -> Workload:
    client, prompts, sink = _setup(environment)
    rng = random.Random(environment.parsed_options.seed)
    order = [rng.randrange(len(prompts)) for _ in range(100_000)]
    spec = _shared["spec"]
    wl = Workload(client, lambda i: request_body(spec, prompts[order[i % len(order)]]), sink,
                  fire=environment.events.request.fire, tags={"scenario": kw.pop("scenario")}, **kw)  # fmt: skip
    wl.start()
    return wl


def _arrivals(rate: float, arrival: str, seed: int, offset: float) -> Iterator[tuple[int, float]]:
    rng = random.Random(seed)
    t, i = offset, 0
    while True:
        t += rng.expovariate(rate) if arrival == "poisson" else 1.0 / rate
        yield i, t
        i += 1


class ChatUser(ClosedLoopChatUser):
    """Closed loop: one request after another (Locust users = concurrency)."""

    abstract = False

    def on_start(self) -> None:
        if "closed" not in _shared:
            _shared["closed"] = _workload(self.environment, scenario="closed")
        self.workload = _shared["closed"]  # type: ignore[assignment]


class FixedRateUser(OpenLoopDispatcher):
    """Open loop: a dispatcher sending rate/dispatchers arrivals per second, independent of responses."""

    abstract = False
    fixed_count = 0

    def on_start(self) -> None:
        o = self.environment.parsed_options
        users = max(1, o.dispatchers)
        seed = o.seed + id(self) % 100_003
        rate = o.rate / users
        offset = random.Random(seed).random() / rate if o.arrival == "constant" else 0.0
        self.workload = _workload(self.environment, scenario="open", max_inflight=o.max_inflight,
                                  schedule=_arrivals(rate, o.arrival, seed, offset))  # fmt: skip
