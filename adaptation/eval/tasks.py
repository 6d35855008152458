"""Task accuracy on held-out RL prompts with the same rewards GRPO trains on: function calling by category
(simple, multiple, parallel, irrelevance), math, code (share of rows whose tests all pass, and the mean
reward). One answer per prompt from any sampler (an OpenAI-compatible endpoint or a local model; give it
temperature 0 for greedy answers)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from adaptation.rewards import score
from adaptation.sampling import Sampler, row_tools


def evaluate_tasks(rows: Iterable[dict], sampler: Sampler) -> dict[str, dict[str, float]]:
    """`{"fc": {"simple": acc, ..., "all": acc}, "math": {"all": acc}, "code": {"all": acc, "mean_reward": r}}`
    plus `n` (rows) per group; accuracy = share of rows whose reward is 1."""
    rewards: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        completion = sampler.sample(row["prompt"], 1, row_tools(row))[0]
        r = score(row["domain"], completion, row)
        rewards[row["domain"]]["all"].append(r)
        if row.get("category"):
            rewards[row["domain"]][row["category"]].append(r)
    out: dict[str, dict[str, float]] = {}
    for domain, groups in rewards.items():
        out[domain] = {}
        for group, values in sorted(groups.items()):
            out[domain][group] = sum(v >= 1.0 for v in values) / len(values)
            out[domain][f"n_{group}"] = len(values)
        if domain == "code":
            out[domain]["mean_reward"] = sum(groups["all"]) / len(groups["all"])
    return out
