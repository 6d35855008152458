"""Decode cost in vLLM (CPU): the demo target vs a one-layer model, and what target shape would pay.

Speculative decoding pays only when a draft step is much cheaper than a target step.

- Default mode: an EAGLE-3 head is one decoder layer (plus fc and lm_head) at the target's width, so a
  one-layer cut of the target (layer 0, embeddings, final norm, lm_head) prices it. Both run in vLLM's
  offline engine, batch 1, greedy, the same number of tokens; the table gives ms/token, the ratio, and the
  weight bytes streamed per second.
- `--shapes 8x512,32x256`: random-weight Qwen3 targets of those depths x widths (the demo target's
  tokenizer, head_dim 64, SwiGLU 3x width), each with a random EAGLE-3 head, decoded plain and with k draft
  tokens. A random head is (almost) never accepted, so every speculative step yields one token and the
  ms/token of that run is the cost of one speculative step. The bound on the speedup at acceptance length
  τ is τ x plain step / speculative step.

    python bench/decode_cost.py [--model artifacts/demo/target] [--tokens 128] [--dtype bfloat16]
    python bench/decode_cost.py --shapes 8x512,16x384,32x256 [--k 4] [--tau 3.3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"

TIMER = r"""
import json, sys, time
from vllm import LLM, SamplingParams
model, dtype, tokens, draft, k = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
spec = {"speculative_config": {"method": "eagle3", "model": draft, "num_speculative_tokens": k}} if k else {}
llm = LLM(model=model, dtype=dtype, enforce_eager=True, max_model_len=1024, max_num_seqs=1, seed=0, **spec)
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


def random_target_with_head(tokenizer_dir: Path, layers: int, width: int, out_dir: Path) -> tuple[Path, Path]:
    """A random Qwen3 of `layers` x `width` with `tokenizer_dir`'s tokenizer, and a random EAGLE-3 head."""
    from transformers import AutoTokenizer

    from draft_training.export import token_ids_of, write_checkpoint
    from draft_training.model import DraftHead, HeadShape
    from draft_training.target import default_aux_ids
    from draft_training.vocab import DraftVocab
    from tests.tiny_models import ModelShape, new_model, save_model_dir

    heads = width // 64
    shape = ModelShape(hidden_size=width, num_hidden_layers=layers, num_attention_heads=heads,
                       num_key_value_heads=max(1, heads // 4), head_dim=64, intermediate_size=3 * width)  # fmt: skip
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    model = new_model(shape, tokenizer)
    target = save_model_dir(model, tokenizer, out_dir / "target")
    vocab = model.config.vocab_size
    head = DraftHead(HeadShape.from_target(model.config, vocab), DraftVocab.identity(vocab))
    draft = write_checkpoint(head, out_dir / "draft", aux_ids=default_aux_ids(layers), num_target_layers=layers,
                             head_type="eagle3", token_ids=token_ids_of(model.config))  # fmt: skip
    return target, draft


def weight_bytes(model_dir: Path, dtype: str) -> int:
    """Bytes of weights read per decode step (all parameters once) at `dtype`."""
    from safetensors import safe_open

    count = 0
    with safe_open(str(model_dir / "model.safetensors"), "pt") as f:
        for name in f.keys():  # noqa: SIM118 (safe_open has no __iter__)
            count += math.prod(f.get_slice(name).get_shape())
    return count * (2 if dtype in ("bfloat16", "float16") else 4)


def time_decode(model_dir: Path, dtype: str, tokens: int, draft: Path | None = None, k: int = 0) -> float:
    """Seconds per generated token in a fresh vLLM process (with `draft` and k draft tokens when given)."""
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            TIMER,
            str(model_dir),
            dtype,
            str(tokens),
            str(draft or ""),
            str(k if draft else 0),
        ],
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


def target_vs_one_layer(model: Path, dtype: str, tokens: int) -> None:
    """The default mode: the target's ms/token against its one-layer cut's."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        one_layer = one_layer_copy(model, Path(tmp) / "one_layer")
        for name, path in (("target", model), ("one layer", one_layer)):
            per_token = time_decode(path, dtype, tokens)
            size = weight_bytes(path, dtype)
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
    print(f"\ntarget step / one-layer step = {ratio:.2f}x  (dtype {dtype}, batch 1, {tokens} tokens)")
    write_json("decode_cost.json", {"dtype": dtype, "tokens": tokens, "rows": rows, "ratio": ratio})


def parse_shape(spec: str) -> tuple[int, int]:
    """ "32x256" -> (32, 256); a clear exit for anything else."""
    match = re.fullmatch(r"(\d+)x(\d+)", spec.strip().lower())
    if not match or int(match[1]) < 4 or int(match[2]) % 64:
        raise SystemExit(
            f"error: shape {spec!r} is not LAYERSxWIDTH with >= 4 layers and a width divisible by 64"
        )
    return int(match[1]), int(match[2])


def shape_sweep(model: Path, shapes: list[str], k: int, tau: float, dtype: str, tokens: int) -> None:
    """The `--shapes` mode: plain and speculative step of random targets, and the bound at τ."""
    rows = []
    for spec in shapes:
        layers, width = parse_shape(spec)
        with tempfile.TemporaryDirectory() as tmp:
            target, draft = random_target_with_head(model, layers, width, Path(tmp))
            plain = time_decode(target, dtype, tokens) * 1e3
            step = time_decode(target, dtype, tokens, draft, k) * 1e3
            params = weight_bytes(target, "float32") // 4
        rows.append({"shape": spec, "params_m": params / 1e6, "plain_ms": plain, "spec_step_ms": step,
                     "bound": tau * plain / step})  # fmt: skip
        print(f"{spec}: plain {plain:.2f} ms, speculative step (k={k}) {step:.2f} ms", flush=True)
    print(f"\n| target | params | plain step | spec step (k={k}) | bound at τ={tau} |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['shape']} | {r['params_m']:.1f}M | {r['plain_ms']:.2f} ms | {r['spec_step_ms']:.2f} ms "
              f"| {r['bound']:.2f}x |")  # fmt: skip
    write_json(
        "decode_cost_shapes.json", {"dtype": dtype, "tokens": tokens, "k": k, "tau": tau, "rows": rows}
    )


def write_json(name: str, data: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / name).write_text(json.dumps(data, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=Path("artifacts/demo/target"),
                        help="The demo target (default mode), or whose tokenizer the random targets use.")  # fmt: skip
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    parser.add_argument("--shapes", help="Comma-separated LAYERSxWIDTH random targets, e.g. 8x512,32x256.")
    parser.add_argument("--k", type=int, default=4, help="Draft tokens per speculative step (--shapes).")
    parser.add_argument("--tau", type=float, default=3.3, help="Acceptance length for the bound (--shapes).")
    args = parser.parse_args()
    if not (args.model / "config.json").is_file():
        raise SystemExit(f"error: {args.model} is not a model directory (run `make demo` first)")
    if args.shapes:
        shape_sweep(args.model, args.shapes.split(","), args.k, args.tau, args.dtype, args.tokens)
    else:
        target_vs_one_layer(args.model, args.dtype, args.tokens)


if __name__ == "__main__":
    main()
