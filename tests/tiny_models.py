"""Tiny random-weight models for the tests: small Qwen3 models saved as Hugging Face directories (config,
safetensors, tokenizer with the demo chat template)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import GenerationConfig, PreTrainedTokenizerBase, Qwen3Config, Qwen3ForCausalLM

from adaptation.tokenizer.hf_dir import DEMO_CHAT_TEMPLATE, to_hf_tokenizer
from adaptation.tokenizer.qwen_style import ENDOFTEXT, IM_END, train_qwen_style_bpe
from specstack.io import atomic_directory


@dataclass(frozen=True)
class ModelShape:
    """The Qwen3 architecture of a tiny test model."""

    hidden_size: int = 64
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 16
    intermediate_size: int = 128
    max_position_embeddings: int = 2048
    rope_theta: float = 10000.0


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


def _permute_for_gguf(w, n_head: int):
    """llama.cpp's q/k row order (its converter's `permute`); transformers undoes it when reading GGUF."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_tiny_llama_gguf(out_path: str | Path, texts: list[str], vocab_size: int = 400, seed: int = 0):
    """A random tiny Llama (tied embeddings, as SmolLM2) written as an F32 GGUF file the way llama.cpp's
    converter writes one, with a byte-level BPE tagged with SmolLM's pre-tokenizer; returns the
    transformers model it was written from."""
    import gguf
    from transformers import LlamaConfig, LlamaForCausalLM

    hf_tokenizer = to_hf_tokenizer(train_qwen_style_bpe(texts, vocab_size), DEMO_CHAT_TEMPLATE.read_text())
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(hf_tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5, tie_word_embeddings=True,
                      bos_token_id=None, eos_token_id=hf_tokenizer.convert_tokens_to_ids(IM_END))  # fmt: skip
    model = LlamaForCausalLM(cfg).eval()
    writer = gguf.GGUFWriter(str(out_path), "llama")
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_context_length(2048)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_rope_dimension_count(cfg.hidden_size // cfg.num_attention_heads)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    vocab = sorted(hf_tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    writer.add_token_list([t for t, _ in vocab])
    special = set(hf_tokenizer.all_special_tokens)
    writer.add_token_types(
        [gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t, _ in vocab]
    )
    merges = json.loads(hf_tokenizer.backend_tokenizer.to_str())["model"]["merges"]
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    writer.add_eos_token_id(cfg.eos_token_id)
    writer.add_chat_template(hf_tokenizer.chat_template)
    names = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}  # fmt: skip
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    writer.add_tensor("token_embd.weight", state["model.embed_tokens.weight"])
    writer.add_tensor("output_norm.weight", state["model.norm.weight"])
    for i in range(cfg.num_hidden_layers):
        for hf_name, gguf_name in names.items():
            w = state[f"model.layers.{i}.{hf_name}.weight"]
            if gguf_name in ("attn_q", "attn_k"):
                heads = cfg.num_attention_heads if gguf_name == "attn_q" else cfg.num_key_value_heads
                w = _permute_for_gguf(w, heads)
            writer.add_tensor(f"blk.{i}.{gguf_name}.weight", w)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return model
