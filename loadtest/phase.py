"""Load phases in their own process: `python -m loadtest.phase` (kept by loadtest.scenarios; reads one spec path
per stdin line and runs it, until `exit` or the end of stdin).

Locust monkey-patches the process it is imported in (gevent), so the load generator lives in a child
process and the runner, the engine launchers and the report never import it. Protocol on stdio, one line
per message prefixed with `@@`: the child prints `@@ready`, waits for the start time (unix seconds) on
stdin so that several generator processes share one clock, prints `@@progress {json}` while it runs and
`@@done {json}` at the end, then waits for the next spec. Records go to the spec's `records_path` as JSONL.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
from locust.env import Environment  # noqa: E402

from loadtest.client import ChatStreamClient  # noqa: E402
from loadtest.user import ClosedLoopChatUser, OpenLoopDispatcher, RecordSink, Workload, bind  # noqa: E402


def request_body(spec: dict[str, Any], prompt: dict[str, Any]) -> dict[str, Any]:
    """The chat request for one prompt under the phase's generation settings."""
    gen = spec["gen"]
    body: dict[str, Any] = {
        "model": spec["model"],
        "messages": prompt["messages"],
        "max_tokens": gen["max_tokens"],
        "temperature": gen["temperature"],
        "stream_options": {"include_usage": True},
    }
    if prompt.get("tools"):
        body["tools"] = prompt["tools"]
    if gen.get("ignore_eos"):
        body["ignore_eos"] = True
    body.update(gen.get("extra_body") or {})
    return body


def _say(kind: str, payload: dict | None = None) -> None:
    sys.stdout.write(f"@@{kind}" + (f" {json.dumps(payload)}" if payload is not None else "") + "\n")
    sys.stdout.flush()


def _locust_summary(env: Environment) -> dict[str, dict]:
    out = {}
    for (name, method), entry in env.stats.entries.items():
        out[f"{method} {name}"] = {
            "num_requests": entry.num_requests,
            "num_failures": entry.num_failures,
            "avg_ms": entry.avg_response_time,
            "median_ms": entry.get_response_time_percentile(0.5),
            "p90_ms": entry.get_response_time_percentile(0.9),
            "p99_ms": entry.get_response_time_percentile(0.99),
        }
    return out


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the phase described by `spec`; returns the `@@done` payload."""
    prompts, order = spec["prompts"], spec["order"]
    open_loop = spec["scenario"] == "open"
    concurrency = spec["max_inflight"] if open_loop else spec["concurrency"]
    client = ChatStreamClient(spec["base_url"], spec.get("api_key"), spec["timeout_s"], concurrency)
    sink = RecordSink(spec["records_path"])
    env = Environment(user_classes=[])
    workload = Workload(
        client,
        lambda i: request_body(spec, prompts[order[i % len(order)]]),
        sink,
        n_requests=spec.get("n_requests"),
        duration_s=spec.get("duration_s"),
        schedule=[(int(i), float(t)) for i, t in spec.get("schedule") or []],
        max_inflight=spec["max_inflight"],
        drain_timeout_s=spec["drain_timeout_s"],
        tags=spec.get("tags") or {},
        fire=env.events.request.fire,
        prompt_index=lambda i: order[i % len(order)],
    )
    user_cls = bind(OpenLoopDispatcher if open_loop else ClosedLoopChatUser, workload)
    env.user_classes = [user_cls]
    runner = env.create_local_runner()

    _say("ready")
    line = sys.stdin.readline()
    start_unix = float(line.strip() or time.time())
    workload.start(time.perf_counter() + (start_unix - time.time()))
    delay = start_unix - time.time()
    if delay > 0:
        gevent.sleep(delay)

    users = 1 if open_loop else spec["concurrency"]
    runner.start(users, spawn_rate=1e6)
    total = spec.get("n_requests") or len(workload.schedule) or None
    while not workload.finished.wait(timeout=0.5):
        _say("progress", {"done": workload.completed, "inflight": workload.inflight, "total": total})
    runner.quit()
    sink.close()
    client.close()
    return {
        "completed": workload.completed,
        "issued": workload.issued,
        "dropped": workload.dropped,
        "locust": _locust_summary(env),
    }


def main(argv: list[str]) -> int:
    """Serve phases: each stdin line is a spec path (or `exit`); one `@@done` per phase."""
    del argv
    for path in iter(lambda: sys.stdin.readline().strip(), "exit"):
        if not path:  # stdin closed
            break
        with open(path, encoding="utf-8") as f:
            spec = json.load(f)
        _say("done", run(spec))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
