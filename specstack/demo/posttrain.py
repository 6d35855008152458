"""Post-training on the demo models, a few steps per stage: target (the SFT stage) -> GRPO (fc, math, code)
-> DPO pairs (answers sampled from the GRPO model served by vLLM, judged by the stand-in judge) -> DPO ->
the eval table over base, adapted, target, grpo and dpo.

Every stage writes `<demo out_dir>/post/<stage>/` whole, stamped with a key of its config and its inputs'
keys, and is reused while the key matches; its resumable work lives in `post/runs/<stage>-<key>/` and is
removed once the stage is done (`specstack.demo.build.cached_stage`, as every demo stage).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from specstack.cache import config_hash, read_stamp
from specstack.config import RunConfig
from specstack.demo.build import adapted_dir, base_dir, cached_stage, corpus_dir, target_dir, target_key
from specstack.demo.config import DemoConfig
from specstack.io import read_jsonl, write_jsonl

STAGES = ("grpo", "preferences", "dpo", "eval")


class DemoPostLayout:
    """Where the demo's post-training stages write."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def stage(self, name: str) -> Path:
        return self.root / name

    def run_dir(self, name: str, key: str) -> Path:
        return self.root / "runs" / f"{name}-{key}"

    @property
    def grpo_model(self) -> Path:
        return self.stage("grpo") / "model"

    @property
    def pairs(self) -> Path:
        return self.stage("preferences") / "pairs.jsonl"

    @property
    def dpo_model(self) -> Path:
        return self.stage("dpo") / "model"


def stage_keys(cfg: DemoConfig, seed: int) -> dict[str, str]:
    """Each stage's key: its own settings and the key of what it reads."""
    post = cfg.post
    keys = {"grpo": config_hash({"target": target_key(cfg, seed), "grpo": post.grpo.model_dump(mode="json")})}
    keys["preferences"] = config_hash(
        {"grpo": keys["grpo"], "prefs": post.preferences.model_dump(mode="json")}
    )
    keys["dpo"] = config_hash({"prefs": keys["preferences"], "dpo": post.dpo.model_dump(mode="json")})
    keys["eval"] = config_hash({"dpo": keys["dpo"], "eval": post.eval.model_dump(mode="json")})
    return keys


def _stage(lay: DemoPostLayout, name: str, key: str, build: Callable[[Path, Path], dict]) -> Path:
    return cached_stage(name, lay.stage(name), key, lay.run_dir(name, key), build)


def _copy_model(model: Path, dest: Path) -> None:
    shutil.copytree(model, dest / "model")


def preference_prompts(sft_jsonl: Path, limit: int) -> list[dict]:
    """`{"prompt", "reference"}` rows: the messages up to the first assistant reply of SFT conversations
    whose first reply is plain text (no tool call), and that reply as the judge's reference."""
    rows = []
    for row in read_jsonl(sft_jsonl):
        messages = row["messages"]
        first = next((i for i, m in enumerate(messages) if m["role"] == "assistant"), None)
        if first is None or messages[first].get("tool_calls") or not messages[first].get("content"):
            continue
        prompt = [{"role": m["role"], "content": m.get("content") or ""} for m in messages[:first]]
        rows.append({"prompt": prompt, "reference": messages[first]["content"], "kind": "general"})
        if len(rows) == limit:
            break
    return rows


def run_grpo_stage(cfg: DemoConfig, seed: int, lay: DemoPostLayout, key: str) -> Path:
    from adaptation.grpo import run_grpo

    def build(work: Path, out: Path) -> dict:
        grpo = cfg.post.grpo.model_copy(update={"seed": seed})
        model = run_grpo(target_dir(cfg), corpus_dir(cfg) / "rl_train.jsonl", work, grpo)
        _copy_model(model, out)
        filters = {
            d: json.loads(p.read_text()) for d in grpo.domains if (p := work / d / "filter.json").is_file()
        }
        return {"difficulty_filter": filters}

    return _stage(lay, "grpo", key, build)


def run_preferences_stage(run: RunConfig, cfg: DemoConfig, lay: DemoPostLayout, key: str) -> Path:
    from adaptation.preferences import PreferenceConfig, build_preferences
    from adaptation.sampling import EndpointConfig
    from serving.engines import EngineConfig, running_engine
    from specstack.demo.standin_judge import ReferenceJudge

    def build(work: Path, out: Path) -> dict:
        p = cfg.post.preferences
        rows = preference_prompts(corpus_dir(cfg) / "sft_train.jsonl", p.prompts)
        prompts = work / "prompts.jsonl"
        write_jsonl(prompts, [{"prompt": r["prompt"], "kind": r["kind"]} for r in rows])
        engine = (run.serve or EngineConfig()).model_copy(
            update={"model": lay.grpo_model, "draft": None, "speculative": False, "served_model_name": "policy",
                    "port": 0, "enable_tool_calls": False}
        )  # fmt: skip
        with (
            running_engine(engine, prefix="[policy] ") as policy_url,
            ReferenceJudge.for_prompts(rows) as judge_url,
        ):
            settings = PreferenceConfig(
                policy=EndpointConfig(url=policy_url, model="policy", concurrency=4),
                judge=EndpointConfig(url=judge_url, model="stand-in-judge"),
                samples=p.samples,
                temperature=p.temperature,
                max_tokens=p.max_tokens,
                max_length_ratio=p.max_length_ratio,
            )
            stats = build_preferences(prompts, work / "pairs.jsonl", settings)
        shutil.copy(work / "pairs.jsonl", out / "pairs.jsonl")
        return {
            "stats": vars(stats),
            "judge": "stand-in: similarity to the corpus reference (no judge model here)",
        }

    return _stage(lay, "preferences", key, build)


def run_dpo_stage(cfg: DemoConfig, seed: int, lay: DemoPostLayout, key: str) -> Path:
    from adaptation.dpo import run_dpo

    def build(work: Path, out: Path) -> dict:
        dpo = cfg.post.dpo.model_copy(update={"seed": seed})
        _copy_model(run_dpo(lay.grpo_model, lay.pairs, work, dpo), out)
        return {}

    return _stage(lay, "dpo", key, build)


def checkpoints(cfg: DemoConfig, lay: DemoPostLayout) -> list[tuple[str, Path]]:
    """The checkpoints the eval table compares, in pipeline order."""
    named = [("base", base_dir(cfg))]
    if cfg.adapt.enabled:
        named.append(("adapted", adapted_dir(cfg)))
    return [*named, ("sft (target)", target_dir(cfg)), ("grpo", lay.grpo_model), ("dpo", lay.dpo_model)]


def run_eval_stage(cfg: DemoConfig, lay: DemoPostLayout, key: str) -> Path:
    from adaptation.eval.inputs import read_eval_data
    from adaptation.eval.run import Checkpoint, evaluate_checkpoints
    from adaptation.eval.table import render_markdown
    from specstack.io import atomic_write_json, atomic_write_text
    from specstack.progress import progress_bar

    def build(work: Path, out: Path) -> dict:
        e, corpus = cfg.post.eval, corpus_dir(cfg)
        data = read_eval_data(
            corpus / "rl_heldout.jsonl",
            corpus / "sft_heldout.jsonl",
            corpus / "text",
            e.max_prompts,
            e.max_conversations,
            e.max_documents,
        )
        named = [Checkpoint(name, path) for name, path in checkpoints(cfg, lay)]
        report = evaluate_checkpoints(named, data, e.max_new_tokens, progress_bar())
        atomic_write_json(out / "eval.json", report)
        atomic_write_text(out / "eval.md", render_markdown(report))
        return {}

    return _stage(lay, "eval", key, build)


def post_root(cfg: DemoConfig) -> Path:
    return cfg.out_dir / "post"


def run_posttrain(run: RunConfig, cfg: DemoConfig, root: Path | None = None) -> Path:
    """GRPO -> preference pairs -> DPO -> eval on the built demo target, under `root` (default
    `<out_dir>/post`); returns the eval table (eval.md)."""
    lay = DemoPostLayout(root or post_root(cfg))
    keys = stage_keys(cfg, run.seed)
    run_grpo_stage(cfg, run.seed, lay, keys["grpo"])
    run_preferences_stage(run, cfg, lay, keys["preferences"])
    run_dpo_stage(cfg, run.seed, lay, keys["dpo"])
    return run_eval_stage(cfg, lay, keys["eval"]) / "eval.md"


def describe_posttrain(cfg: DemoConfig) -> str:
    """One line for `make demo`'s summary: pairs built, and what the stages took."""
    lay = DemoPostLayout(post_root(cfg))
    stats = read_stamp(lay.stage("preferences"))["stats"]
    seconds = sum(read_stamp(lay.stage(s)).get("seconds", 0) for s in STAGES)
    return f"GRPO, {stats['pairs']} DPO pairs, DPO, eval table in {seconds:.0f}s; see eval.md"
