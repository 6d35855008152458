"""The demo tokenizer and chat template: Qwen-style tool calls, assistant-only masks, lossless text."""

import json
import unicodedata
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from specstack.chat import arrow_safe_row, conversation_messages, prompt_messages

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_delivery_status",
            "description": "Статус доставки заказа",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    }
]
CONVERSATION = {
    "messages": [
        {"role": "system", "content": "Ты помощник маркетплейса."},
        {"role": "user", "content": "Где мой заказ 123?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "type": "function",
                    "function": {"name": "get_delivery_status", "arguments": {"order_id": "123"}},
                }
            ],
        },
        {"role": "tool", "name": "get_delivery_status", "content": '{"status": "в пути"}'},
        {"role": "assistant", "content": "Заказ 123 в пути."},
    ],
    "tools": TOOLS,
}


def render(tokenizer, row: dict) -> str:
    safe = arrow_safe_row(row)
    return tokenizer.apply_chat_template(safe["messages"], tools=json.loads(safe["tools"]), tokenize=False)


def test_tool_call_is_rendered_the_qwen_way(tiny_model_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = render(tokenizer, CONVERSATION)
    assert (
        '<tool_call>\n{"name": "get_delivery_status", "arguments": {"order_id": "123"}}\n</tool_call><|im_end|>'
        in text
    )
    assert '<tool_response>\n{"status": "в пути"}\n</tool_response>' in text
    assert '"name": "get_delivery_status"' in text.split("<tools>\n")[1].split("</tools>")[0]


def test_string_and_dict_arguments_render_identically(tiny_model_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    as_dict = tokenizer.apply_chat_template(CONVERSATION["messages"], tools=TOOLS, tokenize=False)
    assert as_dict == render(tokenizer, CONVERSATION)


def test_tool_markers_are_single_non_special_tokens(tiny_model_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    for marker in ("<tool_call>", "</tool_call>"):
        ids = tokenizer.encode(marker, add_special_tokens=False)
        assert len(ids) == 1
        assert tokenizer.decode(ids, skip_special_tokens=True) == marker
    assert tokenizer.decode(tokenizer.encode("<|im_end|>"), skip_special_tokens=True) == ""


def test_assistant_mask_covers_exactly_the_assistant_turns(tiny_model_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    safe = arrow_safe_row(CONVERSATION)
    out = tokenizer.apply_chat_template(
        safe["messages"], tools=json.loads(safe["tools"]), return_assistant_tokens_mask=True, return_dict=True
    )
    learned = tokenizer.decode(
        [i for i, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]
    )
    assert learned == (
        '<tool_call>\n{"name": "get_delivery_status", "arguments": {"order_id": "123"}}\n</tool_call><|im_end|>'
        "Заказ 123 в пути.<|im_end|>"
    )


def test_sharegpt_is_converted() -> None:
    row = {"conversations": [{"from": "human", "value": "Привет"}, {"from": "gpt", "value": "Здравствуйте"}]}
    assert conversation_messages(row) == [
        {"role": "user", "content": "Привет"},
        {"role": "assistant", "content": "Здравствуйте"},
    ]


def test_prompt_stops_before_the_last_assistant_turn() -> None:
    assert prompt_messages(CONVERSATION)[-1]["role"] == "tool"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_decode_inverts_encode_on_any_unicode(tiny_model_dir: Path, text: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    normalized = unicodedata.normalize("NFC", text)
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == normalized
