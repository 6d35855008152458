"""Create and save small Qwen3 models as Hugging Face directories (config, safetensors, tokenizer)."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer
from transformers import GenerationConfig, PreTrainedTokenizerBase, Qwen3Config, Qwen3ForCausalLM

from adaptation.tokenizer.hf_dir import DEMO_CHAT_TEMPLATE, to_hf_tokenizer
from adaptation.tokenizer.qwen_style import ENDOFTEXT, IM_END, train_qwen_style_bpe
from specstack.demo.config import ModelShape
from specstack.io import atomic_directory


def qwen3_config(shape: ModelShape, tokenizer: PreTrainedTokenizerBase) -> Qwen3Config:
    """A Qwen3 config of `shape` over `tokenizer`'s vocabulary (untied lm_head, as Qwen3-8B)."""
    return Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_hidden_layers,
        num_attention_heads=shape.num_attention_heads,
        num_key_value_heads=shape.num_key_value_heads,
        head_dim=shape.head_dim,
        max_position_embeddings=shape.max_position_embeddings,
        rope_parameters={"rope_type": "default", "rope_theta": shape.rope_theta},
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids(IM_END),
        pad_token_id=tokenizer.convert_tokens_to_ids(ENDOFTEXT),
        torch_dtype="float32",
    )


def new_model(shape: ModelShape, tokenizer: PreTrainedTokenizerBase, seed: int = 0) -> Qwen3ForCausalLM:
    """A randomly initialised Qwen3 causal LM."""
    torch.manual_seed(seed)
    config = qwen3_config(shape, tokenizer)
    config._attn_implementation = "sdpa"
    model = Qwen3ForCausalLM(config)
    # transformers builds the embedding with padding_idx = pad_token_id: that row starts at zero and never
    # gets a gradient. Our pad token is <|endoftext|>, the document separator of every pretraining window,
    # so it must learn like any token. A zero row is also unstable: at the start of a window its residual
    # stream stays zero through every layer, each RMSNorm multiplies its gradient by 1/sqrt(eps) = 1000,
    # and a 32-layer model's backward overflows.
    embed = model.get_input_embeddings()
    embed.padding_idx = None
    with torch.no_grad():
        embed.weight[config.pad_token_id].normal_(0.0, config.initializer_range)
    return model


def save_model_dir(model: Qwen3ForCausalLM, tokenizer: PreTrainedTokenizerBase, out_dir: str | Path) -> Path:
    """Save model (safetensors), tokenizer, chat template and generation config atomically."""
    out_dir = Path(out_dir)
    eos = [tokenizer.convert_tokens_to_ids(IM_END), tokenizer.convert_tokens_to_ids(ENDOFTEXT)]
    model.generation_config = GenerationConfig(
        eos_token_id=eos, pad_token_id=tokenizer.pad_token_id, do_sample=False
    )
    with atomic_directory(out_dir) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
    return out_dir


def build_tiny_model_dir(
    out_dir: str | Path, texts: list[str], shape: ModelShape, vocab_size: int = 512, seed: int = 0
) -> Path:
    """A random-weight Qwen3 with a Qwen-style tokenizer trained on `texts`: the fixture tests use."""
    tokenizer = to_hf_tokenizer(train_qwen_style_bpe(texts, vocab_size), DEMO_CHAT_TEMPLATE.read_text())
    return save_model_dir(new_model(shape, tokenizer, seed), tokenizer, out_dir)


def load_tokenizer_object(model_dir: str | Path) -> Tokenizer:
    """The raw `tokenizers.Tokenizer` of an HF model directory."""
    return Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
