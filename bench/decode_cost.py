"""Decode cost of the demo target in vLLM (CPU) vs a one-layer model of the same width.

Speculative decoding pays only when a draft step is much cheaper than a target step. An EAGLE-3 head is
one decoder layer (plus fc and lm_head) at the target's width, so a one-layer cut of the target (layer 0,
embeddings, final norm, lm_head) prices it. Both run in vLLM's offline engine, batch 1, greedy, the same
number of tokens; the table gives ms/token, the ratio, and the weight bytes streamed per second.

    python bench/decode_cost.py [--model artifacts/demo/target] [--tokens 128] [--dtype bfloat16]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "decode_cost.json"

TIMER = r"""
import json, sys, time
from vllm import LLM, SamplingParams
model, dtype, tokens = sys.argv[1], sys.argv[2], int(sys.argv[3])
llm = LLM(model=model, dtype=dtype, enforce_eager=True, max_model_len=1024, max_num_seqs=1, seed=0)
params = SamplingParams(max_tokens=tokens, temperature=0, ignore_eos=True)
prompt = "Продаю велосипед в хорошем состоянии"
llm.generate([prompt], params, use_tqdm=False)  # warm-up
best = float("inf")
for _ in range(3):
    t0 = time.perf_counter()
    llm.generate([prompt], params, use_tqdm=False)
    best = min(best, time.perf_counter() - t0)
print("RESULT " + json.dumps({"seconds": best, "tokens": tokens}))
"""


def one_layer_copy(model_dir: Path, out_dir: Path) -> Path:
    """The target cut down to its first decoder layer: the cost proxy of a one-layer draft head."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    model.model.layers = model.model.layers[:1]
    model.config.num_hidden_layers = 1
    model.config.layer_types = model.config.layer_types[:1]
    model.save_pretrained(str(out_dir))
    AutoTokenizer.from_pretrained(str(model_dir)).save_pretrained(str(out_dir))
    return out_dir


def weight_bytes(model_dir: Path, dtype: str) -> int:
    """Bytes of weights read per decode step (all parameters once) at `dtype`."""
    from safetensors import safe_open

    count = 0
    with safe_open(str(model_dir / "model.safetensors"), "pt") as f:
        for name in f.keys():  # noqa: SIM118 (safe_open has no __iter__)
            count += math.prod(f.get_slice(name).get_shape())
    return count * (2 if dtype in ("bfloat16", "float16") else 4)


def time_decode(model_dir: Path, dtype: str, tokens: int) -> float:
    """Seconds per generated token in a fresh vLLM process."""
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    out = subprocess.run(
        [sys.executable, "-c", TIMER, str(model_dir), dtype, str(tokens)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"vLLM run failed for {model_dir}:\n{out.stderr[-3000:]}")
    result = json.loads(lines[-1][len("RESULT ") :])
    return result["seconds"] / result["tokens"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=Path("artifacts/demo/target"))
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    args = parser.parse_args()
    if not (args.model / "config.json").is_file():
        raise SystemExit(f"error: {args.model} is not a model directory (run `make demo` first)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        one_layer = one_layer_copy(args.model, Path(tmp) / "one_layer")
        for name, path in (("target", args.model), ("one layer", one_layer)):
            per_token = time_decode(path, args.dtype, args.tokens)
            size = weight_bytes(path, args.dtype)
            rows.append(
                {
                    "model": name,
                    "ms_per_token": per_token * 1e3,
                    "weight_mb": size / 1e6,
                    "bandwidth_gb_s": size / per_token / 1e9,
                }
            )
    ratio = rows[0]["ms_per_token"] / rows[1]["ms_per_token"]
    print("| model | ms/token | weights MB | weight GB/s |\n|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['ms_per_token']:.2f} | {r['weight_mb']:.1f} | {r['bandwidth_gb_s']:.1f} |"
        )
    print(
        f"\ntarget step / one-layer step = {ratio:.2f}x  (dtype {args.dtype}, batch 1, {args.tokens} tokens)"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"dtype": args.dtype, "tokens": args.tokens, "rows": rows, "ratio": ratio}, indent=2)
        + "\n"
    )


if __name__ == "__main__":
    main()
