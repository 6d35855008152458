"""Write a `tokenizers.Tokenizer` as a Hugging Face tokenizer directory that transformers and vLLM load."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerFast

from adaptation.tokenizer.qwen_style import ENDOFTEXT, IM_END

DEMO_CHAT_TEMPLATE = Path(__file__).resolve().parents[2] / "specstack" / "demo" / "chat_template.jinja"


def to_hf_tokenizer(
    tokenizer: Tokenizer, chat_template: str, model_max_length: int = 32768
) -> PreTrainedTokenizerFast:
    """Wrap a Qwen-style tokenizer with its chat template; EOS is `<|im_end|>`, padding `<|endoftext|>`."""
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        bos_token=None,
        unk_token=None,
        chat_template=chat_template,
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
        split_special_tokens=False,
    )


def save_tokenizer_dir(
    tokenizer: Tokenizer, out_dir: str | Path, chat_template: str, model_max_length: int = 32768
) -> PreTrainedTokenizerFast:
    """Save `tokenizer` with its chat template into `out_dir` (tokenizer.json, config, chat_template.jinja)."""
    hf = to_hf_tokenizer(tokenizer, chat_template, model_max_length)
    hf.save_pretrained(str(out_dir))
    return hf
