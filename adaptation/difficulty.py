"""Difficulty filter for GRPO prompts: sample k answers per prompt, score them with the domain's reward, and
drop the prompts every sample solves (k/k): they give GRPO no signal (all advantages are zero)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from pydantic import Field

from adaptation.rewards import score
from adaptation.sampling import EndpointConfig, Sampler, row_tools
from specstack.configbase import StrictModel


class DifficultyFilterConfig(StrictModel):
    """Drop prompts the current model already solves every time."""

    enabled: bool = Field(True, description="Run the filter before each GRPO domain.")
    samples: int = Field(8, ge=1, description="Answers sampled per prompt.")
    solved_at: float = Field(1.0, description="A sample counts as solved when its reward is at least this.")
    drop_unsolved: bool = Field(
        False, description="Also drop prompts no sample solves (0/k) (the reference drops only k/k)."
    )
    temperature: float = Field(0.7, gt=0, description="Sampling temperature.")
    prompt_workers: int = Field(
        4,
        ge=1,
        description="Prompts sampled at once from the endpoint (each with up to endpoint.concurrency requests).",
    )
    max_tokens: int = Field(512, gt=0, description="Tokens per sampled answer.")
    endpoint: EndpointConfig | None = Field(
        None, description="Sample from this OpenAI-compatible endpoint; unset: from the local model (slow)."
    )


@dataclass
class FilterStats:
    """How many prompts were kept and dropped, and the solve-count histogram."""

    kept: int = 0
    dropped_solved: int = 0
    dropped_unsolved: int = 0
    solved_histogram: dict[int, int] = field(default_factory=dict)


def solve_count(row: dict, sampler: Sampler, k: int, solved_at: float = 1.0) -> int:
    """How many of k sampled answers to the row's prompt reach `solved_at` under the row's domain reward."""
    completions = sampler.sample(row["prompt"], k, row_tools(row))
    return sum(score(row["domain"], c, row) >= solved_at for c in completions)


def filter_prompts(
    rows: Iterable[dict], sampler: Sampler, cfg: DifficultyFilterConfig, stats: FilterStats | None = None
) -> Iterator[dict]:
    """The rows worth training on (see the module docstring); `stats` is filled as rows go by, with a
    progress bar over the prompts."""
    from specstack.progress import progress_bar

    stats = stats if stats is not None else FilterStats()
    rows = list(rows)
    workers = (
        cfg.prompt_workers if cfg.endpoint is not None else 1
    )  # a local model samples one prompt at a time
    with ThreadPoolExecutor(max_workers=workers) as pool, progress_bar() as bar:
        task = bar.add_task("difficulty filter", total=len(rows), status="")
        counts = pool.map(lambda row: solve_count(row, sampler, cfg.samples, cfg.solved_at), rows)
        for row, solved in zip(rows, counts, strict=True):
            keep = _tally(solved, cfg, stats)
            bar.update(task, advance=1, status=f"kept {stats.kept}")
            if keep:
                yield row


def _tally(solved: int, cfg: DifficultyFilterConfig, stats: FilterStats) -> bool:
    """Count one prompt's solve count in `stats`; whether the prompt is kept."""
    stats.solved_histogram[solved] = stats.solved_histogram.get(solved, 0) + 1
    if solved == cfg.samples:
        stats.dropped_solved += 1
        return False
    if solved == 0 and cfg.drop_unsolved:
        stats.dropped_unsolved += 1
        return False
    stats.kept += 1
    return True
