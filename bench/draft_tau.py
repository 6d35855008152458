"""EAGLE-3 draft vs the EAGLE-2-style ablation on the demo target: training time, offline τ(k), vLLM's τ.

Trains (or reuses) both heads from the config's `draft:` section (the ablation under `<output_dir>-eagle2`),
evaluates offline τ for k = 1..eval.max_k on the held-out prompts, then serves the target in vLLM (CPU,
offline engine, fp32, batch 1, greedy) plain and with the EAGLE-3 draft (num_speculative_tokens = --k) on
the same prompts: vLLM's mean acceptance length, ms/token and whether the outputs are identical.

    python bench/draft_tau.py [--config configs/demo.yaml] [--k 4] [--skip-vllm] [--skip-ablation]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "draft_tau.json"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/demo.yaml", help="Run config with a draft: section.")
    ap.add_argument("--k", type=int, default=4, help="num_speculative_tokens for the vLLM run.")
    ap.add_argument("--skip-vllm", action="store_true", help="Offline numbers only.")
    ap.add_argument("--skip-ablation", action="store_true", help="EAGLE-3 only.")
    ap.add_argument("--out", type=Path, default=RESULTS, help="Where the JSON goes.")
    args = ap.parse_args()

    import torch

    from draft_training.cli import load_draft_config
    from draft_training.data import heldout_prompts, load_tokenizer
    from draft_training.evaluate import evaluate, render_positions, render_table
    from draft_training.train import train
    from draft_training.vllm_run import run_vllm
    from specstack.io import atomic_write_json

    cfg = load_draft_config(Path(args.config))
    heads = {"EAGLE-3": cfg}
    if not args.skip_ablation:
        heads["EAGLE-2 ablation"] = cfg.model_copy(
            update={
                "head_type": "eagle2",
                "output_dir": cfg.output_dir + "-eagle2",
                "run_dir": cfg.run_dir + "-eagle2",
            }
        )
    results, train_seconds = {}, {}
    for name, c in heads.items():
        out = train(c)
        train_seconds[name] = json.loads((Path(out) / "specstack_head.json").read_text())["train_seconds"]
        results[name] = evaluate(cfg, out)  # cfg: one shared cache of target continuations
    K = cfg.eval.max_k
    print(render_table(results))
    for name, r in results.items():
        print(f"\n{name}, per-position acceptance at k={K}:\n{render_positions(r, K)}")
    print("\ntraining seconds: " + ", ".join(f"{n} {s:.0f}" for n, s in train_seconds.items()))
    report = {
        "config": str(args.config),
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
        },
        "train_seconds": train_seconds,
        "offline": {name: r.to_json() for name, r in results.items()},
    }
    if not args.skip_vllm:
        prompts = heldout_prompts(
            cfg.eval_data, load_tokenizer(cfg.target_model), cfg.eval.num_prompts, cfg.max_length
        )
        n = cfg.eval.max_new_tokens
        plain = run_vllm(cfg.target_model, prompts, n, one_at_a_time=True)
        spec = run_vllm(cfg.target_model, prompts, n, draft=cfg.output_dir, k=args.k, one_at_a_time=True)
        offline_tau = results["EAGLE-3"].tau.get(args.k)
        vllm = {
            "k": args.k,
            "tau": spec["tau"],
            "offline_tau": offline_tau,
            "relative_difference": abs(spec["tau"] - offline_tau) / offline_tau if offline_tau else None,
            "ms_per_token_plain": plain["ms_per_token"],
            "ms_per_token_spec": spec["ms_per_token"],
            "speedup": plain["ms_per_token"] / spec["ms_per_token"],
            "greedy_identical": spec["outputs"] == plain["outputs"],
            "identical_prompts": sum(a == b for a, b in zip(spec["outputs"], plain["outputs"], strict=True)),
            "prompts": len(prompts),
            "counters": spec["counters"],
        }
        report["vllm"] = vllm
        print(
            f"\nvLLM (fp32, batch 1, k={args.k}): τ {vllm['tau']:.2f} (offline {offline_tau:.2f}, "
            f"{vllm['relative_difference']:.1%} apart); {vllm['ms_per_token_plain']:.1f} -> "
            f"{vllm['ms_per_token_spec']:.1f} ms/token ({vllm['speedup']:.2f}x); greedy output identical on "
            f"{vllm['identical_prompts']}/{len(prompts)} prompts"
        )
    atomic_write_json(args.out, report)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
