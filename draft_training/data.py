"""SFT chat data -> token ids + a loss mask over assistant tokens, rendered with the target's chat template.

Preprocessing is cached under the run directory, keyed by the data file, the tokenizer and max_length, and
written in shards so a killed run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from specstack.cache import config_hash, is_built, write_stamp
from specstack.chat import conversation_messages
from specstack.errors import SpecstackError
from specstack.io import atomic_write_bytes, read_jsonl
from specstack.progress import progress_bar

SHARD_SIZE = 1000  # conversations per preprocessing shard
FORMAT_VERSION = 1


@dataclass
class Conversation:
    """One chat in OpenAI form."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None


@dataclass
class TokenizedData:
    """Concatenated token ids and loss masks of many conversations, with offsets."""

    ids: np.ndarray  # int32 [total]
    masks: np.ndarray  # uint8 [total]
    offsets: np.ndarray  # int64 [n + 1]
    skipped: int = 0  # conversations dropped because truncation left no assistant token

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def item(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.ids[a:b], self.masks[a:b]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def num_loss_tokens(self) -> int:
        return int(self.masks.sum())

    def head(self, n: int | None) -> TokenizedData:
        """The first `n` conversations (all when n is None or larger)."""
        if n is None or n >= len(self):
            return self
        end = int(self.offsets[n])
        return TokenizedData(self.ids[:end], self.masks[:end], self.offsets[: n + 1], self.skipped)


def parse_record(obj: dict[str, Any], where: str) -> Conversation:
    """One JSONL record -> a Conversation; raises SpecstackError naming `where` when it is unusable."""
    messages = conversation_messages(obj, where)
    tools = obj.get("tools") or None
    return Conversation(messages=messages, tools=tools)


def iter_conversations(path: str | Path) -> Iterator[Conversation]:
    """Yield the conversations of an SFT JSONL file, validating each."""
    for n, obj in enumerate(read_jsonl(path), 1):
        yield parse_record(obj, f"{path}: record {n}")


def load_tokenizer(target_dir: str | Path) -> PreTrainedTokenizerBase:
    """The target's tokenizer; it must have a chat template that marks assistant turns for the loss mask."""
    target_dir = Path(target_dir)
    if not (target_dir / "config.json").is_file():
        raise SpecstackError(f"{target_dir}: not a model directory (no config.json)")
    tok = AutoTokenizer.from_pretrained(str(target_dir))
    if not tok.chat_template:
        raise SpecstackError(
            f"{target_dir}: the target tokenizer has no chat template; add chat_template.jinja"
        )
    probe = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    out = tok.apply_chat_template(probe, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    if not any(out["assistant_masks"]):
        raise SpecstackError(
            f"{target_dir}: the chat template has no {{% generation %}} markers around assistant turns, "
            "so the loss mask cannot be built"
        )
    return tok


def encode(
    tok: PreTrainedTokenizerBase, conv: Conversation, max_length: int
) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and assistant mask (1 = assistant token, tool calls and end-of-turn included), truncated."""
    out = tok.apply_chat_template(
        conv.messages,
        tools=conv.tools,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    ids = np.asarray(out["input_ids"][:max_length], dtype=np.int32)
    mask = np.asarray(out["assistant_masks"][:max_length], dtype=np.uint8)
    return ids, mask


def encode_prompt(tok: PreTrainedTokenizerBase, conv: Conversation) -> list[int]:
    """The conversation up to its first assistant turn, rendered with the generation prompt."""
    first = next(i for i, m in enumerate(conv.messages) if m["role"] == "assistant")
    out = tok.apply_chat_template(
        conv.messages[:first], tools=conv.tools, tokenize=True, return_dict=True, add_generation_prompt=True
    )
    return list(out["input_ids"])


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tokenizer_digest(target_dir: str | Path) -> str:
    """A hash of the files that decide tokenization and the chat template."""
    names = ["tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json"]
    parts = {n: file_digest(Path(target_dir) / n) for n in names if (Path(target_dir) / n).is_file()}
    return config_hash(parts)


def weights_fingerprint(model_dir: str | Path) -> str:
    """A cheap identity of a model directory's weights: its config and each weight file's name, size and
    modification time, so a target rebuilt in place (same path, new weights) counts as a new target."""
    model_dir = Path(model_dir)
    files = sorted(p for p in model_dir.iterdir() if p.suffix in (".safetensors", ".bin"))
    parts = {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in files}
    parts["config.json"] = file_digest(model_dir / "config.json")
    return config_hash(parts)


def _count_records(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


def prepare_data(
    data_path: str | Path,
    target_dir: str | Path,
    max_length: int,
    cache_dir: str | Path,
    desc: str = "tokenize",
) -> TokenizedData:
    """Tokenize `data_path` once (cached by content), resuming a half-done preprocessing after a kill."""
    data_path = Path(data_path)
    if not data_path.is_file():
        raise SpecstackError(f"{data_path}: no such file")
    total = _count_records(data_path)
    if total == 0:
        raise SpecstackError(f"{data_path}: no conversations in the file")
    key = config_hash(
        {
            "data": file_digest(data_path),
            "tok": tokenizer_digest(target_dir),
            "max_length": max_length,
            "v": FORMAT_VERSION,
        }
    )
    out = Path(cache_dir) / f"data-{key}"
    shards = [out / f"shard-{i:05d}.pt" for i in range((total + SHARD_SIZE - 1) // SHARD_SIZE)]
    if not is_built(out, key):
        tok = load_tokenizer(target_dir)
        with progress_bar() as bar:
            task = bar.add_task(desc, total=total, status=data_path.name)
            buf: list[tuple[np.ndarray, np.ndarray]] = []
            for n, conv in enumerate(iter_conversations(data_path)):
                shard = shards[n // SHARD_SIZE]
                if not shard.exists():  # done shards are skipped: resumable
                    buf.append(encode(tok, conv, max_length))
                bar.advance(task)
                if (n + 1) % SHARD_SIZE == 0 or n + 1 == total:
                    if not shard.exists():
                        _save_shard(shard, buf)
                    buf = []
        write_stamp(out, key, source=str(data_path), conversations=total, max_length=max_length)
    return _load_shards(shards, data_path)


def _save_shard(path: Path, items: list[tuple[np.ndarray, np.ndarray]]) -> None:
    import io

    blob = io.BytesIO()
    torch.save(
        {"ids": [torch.from_numpy(i) for i, _ in items], "masks": [torch.from_numpy(m) for _, m in items]},
        blob,
    )
    atomic_write_bytes(path, blob.getvalue())


def _load_shards(shards: list[Path], source: Path) -> TokenizedData:
    ids, masks, skipped = [], [], 0
    for shard in shards:
        part = torch.load(shard, weights_only=True)
        for i, m in zip(part["ids"], part["masks"], strict=True):
            if int(m.sum()) == 0:  # truncation cut every assistant token
                skipped += 1
                continue
            ids.append(i.numpy())
            masks.append(m.numpy())
    if not ids:
        raise SpecstackError(f"{source}: no assistant tokens left within max_length in any conversation")
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(i) for i in ids])
    return TokenizedData(np.concatenate(ids), np.concatenate(masks), offsets, skipped)


def heldout_prompts(
    data_path: str | Path, tok: PreTrainedTokenizerBase, num: int, max_length: int
) -> list[list[int]]:
    """Token ids of the first `num` held-out prompts (context before the first assistant turn)."""
    prompts = []
    for conv in iter_conversations(data_path):
        ids = encode_prompt(tok, conv)
        if len(ids) <= max_length:
            prompts.append(ids)
        if len(prompts) == num:
            break
    if not prompts:
        raise SpecstackError(f"{data_path}: no usable held-out prompts")
    return prompts
