"""Train the draft head with a training-time-test (TTT) unroll against the frozen target.

Each micro-batch: the target gives aux states and logits; the head unrolls `ttt_steps` chained steps
(step j of row t reads token x[t+j] and the head's own previous `pre`, exactly as the engine drafts) and
each step is trained with soft cross-entropy against the target's next-token distribution restricted to
the draft vocabulary; step j weighs loss_decay**(j-1). Checkpoints are atomic and hold the model, the
optimizer, the data position and every RNG, so a killed run resumes to the same final weights.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from draft_training.config import DraftConfig
from draft_training.data import (
    TokenizedData,
    file_digest,
    prepare_data,
    tokenizer_digest,
    weights_fingerprint,
)
from draft_training.export import token_ids_of, write_checkpoint
from draft_training.model import DraftHead, HeadShape
from draft_training.target import (
    OfflineFeatures,
    Target,
    default_device,
    load_lm_head,
    resolve_aux_ids,
    target_config,
)
from draft_training.vocab import DraftVocab, build_vocab, coverage_report, token_counts
from specstack.cache import config_hash, is_built, write_stamp
from specstack.errors import SpecstackError
from specstack.io import atomic_write_json
from specstack.progress import progress_bar
from specstack.schedule import lr_at
from specstack.training import (
    ensure_finite,
    load_checkpoint,
    make_adamw,
    native_bf16,
    remove_checkpoint,
    restore_rng_state,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_lr,
)

# Fields that change the trained weights; a checkpoint or an exported draft is reused only when they match.
WEIGHT_FIELDS = {
    "target_model", "train_data", "max_length", "max_conversations", "draft_vocab_size", "aux_layer_ids", "head_type",
    "intermediate_size", "ttt_steps", "loss_decay", "batch_size", "optim", "hidden_states", "autocast", "seed",
}  # fmt: skip


class TrainingInterrupted(RuntimeError):
    """Raised by `train(..., stop_after=N)` to simulate a kill after N optimizer steps."""


def run_key(cfg: DraftConfig) -> str:
    """Hash of everything that decides the trained weights: the config's weight fields and what the target
    and the training data hold (not only their paths, so a target or data file rebuilt in place retrains)."""
    return config_hash(
        {
            "config": cfg.model_dump(include=WEIGHT_FIELDS, mode="json"),
            "target": weights_fingerprint(cfg.target_model),
            "tokenizer": tokenizer_digest(cfg.target_model),
            "data": file_digest(cfg.train_data),
        }
    )


class BatchStream:
    """Deterministic, resumable batches: per epoch a seeded shuffle, grouped by length to limit padding."""

    def __init__(self, lengths: np.ndarray, batch_size: int, seed: int):
        self.lengths, self.batch_size, self.seed = lengths, batch_size, seed
        self.epoch, self.index = 0, 0
        self._batches: list[np.ndarray] | None = None

    def _epoch_batches(self) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, self.epoch])
        perm = rng.permutation(len(self.lengths))
        chunk = self.batch_size * 32
        batches = []
        for c in range(0, len(perm), chunk):
            idx = perm[c : c + chunk]
            idx = idx[np.argsort(-self.lengths[idx], kind="stable")]
            batches += [idx[i : i + self.batch_size] for i in range(0, len(idx), self.batch_size)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def next(self) -> np.ndarray:
        if self._batches is None:
            self._batches = self._epoch_batches()
        if self.index == len(self._batches):
            self.epoch, self.index, self._batches = self.epoch + 1, 0, None
            return self.next()
        batch = self._batches[self.index]
        self.index += 1
        return batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "index": self.index}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.index, self._batches = state["epoch"], state["index"], None


@dataclass
class Batch:
    """Right-padded token ids and loss mask of some conversations."""

    input_ids: torch.Tensor  # long [B, T]
    loss_mask: torch.Tensor  # float [B, T]: 1 where the token is an assistant token


def collate(data: TokenizedData, indices: np.ndarray, device: torch.device) -> Batch:
    items = [data.item(int(i)) for i in indices]
    T = max(len(ids) for ids, _ in items)
    ids = np.zeros((len(items), T), dtype=np.int64)
    mask = np.zeros((len(items), T), dtype=np.float32)
    for r, (i, m) in enumerate(items):
        ids[r, : len(i)], mask[r, : len(m)] = i, m
    return Batch(torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device))


def step_weights(steps: int, decay: float) -> list[float]:
    """Normalised per-step weights decay**(j-1), j = 1..steps."""
    w = [decay**j for j in range(steps)]
    return [x / sum(w) for x in w]


def ttt_loss(
    head: DraftHead,
    aux: torch.Tensor,
    target_logits: torch.Tensor,
    batch: Batch,
    weights: list[float],
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Weighted soft cross-entropy of the unrolled steps, and per-step loss/accuracy for the logs.

    Step j (1-based), row t: predicts x[t+j+1]; the label is the target's distribution at position t+j over
    the draft vocabulary, used where x[t+j+1] is an assistant token and the target's top token is drafted.
    """
    T = batch.input_ids.shape[1]
    steps = min(len(weights), T - 2)
    start = first_needed_row(batch.loss_mask, steps)
    pres = head.unroll(head.project(aux), batch.input_ids, steps, start)
    top = target_logits.argmax(-1)  # the target's greedy token, full vocabulary
    in_vocab = head.t2d[top].float()
    draft_logits = target_logits if head.vocab.is_identity else target_logits[..., head.draft_to_target]
    total = aux.new_zeros(())
    metrics: dict[str, Any] = {"loss_steps": [], "acc_steps": []}
    s = start
    for j, pre in enumerate(pres, 1):  # pre holds rows s..T-1; row t predicts x[t+j+1], so t < T-j-1
        sel = batch.loss_mask[:, s + j + 1 :] > 0  # rows whose predicted token is an assistant token
        R = sel.shape[1]
        logits = head.logits(pre[:, :R][sel]).float()  # lm_head only where there is a loss
        labels = torch.softmax(draft_logits[:, s + j : s + j + R][sel].float(), dim=-1)
        lmask = in_vocab[:, s + j : s + j + R][sel]
        ce = -(labels * F.log_softmax(logits, dim=-1)).sum(-1)
        loss_j = (ce * lmask).sum() / lmask.sum().clamp_min(1)
        total = total + weights[j - 1] * loss_j
        with torch.no_grad():
            hit = (head.to_target_ids(logits.argmax(-1)) == top[:, s + j : s + j + R][sel]).float()
            metrics["acc_steps"].append(float(hit.mean()) if hit.numel() else 0.0)
            metrics["loss_steps"].append(float(loss_j))
    metrics["tokens"] = int(batch.loss_mask.sum())
    return total, metrics


def first_needed_row(loss_mask: torch.Tensor, steps: int) -> int:
    """The first row with a loss at some step: row t's chain predicts x[t+2..t+steps+1], so rows more than
    steps+1 before the batch's first assistant token carry none (they still give step-1 keys: context)."""
    hits = loss_mask.sum(0).nonzero()
    return 0 if len(hits) == 0 else max(0, int(hits[0]) - steps - 1)


class RunLogger:
    """JSONL + TensorBoard logs under run_dir/logs; a resumed run drops lines past its checkpoint."""

    def __init__(self, log_dir: Path, resume_step: int):
        from torch.utils.tensorboard import SummaryWriter

        log_dir.mkdir(parents=True, exist_ok=True)
        self.path = log_dir / "train.jsonl"
        if self.path.exists():
            keep = [ln for ln in self.path.read_text().splitlines() if json.loads(ln)["step"] <= resume_step]
            self.path.write_text("".join(ln + "\n" for ln in keep))
        self.tb = SummaryWriter(str(log_dir / "tb"), purge_step=resume_step + 1 if resume_step else None)

    def log(self, row: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        step = row["step"]
        for k, v in row.items():
            if isinstance(v, list):
                for j, x in enumerate(v, 1):
                    self.tb.add_scalar(f"{k}/{j}", x, step)
            elif isinstance(v, (int, float)) and k != "step":
                self.tb.add_scalar(k, v, step)

    def close(self) -> None:
        self.tb.close()


def build_head(cfg: DraftConfig, data: TokenizedData, aux_ids: list[int]) -> tuple[DraftHead, dict]:
    """A fresh head over the draft vocabulary of `data`; returns it with the coverage report."""
    tcfg = target_config(cfg.target_model)
    counts = token_counts(data, tcfg.vocab_size)
    vocab: DraftVocab = build_vocab(counts, cfg.draft_vocab_size)
    shape = HeadShape.from_target(tcfg, vocab.size, len(aux_ids), cfg.intermediate_size)
    return DraftHead(shape, vocab), coverage_report(counts, vocab)


def target_weights(model_dir: str) -> dict[str, torch.Tensor]:
    """embed, lm_head and final norm of the target, read from its safetensors (no full model load)."""
    from draft_training.export import read_tensors

    t = read_tensors(model_dir)
    return {
        "embed": t["model.embed_tokens.weight"].float(),
        "lm_head": load_lm_head(model_dir),
        "final_norm": t["model.norm.weight"].float(),
    }


def train(cfg: DraftConfig, *, stop_after: int | None = None, retrain: bool = False) -> Path:
    """Train (or resume) the draft head and export it to cfg.output_dir; returns that directory."""
    if cfg.backend != "native":
        raise SpecstackError(
            "backend 'specforge' runs on GPU nodes: `specstack draft train --backend specforge` writes its "
            "config and launch script (add --launch on the node)"
        )
    key = run_key(cfg)
    out_dir, run_dir = Path(cfg.output_dir), Path(cfg.run_dir)
    if not retrain and is_built(out_dir, key):
        print(f"draft already trained with this config: reusing {out_dir}")
        return out_dir
    device = default_device()
    seed_everything(cfg.seed)
    t0 = time.time()

    data = prepare_data(cfg.train_data, cfg.target_model, cfg.max_length, run_dir / "cache")
    data = data.head(cfg.max_conversations)
    tcfg = target_config(cfg.target_model)
    aux_ids = resolve_aux_ids(cfg.aux_layer_ids, tcfg.num_hidden_layers, cfg.head_type)
    head, coverage = build_head(cfg, data, aux_ids)
    atomic_write_json(run_dir / "vocab.json", coverage)
    print(
        f"{len(data)} conversations ({data.skipped} skipped), {data.num_loss_tokens} assistant tokens; "
        f"draft vocab {coverage['draft_vocab_size']}/{coverage['target_vocab_size']} covers "
        f"{coverage['coverage']:.2%}; aux hidden_states {aux_ids}"
    )
    if cfg.hidden_states == "online":
        target = Target(cfg.target_model, device)
        head.init_from_target(target.embed, target.lm_head, target.final_norm)
        offline = None
    else:
        target = None
        root = cfg.hidden_states_dir or str(run_dir / "hidden_states")
        OfflineFeatures.dump(cfg.target_model, data, aux_ids, root, device)
        w = target_weights(cfg.target_model)
        head.init_from_target(w["embed"], w["lm_head"], w["final_norm"])
        offline = OfflineFeatures(root, w["lm_head"].to(device))
    head.to(device)

    params = [(n, p) for n, p in head.named_parameters() if p.requires_grad]
    opt = make_adamw(params, cfg.optim)
    stream = BatchStream(data.lengths, cfg.batch_size, cfg.seed)
    step = 0
    ckpt = load_checkpoint(run_dir)
    if ckpt is not None:
        if ckpt["key"] != key:
            raise SpecstackError(
                f"{run_dir}: holds a checkpoint of a different draft config; delete it or use another run_dir"
            )
        head.load_state_dict(ckpt["head"], strict=False)
        opt.load_state_dict(ckpt["optimizer"])
        stream.load_state_dict(ckpt["stream"])
        restore_rng_state(ckpt["rng"])
        step = ckpt["step"]
        print(f"resuming from step {step}")

    weights = step_weights(cfg.ttt_steps, cfg.loss_decay)
    logger = RunLogger(run_dir / "logs", step)
    bf16 = cfg.autocast == "bf16" or (cfg.autocast == "auto" and native_bf16(device))
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
    seen_tokens, t_log = 0, time.time()
    try:
        with progress_bar() as bar:
            task = bar.add_task("train draft", total=cfg.optim.steps, completed=step, status="")
            while step < cfg.optim.steps:
                lr = lr_at(step, cfg.optim)
                set_lr(opt, lr)
                acc = {"loss": 0.0, "loss_steps": None, "acc_steps": None}
                for _ in range(cfg.optim.grad_accum):
                    idx = stream.next()
                    batch = collate(data, idx, device)
                    with amp:
                        if target is not None:
                            feats = target.features(batch.input_ids, aux_ids)
                        else:
                            feats = offline.batch([int(i) for i in idx], batch.input_ids.shape[1])
                        loss, m = ttt_loss(head, feats.aux, feats.logits, batch, weights)
                    (loss / cfg.optim.grad_accum).backward()
                    acc["loss"] += float(loss.detach()) / cfg.optim.grad_accum
                    for k in ("loss_steps", "acc_steps"):
                        acc[k] = (
                            m[k] if acc[k] is None else [a + b for a, b in zip(acc[k], m[k], strict=True)]
                        )
                    seen_tokens += m["tokens"]
                ensure_finite(acc["loss"], step + 1, "draft training")
                gnorm = torch.nn.utils.clip_grad_norm_([p for _, p in params], cfg.optim.grad_clip)
                opt.step()
                opt.zero_grad(set_to_none=True)
                step += 1
                n = cfg.optim.grad_accum
                acc_steps = [a / n for a in acc["acc_steps"]]
                status = f"loss {acc['loss']:.3f} acc1 {acc_steps[0]:.2f}"
                if step % cfg.log_every == 0 or step == cfg.optim.steps:
                    now = time.time()
                    logger.log(
                        {
                            "step": step,
                            "lr": lr,
                            "loss": acc["loss"],
                            "loss_steps": [a / n for a in acc["loss_steps"]],
                            "acc_steps": acc_steps,
                            "grad_norm": float(gnorm),
                            "tokens_per_s": seen_tokens / max(now - t_log, 1e-9),
                            "elapsed_s": now - t0,
                        }
                    )
                    seen_tokens, t_log = 0, now
                bar.update(task, completed=step, status=status)
                if step % cfg.checkpoint_every == 0 and step < cfg.optim.steps:
                    save_checkpoint(
                        run_dir,
                        {
                            "key": key,
                            "step": step,
                            "head": head.trainable_state(),
                            "optimizer": opt.state_dict(),
                            "stream": stream.state_dict(),
                            "rng": rng_state(),
                        },
                    )
                if stop_after is not None and step >= stop_after:
                    raise TrainingInterrupted(f"stopped after {step} steps")
    finally:
        logger.close()

    elapsed = time.time() - t0
    info = {"train_seconds": round(elapsed, 1), "steps": step, "vocab": coverage, "run_key": key}
    write_checkpoint(
        head.cpu(),
        out_dir,
        aux_ids=aux_ids,
        num_target_layers=tcfg.num_hidden_layers,
        head_type=cfg.head_type,
        token_ids=token_ids_of(tcfg),
        info=info,
    )
    write_stamp(out_dir, key, train_seconds=round(elapsed, 1))
    remove_checkpoint(run_dir)
    print(f"trained in {elapsed:.0f} s; draft written to {out_dir}")
    return out_dir
