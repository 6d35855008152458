"""Rule-based rewards for GRPO and evaluation, as TRL reward functions `(completions, **columns) -> list[float]`.

- `fc_reward` (column `tool_calls`): 1/0, calls equal to the golden ones (order-free), see `fc`;
- `math_reward` (column `answer`): 1/0 on the final answer (math_verify + Russian number formats), see `math`;
- `code_reward` (column `tests`): share of tests passed in a sandbox, with penalties, see `code`;
- `domain_reward` (column `domain`): dispatches each row to its domain's reward, for mixed datasets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adaptation.rewards.code import code_reward, code_score
from adaptation.rewards.fc import fc_reward, fc_score
from adaptation.rewards.math import math_reward, math_score
from specstack.errors import SpecstackError

RewardFn = Callable[..., list[float]]

# domain -> (TRL reward function, the dataset column it reads, per-row scorer)
REWARDS: dict[str, tuple[RewardFn, str, Callable[[Any, Any], float]]] = {
    "fc": (fc_reward, "tool_calls", fc_score),
    "math": (math_reward, "answer", math_score),
    "code": (code_reward, "tests", code_score),
}
DOMAINS = tuple(REWARDS)


def reward_for(domain: str) -> RewardFn:
    """The TRL reward function of one domain."""
    if domain not in REWARDS:
        raise SpecstackError(f"unknown reward domain {domain!r} (one of {', '.join(DOMAINS)})")
    return REWARDS[domain][0]


def score(domain: str, completion: Any, row: dict) -> float:
    """The reward of one completion for one dataset row of `domain`."""
    reward_for(domain)
    _, column, scorer = REWARDS[domain]
    return scorer(completion, row.get(column))


def domain_reward(completions: list, domain: list[str], **columns: Any) -> list[float]:
    """TRL reward function for mixed datasets: each row is scored by the reward of its `domain`."""
    out = []
    for i, (completion, d) in enumerate(zip(completions, domain, strict=True)):
        row = {k: v[i] for k, v in columns.items() if isinstance(v, list) and len(v) == len(completions)}
        out.append(score(d, completion, row))
    return out


__all__ = [
    "DOMAINS",
    "REWARDS",
    "code_reward",
    "domain_reward",
    "fc_reward",
    "math_reward",
    "reward_for",
    "score",
]
