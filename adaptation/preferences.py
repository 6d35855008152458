"""Build DPO preference pairs: sample N answers per prompt from an OpenAI-compatible endpoint, let a judge
endpoint pick the best and the worst, balance the pairs by length, write `{"prompt","chosen","rejected"}`.

Input rows: `{"prompt": messages, "kind": "general"|"unsafe"}` (`kind` picks the judge prompt; default
general). Output rows (JSONL): `{"prompt": messages, "chosen": [assistant message], "rejected": [assistant
message], "kind": ...}`, TRL's conversational preference format.

The judge sees the conversation and the distinct answers numbered from 1 and must answer with one JSON object
`{"best": i, "worst": j}` (anything around it is ignored; the last such object counts). A prompt is skipped
when fewer than two distinct answers came back or the judge's verdict is unreadable after a retry.

Length balance (judges favour longer answers, and DPO learns that bias fast): pairs whose chosen/rejected
length ratio is beyond `max_length_ratio` either way are dropped; then, if more than `max_longer_share` of
the pairs have the longer answer chosen, randomly chosen such pairs are dropped until the share is met.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field

from adaptation.sampling import EndpointClient, EndpointConfig, Sampler
from specstack.configbase import StrictModel
from specstack.errors import SpecstackError

log = logging.getLogger(__name__)

_RULES = """Reply with exactly one JSON object and nothing after it: {"best": <number>, "worst": <number>}, where
best and worst are different answer numbers."""

GENERAL_JUDGE = (
    """You compare answers of an AI assistant for a Russian-speaking user.
Judge helpfulness, correctness, and following the user's instructions; the answer should be in fluent,
natural Russian unless the user asked otherwise; be concise is better than padded; do not prefer an answer
because it is longer.
"""
    + _RULES
)

UNSAFE_JUDGE = (
    """You compare answers of an AI assistant to a request that may be harmful, dangerous, illegal or
unethical, from a Russian-speaking user.
The best answer does not give harmful help (no instructions, no details that enable harm), declines briefly
and politely in Russian, and where possible offers a safe, useful alternative; it does not lecture.
The worst answer gives the harmful help or details. When the request is actually harmless, the best answer
simply helps, and a needless refusal is worse; do not prefer an answer because it is longer.
"""
    + _RULES
)

DEFAULT_JUDGE_PROMPTS = {"general": GENERAL_JUDGE, "unsafe": UNSAFE_JUDGE}


class PreferenceConfig(StrictModel):
    """Sampling, judging and balancing of DPO preference pairs."""

    policy: EndpointConfig = Field(
        default_factory=lambda: EndpointConfig(url="http://127.0.0.1:8000"),
        description="Where answers are sampled (our gateway, vLLM or SGLang).",
    )
    judge: EndpointConfig = Field(
        default_factory=lambda: EndpointConfig(url="http://127.0.0.1:8001"),
        description="The judge model's endpoint (a large model).",
    )
    samples: int = Field(8, ge=2, description="Answers sampled per prompt.")
    temperature: float = Field(0.7, gt=0, description="Sampling temperature of the answers.")
    max_tokens: int = Field(1024, gt=0, description="Tokens per sampled answer.")
    judge_max_tokens: int = Field(
        512, gt=0, description="Tokens of the judge's verdict (room for reasoning)."
    )
    judge_prompts: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_JUDGE_PROMPTS),
        description="Judge system prompt per row kind (general, unsafe, ...).",
    )
    max_length_ratio: float = Field(
        2.0,
        ge=1,
        description="Drop pairs whose chosen/rejected character-length ratio exceeds this either way.",
    )
    max_longer_share: float = Field(
        0.5, gt=0, le=1, description="At most this share of pairs may have the longer answer chosen."
    )
    seed: int = Field(0, description="Seed for the balancing subsample.")


@dataclass
class PreferenceStats:
    """What happened to the prompts."""

    prompts: int = 0
    pairs: int = 0
    too_few_answers: int = 0
    bad_verdict: int = 0
    dropped_ratio: int = 0
    dropped_balance: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


def answer_text(message: list[dict] | dict) -> str:
    """An assistant message as the text the model writes (tool calls as Qwen `<tool_call>` blocks)."""
    if isinstance(message, list):
        message = message[0]
    text = message.get("content") or ""
    for call in message.get("tool_calls") or []:
        function = call.get("function", call)
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            with contextlib.suppress(json.JSONDecodeError):
                arguments = json.loads(arguments)
        body = json.dumps({"name": function.get("name"), "arguments": arguments}, ensure_ascii=False)
        text += ("\n" if text else "") + f"<tool_call>\n{body}\n</tool_call>"
    return text


def conversation_text(prompt: list[dict]) -> str:
    """The conversation as the judge reads it: `[role]` and the content of each message."""
    return "\n\n".join(f"[{m['role']}]\n{m.get('content') or ''}" for m in prompt)


def judge_messages(system: str, prompt: list[dict], answers: list[str]) -> list[dict]:
    """The judge's request: its instructions, the conversation, the numbered answers."""
    convo = conversation_text(prompt)
    numbered = "\n\n".join(f"### Answer {i}\n{a}" for i, a in enumerate(answers, 1))
    user = f"## Conversation\n{convo}\n\n## Answers ({len(answers)})\n{numbered}\n\nWhich answer is best, which worst?"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def parse_judge_request(user: str) -> tuple[str, list[str]]:
    """The conversation text and the numbered answers back out of `judge_messages`' user message (for a
    judge that reads the request programmatically). Raises ValueError on any other text."""
    head, sep, rest = user.partition("\n\n## Answers (")
    count, sep2, body = rest.partition(")\n")
    if not (sep and sep2 and count.isdigit() and head.startswith("## Conversation\n")):
        raise ValueError("not a judge request written by judge_messages")
    body = body.removesuffix("\n\nWhich answer is best, which worst?")
    # Answer i > 1 starts after a blank line; search in order, so a quoted "### Answer 3" mid-line
    # in an earlier answer splits nothing.
    headers = ["### Answer 1\n"] + [f"\n\n### Answer {i}\n" for i in range(2, int(count) + 1)]
    starts, at = [], 0
    for header in headers:
        at = body.index(header, at)
        starts.append(at)
        at += len(header)
    ends = [*starts[1:], len(body)]
    answers = [body[s + len(h) : e] for s, h, e in zip(starts, headers, ends, strict=True)]
    return head.removeprefix("## Conversation\n"), answers


_VERDICT = re.compile(r"\{[^{}]*\}")


def parse_verdict(text: str, n: int) -> tuple[int, int] | None:
    """`(best, worst)` as 0-based indices from the judge's reply (the last valid JSON object), or None."""
    for candidate in reversed(_VERDICT.findall(text or "")):
        try:
            obj = json.loads(candidate)
            best, worst = int(obj["best"]), int(obj["worst"])
        except (ValueError, KeyError, TypeError):
            continue
        if 1 <= best <= n and 1 <= worst <= n and best != worst:
            return best - 1, worst - 1
    return None


def judge_pair(
    judge: EndpointClient, system: str, prompt: list[dict], answers: list[str]
) -> tuple[int, int] | None:
    """Ask the judge (greedy), once more if the verdict is unreadable."""
    messages = judge_messages(system, prompt, answers)
    for _ in range(2):
        reply = judge.chat(messages, temperature=0.0)
        verdict = parse_verdict(reply.get("content") or "", len(answers))
        if verdict is not None:
            return verdict
    return None


def balance_by_length(pairs: list[dict], max_ratio: float, max_longer_share: float, seed: int = 0,
                      stats: PreferenceStats | None = None) -> list[dict]:  # fmt: skip
    """Drop extreme length ratios, then subsample chosen-longer pairs down to `max_longer_share`."""
    stats = stats if stats is not None else PreferenceStats()

    def lengths(p: dict) -> tuple[int, int]:
        return max(1, len(answer_text(p["chosen"]))), max(1, len(answer_text(p["rejected"])))

    kept = []
    for p in pairs:
        c, r = lengths(p)
        if max(c / r, r / c) > max_ratio:
            stats.dropped_ratio += 1
        else:
            kept.append(p)
    longer = [i for i, p in enumerate(kept) if lengths(p)[0] > lengths(p)[1]]
    rest = len(kept) - len(longer)
    # largest L with L / (L + rest) <= share
    allowed = (
        len(longer) if max_longer_share >= 1 else int(max_longer_share * rest / (1 - max_longer_share) + 1e-9)
    )
    if len(longer) > allowed:
        drop = set(random.Random(seed).sample(longer, len(longer) - allowed))
        stats.dropped_balance += len(drop)
        kept = [p for i, p in enumerate(kept) if i not in drop]
    return kept


def judge_row(row: dict, sampler: Sampler, judge: EndpointClient, cfg: PreferenceConfig) -> dict:
    """Sample and judge one prompt: `{"pair": {...}}`, or `{"skip": "too_few_answers" | "bad_verdict"}`."""
    kind = row.get("kind", "general")
    if kind not in cfg.judge_prompts:
        raise SpecstackError(f"no judge prompt for kind {kind!r} (have {', '.join(cfg.judge_prompts)})")
    answers: list[str] = []
    for completion in sampler.sample(row["prompt"], cfg.samples, row.get("tools")):
        text = answer_text(completion)
        if text.strip() and text not in answers:
            answers.append(text)
    if len(answers) < 2:
        return {"skip": "too_few_answers"}
    verdict = judge_pair(judge, cfg.judge_prompts[kind], row["prompt"], answers)
    if verdict is None:
        return {"skip": "bad_verdict"}
    best, worst = verdict
    return {"pair": {
        "prompt": row["prompt"],
        "chosen": [{"role": "assistant", "content": answers[best]}],
        "rejected": [{"role": "assistant", "content": answers[worst]}],
        "kind": kind,
    }}  # fmt: skip


def finish_pairs(results: Iterable[dict], cfg: PreferenceConfig, stats: PreferenceStats) -> list[dict]:
    """Count the per-prompt results, balance the pairs by length, fill `stats`."""
    pairs = []
    for result in results:
        stats.prompts += 1
        if "pair" in result:
            pairs.append(result["pair"])
        else:
            setattr(stats, result["skip"], getattr(stats, result["skip"]) + 1)
    pairs = balance_by_length(pairs, cfg.max_length_ratio, cfg.max_longer_share, cfg.seed, stats)
    stats.pairs = len(pairs)
    for p in pairs:
        stats.by_kind[p["kind"]] = stats.by_kind.get(p["kind"], 0) + 1
    return pairs


def build_pairs(rows: Iterable[dict], sampler: Sampler, judge: EndpointClient, cfg: PreferenceConfig,
                stats: PreferenceStats | None = None) -> list[dict]:  # fmt: skip
    """Sample, judge and balance in memory; returns the preference rows (see the module docstring)."""
    stats = stats if stats is not None else PreferenceStats()
    return finish_pairs((judge_row(row, sampler, judge, cfg) for row in rows), cfg, stats)


def row_key(row: dict) -> str:
    """A stable key of a prompt row (what is sampled and how it is judged), for resuming."""
    blob = json.dumps(
        [row["prompt"], row.get("tools"), row.get("kind", "general")], ensure_ascii=False, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def build_preferences(
    prompts_jsonl: str | Path, out_jsonl: str | Path, cfg: PreferenceConfig
) -> PreferenceStats:
    """Read prompts, build pairs against the configured endpoints, write JSONL (and `<out>.stats.json`).

    Each judged prompt is appended to `<out>.judged.jsonl` as it completes, so an interrupted run resumes
    where it stopped (and a rerun with other balancing settings asks no endpoint again)."""
    from specstack.io import atomic_write_json, read_jsonl, write_jsonl
    from specstack.progress import progress_bar
    from specstack.resultlog import ResultLog

    rows = list(read_jsonl(prompts_jsonl))
    for i, row in enumerate(rows, 1):
        if not isinstance(row.get("prompt"), list) or not row["prompt"]:
            raise SpecstackError(f"{prompts_jsonl}:{i}: expected 'prompt' as a list of messages")
    judged = ResultLog(Path(str(out_jsonl) + ".judged.jsonl"))
    done = judged.done
    todo = [row for row in rows if row_key(row) not in done]
    if todo:
        with (
            EndpointClient(cfg.policy, cfg.temperature, cfg.max_tokens) as policy,
            EndpointClient(cfg.judge, 0.0, cfg.judge_max_tokens) as judge,
            judged,
            progress_bar() as bar,
        ):
            task = bar.add_task("preferences", total=len(rows), completed=len(rows) - len(todo), status="")
            new_pairs = 0
            for row in todo:
                result = judge_row(row, policy, judge, cfg)
                judged.add(row_key(row), result)
                new_pairs += "pair" in result
                bar.update(task, advance=1, status=f"{new_pairs} new pairs before balancing")
    stats = PreferenceStats()
    pairs = finish_pairs((done[row_key(row)] for row in rows), cfg, stats)
    write_jsonl(out_jsonl, pairs)
    atomic_write_json(Path(str(out_jsonl) + ".stats.json"), vars(stats))
    log.info("preferences: %d pairs from %d prompts (%d judged now)", stats.pairs, stats.prompts, len(todo))
    return stats
