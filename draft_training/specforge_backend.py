"""`backend: specforge`: hand large draft runs to SpecForge 0.2.0 on GPU nodes, then bring the result back.

`write_run` writes, under run_dir/specforge/, everything SpecForge needs for the same target and data:
  train.jsonl        conversations rendered with the target's own chat template (tools included), as
                     SpecForge's pre-formatted text ({"id", "text"}; assistant spans found by its `qwen` template)
  draft_config.json  the draft architecture (our config.json for this target and draft vocabulary)
  vocab_mapping.pt   our d2t/t2d, so SpecForge trains on the same draft vocabulary
  run.yaml           SpecForge's typed run config (offline features, local colocated trainer)
  launch.sh          feature capture (scripts/prepare_hidden_states.py), `specforge train`, `specforge export`,
                     and `specstack draft import-specforge`, which `normalize`s the export to our contract.

SpecForge's offline capture reads the aux layers through SGLang, whose layer-id convention differs from
vLLM's by one and between SGLang versions; the default layers come out the same everywhere, so this
backend trains the default layers only (set aux_layer_ids: null).
"""

from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from draft_training.config import DraftConfig
from draft_training.data import iter_conversations, load_tokenizer, prepare_data
from draft_training.export import (
    EAGLE3_ARCH,
    checkpoint_config,
    read_tensors,
    shape_from_config,
    token_ids_of,
    write_checkpoint,
)
from draft_training.model import DraftHead, HeadShape
from draft_training.target import default_aux_ids, target_config
from draft_training.vocab import DraftVocab, build_vocab, coverage_report, token_counts
from specstack.errors import SpecstackError
from specstack.io import atomic_write_text, write_jsonl

RUN_ID = "specstack-draft"
CHAT_TEMPLATE = "qwen"  # SpecForge's ChatML template: assistant spans after "<|im_start|>assistant\n"
DRAFT_TENSORS = {
    "fc.weight", "norm.weight", "lm_head.weight", "embed_tokens.weight", "d2t", "t2d",
    "midlayer.input_layernorm.weight", "midlayer.hidden_norm.weight", "midlayer.post_attention_layernorm.weight",
    "midlayer.self_attn.q_proj.weight", "midlayer.self_attn.k_proj.weight", "midlayer.self_attn.v_proj.weight",
    "midlayer.self_attn.o_proj.weight", "midlayer.mlp.gate_proj.weight", "midlayer.mlp.up_proj.weight",
    "midlayer.mlp.down_proj.weight",
}  # fmt: skip


@dataclass
class SpecForgeRun:
    """The files of a written SpecForge run."""

    root: Path
    run_config: dict[str, Any]
    commands: list[list[str]]

    @property
    def launch_script(self) -> Path:
        return self.root / "launch.sh"


def render_preformatted(cfg: DraftConfig, out: Path) -> int:
    """Training conversations as SpecForge pre-formatted text, rendered by the target's chat template."""
    tok = load_tokenizer(cfg.target_model)
    rows = []
    for n, conv in enumerate(iter_conversations(cfg.train_data)):
        text = tok.apply_chat_template(conv.messages, tools=conv.tools, tokenize=False)
        if n == 0 and "<|im_start|>assistant\n" not in text:
            raise SpecstackError(
                f"{cfg.target_model}: SpecForge's '{CHAT_TEMPLATE}' template expects ChatML (<|im_start|>) turns"
            )
        rows.append({"id": f"c{n}", "text": text})
    return write_jsonl(out, rows)


def specforge_config(cfg: DraftConfig, root: Path, lm_head_key: str) -> dict[str, Any]:
    """SpecForge 0.2.0's run config (`specforge train --config run.yaml`) for this draft config."""
    sf, o = cfg.specforge, cfg.optim
    return {
        "model": {
            "target_model_path": str(Path(cfg.target_model).resolve()),
            "draft_model_config": str(root / "draft_config.json"),
            "target_backend": "sglang",
            "vocab_mapping_path": str(root / "vocab_mapping.pt"),
            "embedding_key": "model.embed_tokens.weight",
            "lm_head_key": lm_head_key,
            "torch_dtype": sf.torch_dtype,
        },
        "data": {
            "hidden_states_path": str(root / "hidden_states"),
            "max_length": cfg.max_length,
            "chat_template": CHAT_TEMPLATE,
            "is_preformatted": True,
            "cache_dir": str(root / "cache"),
        },
        "training": {
            "strategy": "eagle3",
            "num_epochs": sf.num_epochs,
            "max_steps": o.steps,
            "batch_size": cfg.batch_size,
            "accumulation_steps": o.grad_accum,
            "learning_rate": o.lr,
            "lr_scheduler": "cosine",
            "warmup_ratio": min(1.0, o.warmup_steps / o.steps),
            "max_grad_norm": o.grad_clip,
            "ttt_length": cfg.ttt_steps,
            "attention_backend": sf.attention_backend,
            "save_interval": cfg.checkpoint_every,
            "log_interval": cfg.log_every,
            "seed": cfg.seed,
        },
        "tracking": {"report_to": "tensorboard"},
        "run_id": RUN_ID,
        "output_dir": str(root / "output"),
        "deployment": {
            "mode": "local_colocated",
            "trainer": {"nnodes": 1, "nproc_per_node": sf.nproc_per_node},
        },
    }


def launch_commands(cfg: DraftConfig, root: Path, config_path: str | Path) -> list[list[str]]:
    """Feature capture, training, export and normalisation, as argv lists (run from `root`)."""
    sf = cfg.specforge
    capture = [
        "torchrun", "--standalone", f"--nproc_per_node={sf.nproc_per_node}",
        f"{sf.repo_dir}/scripts/prepare_hidden_states.py",
        "--strategy", "eagle3",
        "--target-model-path", str(Path(cfg.target_model).resolve()),
        "--draft-model-config", str(root / "draft_config.json"),
        "--data-path", str(root / "train.jsonl"),
        "--is-preformatted",
        "--chat-template", CHAT_TEMPLATE,
        "--max-length", str(cfg.max_length),
        "--output-path", str(root / "hidden_states"),
        "--batch-size", str(sf.capture_batch_size),
        "--tp-size", "1",
    ]  # fmt: skip
    export = [
        "specforge", "export", "--to", "sglang",
        "--checkpoint", str(root / "output" / f"{RUN_ID}-latest"),
        "--draft-config", str(root / "draft_config.json"),
        "--vocab-mapping", str(root / "vocab_mapping.pt"),
        "--output-dir", str(root / "export"),
    ]  # fmt: skip
    normalize_cmd = ["specstack", "draft", "import-specforge", "--config", str(Path(config_path).resolve())]
    normalize_cmd += ["--from", str(root / "export"), "--output-dir", str(Path(cfg.output_dir).resolve())]
    return [capture, ["specforge", "train", "--config", str(root / "run.yaml")], export, normalize_cmd]


def write_run(cfg: DraftConfig, config_path: str | Path) -> SpecForgeRun:
    """Write the SpecForge run for `cfg` (read from `config_path`) under run_dir/specforge (idempotent)."""
    if cfg.aux_layer_ids is not None:
        raise SpecstackError("backend specforge trains the default aux layers only; set aux_layer_ids: null")
    if cfg.head_type != "eagle3":
        raise SpecstackError("backend specforge trains EAGLE-3 heads only (the eagle2 ablation is native)")
    root = (Path(cfg.run_dir) / "specforge").resolve()
    root.mkdir(parents=True, exist_ok=True)
    tcfg = target_config(cfg.target_model)
    data = prepare_data(cfg.train_data, cfg.target_model, cfg.max_length, Path(cfg.run_dir) / "cache")
    counts = token_counts(data, tcfg.vocab_size)
    vocab = build_vocab(counts, cfg.draft_vocab_size)
    torch.save({"d2t": vocab.d2t, "t2d": vocab.t2d}, root / "vocab_mapping.pt")
    (root / "vocab.json").write_text(json.dumps(coverage_report(counts, vocab), indent=2) + "\n")
    shape = HeadShape.from_target(tcfg, vocab.size, 3, cfg.intermediate_size)
    draft_cfg = checkpoint_config(
        shape, default_aux_ids(tcfg.num_hidden_layers), tcfg.num_hidden_layers, "eagle3", token_ids_of(tcfg)
    )
    atomic_write_text(root / "draft_config.json", json.dumps(draft_cfg, indent=2) + "\n")
    render_preformatted(cfg, root / "train.jsonl")
    tied = getattr(tcfg, "tie_word_embeddings", False)
    run_config = specforge_config(cfg, root, "model.embed_tokens.weight" if tied else "lm_head.weight")
    atomic_write_text(root / "run.yaml", yaml.safe_dump(run_config, sort_keys=False))
    commands = launch_commands(cfg, root, config_path)
    script = [
        "#!/usr/bin/env bash",
        f"# SpecForge 0.2.0 run for {cfg.target_model}; written by specstack.",
        "set -euo pipefail",
    ]
    script += [shlex.join(c) for c in commands]
    atomic_write_text(root / "launch.sh", "\n".join(script) + "\n")
    (root / "launch.sh").chmod(0o755)
    return SpecForgeRun(root, run_config, commands)


def launch_run(run: SpecForgeRun) -> None:
    """Run the launch script here (a GPU node with SpecForge, SGLang and a SpecForge checkout)."""
    if not torch.cuda.is_available():
        raise SpecstackError(
            "SpecForge needs CUDA GPUs; copy the run directory to a GPU node and run launch.sh"
        )
    subprocess.run(["bash", str(run.launch_script)], check=True)


def normalize(source: str | Path, target_dir: str | Path, out_dir: str | Path) -> Path:
    """Turn a SpecForge EAGLE-3 export (`specforge export --to sglang`, or `--to hf`) into our checkpoint.

    Adds the target's embedding when absent, drops d2t/t2d at full vocabulary (vLLM refuses them), strips
    trainer prefixes, refuses unknown tensors, and rewrites config.json per the contract. SpecForge's own
    aux ids, if any, follow SGLang (layer outputs): they become input-of-layer ids (+1).
    """
    source = Path(source)
    cfg_path = source / "config.json"
    if not cfg_path.is_file():
        raise SpecstackError(f"{source}: not a SpecForge export (no config.json)")
    sf_cfg = json.loads(cfg_path.read_text())
    if EAGLE3_ARCH not in (sf_cfg.get("architectures") or []):
        raise SpecstackError(f"{source}: architectures {sf_cfg.get('architectures')} is not {EAGLE3_ARCH}")
    tensors = {k.removeprefix("draft_model."): v for k, v in read_tensors(source).items()}
    unknown = sorted(set(tensors) - DRAFT_TENSORS)
    if unknown:
        raise SpecstackError(f"{source}: unexpected tensors {unknown[:5]} (SGLang would skip them silently)")
    tcfg = target_config(target_dir)
    shape = shape_from_config(sf_cfg, tensors)
    if shape.vocab_size != tcfg.vocab_size or shape.target_hidden_size != tcfg.hidden_size:
        raise SpecstackError(f"{source}: the draft does not match the target {target_dir}")
    vocab = None
    if shape.draft_vocab_size < shape.vocab_size:
        if "d2t" not in tensors:
            raise SpecstackError(f"{source}: draft vocabulary {shape.draft_vocab_size} < target but no d2t")
        vocab = DraftVocab.from_d2t(tensors["d2t"], shape.vocab_size)
    if "embed_tokens.weight" not in tensors:
        tensors["embed_tokens.weight"] = read_tensors(target_dir)["model.embed_tokens.weight"]
    head = DraftHead(shape, vocab)
    head.load_state_dict({k: v.float() for k, v in tensors.items() if k not in ("d2t", "t2d")}, strict=True)
    L = tcfg.num_hidden_layers
    sf_ids = (sf_cfg.get("eagle_config") or {}).get("eagle_aux_hidden_state_layer_ids")
    aux_ids = [i + 1 for i in sf_ids] if sf_ids else default_aux_ids(L)
    info = {"source": str(source), "backend": "specforge"}
    return write_checkpoint(
        head,
        out_dir,
        aux_ids=aux_ids,
        num_target_layers=L,
        head_type="eagle3",
        token_ids=token_ids_of(tcfg),
        info=info,
    )
