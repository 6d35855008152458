"""Run `adapt synth-fc`: pick tools and a persona per sample (seeded), make and review the blueprint,
simulate and review the dialogue, write the kept dialogues as SFT JSONL with `<output>.stats.json`.

Output rows follow the SFT contract and the demo corpus: `{"messages": [...], "tools": [...], "category":
"fc"}`, tool-call arguments as JSON objects, tool results as `{"role": "tool", "name", "content": <JSON>}`.
Each finished sample (kept or dropped) is appended to `<output>.done.jsonl` as one line as it completes, so
a killed run resumes where it stopped and asks no endpoint again for finished samples.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from adaptation.synth_fc.blueprint import make_blueprint
from adaptation.synth_fc.config import SynthFCConfig
from adaptation.synth_fc.roles import Roles
from adaptation.synth_fc.simulate import Dropped, review_dialogue, simulate
from adaptation.synth_fc.specs import load_personas, load_tools
from specstack.io import atomic_write_json, write_jsonl
from specstack.progress import progress_bar
from specstack.resultlog import ResultLog

log = logging.getLogger(__name__)


@dataclass
class SynthStats:
    """What happened to the samples."""

    samples: int = 0
    kept: int = 0
    dropped_blueprint: int = 0
    dropped_simulation: int = 0
    dropped_final_judge: int = 0
    blueprint_rounds: dict[str, int] = field(default_factory=dict)  # rounds -> accepted blueprints

    def count(self, result: dict) -> None:
        """Add one sample's result."""
        self.samples += 1
        if "row" in result:
            self.kept += 1
        else:
            name = f"dropped_{result['drop']}"
            setattr(self, name, getattr(self, name) + 1)
        if result.get("drop") != "blueprint":
            rounds = str(result["rounds"])
            self.blueprint_rounds[rounds] = self.blueprint_rounds.get(rounds, 0) + 1


@dataclass
class Sample:
    """One sample's seeded pick: the tools offered and the persona."""

    index: int
    tools: list[dict]
    persona: str

    @property
    def key(self) -> str:
        """A stable key of what the sample is made from, for resuming."""
        blob = json.dumps([self.index, self.tools, self.persona], ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]


def pick_samples(tools: list[dict], personas: list[str], cfg: SynthFCConfig) -> list[Sample]:
    """`cfg.samples` picks, each from its own RNG seeded by (seed, index): the same on every run."""
    samples = []
    for index in range(cfg.samples):
        rng = random.Random(f"{cfg.seed}:{index}")
        k = rng.randint(min(cfg.min_tools, len(tools)), min(cfg.max_tools, len(tools)))
        chosen = sorted(rng.sample(range(len(tools)), k))  # in the file's order
        samples.append(Sample(index, [tools[i] for i in chosen], rng.choice(personas)))
    return samples


def synth_sample(roles: Roles, sample: Sample, cfg: SynthFCConfig) -> dict:
    """`{"row", "rounds"}` for a kept dialogue, else `{"drop": blueprint|simulation|final_judge, "rounds",
    "why"}`."""
    blueprint, rounds = make_blueprint(roles, sample.tools, sample.persona, cfg.blueprint_rounds)
    if blueprint is None:
        return {"drop": "blueprint", "rounds": rounds, "why": "rejected in every round"}
    try:
        messages = simulate(roles, blueprint, sample.persona, sample.tools, cfg)
    except Dropped as e:
        return {"drop": "simulation", "rounds": rounds, "why": str(e)}
    ok, feedback = review_dialogue(roles, blueprint, sample.persona, messages)
    if not ok:
        return {"drop": "final_judge", "rounds": rounds, "why": feedback}
    return {"row": {"messages": messages, "tools": sample.tools, "category": "fc"}, "rounds": rounds}


def build_synth_fc(tools_path: str | Path, out_jsonl: str | Path, cfg: SynthFCConfig) -> SynthStats:
    """Make the dialogues against the configured endpoints; write the kept ones and the stats."""
    samples = pick_samples(load_tools(tools_path), load_personas(cfg.personas), cfg)
    log_of_done = ResultLog(Path(str(out_jsonl) + ".done.jsonl"))
    done = log_of_done.done
    todo = [s for s in samples if s.key not in done]
    if todo:
        with Roles.open(cfg) as roles, log_of_done, progress_bar() as bar:
            task = bar.add_task("synth-fc", total=len(samples), completed=len(samples) - len(todo), status="")
            kept = sum("row" in done[s.key] for s in samples if s.key in done)
            with ThreadPoolExecutor(max_workers=cfg.workers) as pool:
                futures = {pool.submit(synth_sample, roles, s, cfg): s for s in todo}
                try:
                    for future in as_completed(futures):
                        result = future.result()
                        log_of_done.add(futures[future].key, result)
                        kept += "row" in result
                        bar.update(task, advance=1, status=f"kept {kept}")
                except BaseException:
                    pool.shutdown(cancel_futures=True)
                    raise
    stats = SynthStats()
    rows = []
    for sample in samples:
        stats.count(done[sample.key])
        if "row" in done[sample.key]:
            rows.append(done[sample.key]["row"])
    write_jsonl(out_jsonl, rows)
    atomic_write_json(Path(str(out_jsonl) + ".stats.json"), vars(stats))
    log.info("synth-fc: kept %d of %d samples (%d made now)", stats.kept, stats.samples, len(todo))
    return stats
