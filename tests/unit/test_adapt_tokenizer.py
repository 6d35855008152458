"""Tokenizer adaptation: train on the base's pipeline, prune with reachability, merge with disjoint ids."""

from __future__ import annotations

import json
import unicodedata
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, models, pre_tokenizers

from adaptation.tokenizer.bpe import bpe_parts, byte_alphabet, require_byte_level_bpe
from adaptation.tokenizer.density import chars_per_token
from adaptation.tokenizer.merge import merge_tokenizers, read_vocab_map, save_merged_dir
from adaptation.tokenizer.prune import count_tokens, has_cyrillic, non_latin, prune_by_counts, prune_tokenizer
from adaptation.tokenizer.qwen_style import ADDED_TOKENS
from adaptation.tokenizer.train import train_like
from specstack.errors import SpecstackError
from tests.unit.adapt_helpers import (
    base_tokenizer,
    code_docs,
    english_docs,
    fresh,
    russian_docs,
    russian_tokenizer,
)


@cache
def pruned_base():
    return prune_tokenizer(base_tokenizer(), {"en": english_docs(), "code": code_docs()}, 0.9)


@cache
def pruned_russian():
    return prune_tokenizer(russian_tokenizer(), {"ru": russian_docs()}, 0.9, non_latin)


@cache
def merged():
    return merge_tokenizers(base_tokenizer(), pruned_base().tokenizer, pruned_russian().tokenizer)


def strings(tokenizer: Tokenizer, ids: list[int]) -> list[str]:
    return [tokenizer.id_to_token(i) for i in ids]


def test_train_like_copies_the_pipeline_and_appends_the_added_tokens() -> None:
    base, ru = bpe_parts(base_tokenizer()), bpe_parts(russian_tokenizer())
    assert ru.pipeline == base.pipeline
    assert ru.model_options == base.model_options
    assert [t["content"] for t in ru.added_tokens] == ADDED_TOKENS
    assert ru.added_tokens == base.added_tokens
    tok = russian_tokenizer()
    assert [tok.token_to_id(t) for t in ADDED_TOKENS] == list(range(len(ru.vocab), len(ru.vocab) + 7))
    assert set(byte_alphabet()) <= set(ru.vocab)
    text = russian_docs(1, seed=5)[0]
    assert len(tok.encode(text).ids) < len(base_tokenizer().encode(text).ids)


def test_not_byte_level_bpe_is_refused_in_one_line() -> None:
    wordpiece = Tokenizer(models.WordPiece({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    with pytest.raises(SpecstackError) as err:
        train_like(wordpiece, ["a"], 1000, source="x/tokenizer.json")
    assert str(err.value).startswith(
        "x/tokenizer.json: not a byte-level BPE tokenizer (its model is WordPiece"
    )
    assert "\n" not in str(err.value)
    plain_bpe = Tokenizer(models.BPE())
    plain_bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    with pytest.raises(SpecstackError, match="no ByteLevel step"):
        require_byte_level_bpe(plain_bpe, "bpe")


def test_prune_keeps_bytes_and_added_tokens_with_their_original_ids() -> None:
    result, base = pruned_base(), base_tokenizer()
    pruned = result.tokenizer
    vocab = set(pruned.get_vocab())
    assert set(byte_alphabet()) <= vocab
    for token in ADDED_TOKENS:
        assert token in vocab
    assert pruned.get_vocab_size() < base.get_vocab_size()
    for new_id, old_id in enumerate(result.original_ids):
        assert pruned.id_to_token(new_id) == base.id_to_token(old_id)
    assert result.original_ids[: result.stats["kept"]] == sorted(result.original_ids[: result.stats["kept"]])


def test_pruned_tokens_stay_reachable_and_kept_words_encode_identically() -> None:
    base, pruned = base_tokenizer(), pruned_base().tokenizer
    kept = [t for t in bpe_parts(pruned).vocab]
    for token in kept:  # every token the base reaches from its own bytes, the pruned one reaches too
        if [t.value for t in base.model.tokenize(token)] == [token]:
            assert [t.value for t in pruned.model.tokenize(token)] == [token]
    kept_set = set(kept)
    identical = 0
    for doc in english_docs(50, seed=11) + code_docs(20, seed=12) + russian_docs(20, seed=13):
        ids = pruned.encode(doc).ids
        assert pruned.decode(ids) == doc
        assert all(pruned.id_to_token(i) in kept_set or pruned.id_to_token(i) in ADDED_TOKENS for i in ids)
        for word, _ in base.pre_tokenizer.pre_tokenize_str(doc):
            full = [t.value for t in base.model.tokenize(word)]
            if set(full) <= kept_set:
                assert [t.value for t in pruned.model.tokenize(word)] == full
                identical += 1
    assert identical > 100


def test_prune_russian_keeps_cyrillic_candidates_only_plus_closure() -> None:
    result = pruned_russian()
    assert result.stats["kept_by_coverage"] > 0
    cyrillic_only = prune_tokenizer(russian_tokenizer(), {"ru": russian_docs()}, 0.9, has_cyrillic)
    assert cyrillic_only.stats["candidates"] <= result.stats["candidates"]
    parts = bpe_parts(cyrillic_only.tokenizer)
    parents = {p for m in parts.merges for p in m}
    for token in parts.vocab:
        assert token in byte_alphabet() or has_cyrillic(token) or token in parents
    assert any(not has_cyrillic(t) and t not in byte_alphabet() for t in parts.vocab)  # closure at work


def test_empty_corpus_keeps_only_bytes_and_added_tokens() -> None:
    result = prune_tokenizer(fresh(base_tokenizer()), {"en": []}, 0.99)
    assert result.stats["kept"] == 256
    assert result.tokenizer.get_vocab_size() == 256 + len(ADDED_TOKENS)


def test_merge_ids_are_disjoint_and_base_ids_preserved() -> None:
    result, left, right = merged(), pruned_base().tokenizer, pruned_russian().tokenizer
    tok = result.tokenizer
    k = result.stats["base_kept"]
    r = result.stats["russian_appended"]
    assert r > 0
    for i in range(k):  # the pruned base's ids are the merged ids
        assert tok.id_to_token(i) == left.id_to_token(i)
    base_vocab = set(bpe_parts(left).vocab)
    appended = [tok.id_to_token(i) for i in range(k, k + r)]
    assert not set(appended) & base_vocab
    assert set(appended) <= set(bpe_parts(right).vocab)
    assert [tok.id_to_token(i) for i in range(k + r, k + r + 7)] == ADDED_TOKENS
    assert tok.get_vocab_size() == k + r + 7
    base = base_tokenizer()
    for i, old in enumerate(result.merged_to_base):
        if old >= 0:
            assert base.id_to_token(old) == tok.id_to_token(i)
        else:
            assert base.token_to_id(tok.id_to_token(i)) is None
    assert result.new_ids and all(i >= k for i in result.new_ids)


def test_merge_is_denser_on_russian_and_encodes_english_like_the_pruned_base() -> None:
    base, left, tok = base_tokenizer(), pruned_base().tokenizer, merged().tokenizer
    ru = russian_docs(50, seed=21)
    assert chars_per_token(tok, ru)["chars_per_token"] > 1.2 * chars_per_token(base, ru)["chars_per_token"]
    for doc in english_docs(50, seed=22) + code_docs(20, seed=23):  # Russian merges leave ASCII alone
        assert tok.encode(doc).ids == left.encode(doc).ids


def test_merge_refuses_a_different_pipeline() -> None:
    other = fresh(pruned_russian().tokenizer)
    other.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    with pytest.raises(SpecstackError, match="differ from the base"):
        merge_tokenizers(base_tokenizer(), pruned_base().tokenizer, other)


# Unassigned code points (for this Python's Unicode tables) are left out: the Rust NFC may know newer
# compositions of characters Python does not have yet. Everything assigned, surrogates aside, is in.
ANY_TEXT = st.text(st.characters(exclude_categories=["Cs", "Cn"]))


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_merged_round_trip_is_nfc_of_the_text(text: str) -> None:
    tok = merged().tokenizer
    assert tok.decode(tok.encode(text).ids, skip_special_tokens=False) == unicodedata.normalize("NFC", text)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("абвгдеёжзийклмнопрстуфхцчшщъыьэюя ПРИВЕТ,.!?\n№₽«»—0123"))))
def test_merged_round_trip_on_russian_alphabet(text: str) -> None:
    tok = merged().tokenizer
    assert tok.decode(tok.encode(text).ids) == unicodedata.normalize("NFC", text)


def test_merged_dir_loads_in_transformers_with_the_chat_template(tmp_path, tiny_model_dir) -> None:
    from transformers import AutoTokenizer

    from adaptation.tokenizer.merge import read_chat_settings

    out = tmp_path / "merged"
    save_merged_dir(merged(), out, read_chat_settings(tiny_model_dir))
    hf = AutoTokenizer.from_pretrained(out)
    assert hf.eos_token == "<|im_end|>" and hf.pad_token == "<|endoftext|>"
    assert len(hf) == merged().tokenizer.get_vocab_size()
    text = hf.apply_chat_template([{"role": "user", "content": "Продаю диван"}], tokenize=False)
    assert "<|im_start|>user\nПродаю диван<|im_end|>" in text
    ids = hf.encode("Здравствуйте! <tool_call>x</tool_call>", add_special_tokens=False)
    assert hf.convert_tokens_to_ids("<tool_call>") in ids
    assert read_vocab_map(out) == merged().merged_to_base
    assert (
        json.loads((out / "vocab_map.json").read_text())["stats"]["base_kept"] == merged().stats["base_kept"]
    )


def test_protected_base_ids_survive_pruning_whatever_the_corpus() -> None:
    base = base_tokenizer()
    bare = prune_tokenizer(base, {"en": []}, 0.9)
    protected = prune_tokenizer(base, {"en": []}, 0.9, protected_ids=300)
    kept = set(bpe_parts(protected.tokenizer).vocab)
    first = [t for t in bpe_parts(base).vocab if base.token_to_id(t) < 300]
    assert set(first) <= kept and protected.stats["protected"] == len(first)
    assert len(kept) > len(bpe_parts(bare.tokenizer).vocab)


def test_pruning_from_summed_counts_equals_pruning_on_the_documents() -> None:
    base, english = base_tokenizer(), english_docs()
    half = len(english) // 2
    summed = count_tokens(base, english[:half]) + count_tokens(base, english[half:])
    from_counts = prune_by_counts(base, {"en": summed}, 0.9, protected_ids=300)
    from_docs = prune_tokenizer(base, {"en": english}, 0.9, protected_ids=300)
    assert bpe_parts(from_counts.tokenizer) == bpe_parts(from_docs.tokenizer)
    assert from_counts.stats == from_docs.stats


def test_a_base_missing_byte_tokens_gains_them_from_the_russian_side() -> None:
    """SmolLM2's vocabulary lacks 21 byte tokens (0xC0, 0xF5-0xFF, ...): it is still extended, and the merged
    tokenizer encodes every byte."""
    parts = bpe_parts(base_tokenizer())
    dropped = [
        c for c in byte_alphabet() if c not in {m[0] for m in parts.merges} | {m[1] for m in parts.merges}
    ]
    dropped = dropped[-5:]
    parts.vocab = [t for t in parts.vocab if t not in dropped]
    from adaptation.tokenizer.bpe import build_tokenizer

    holey = build_tokenizer(parts)
    require_byte_level_bpe(holey, "base")
    merged_result = merge_tokenizers(holey, holey, pruned_russian().tokenizer)
    vocab = merged_result.tokenizer.get_vocab()
    assert all(c in vocab for c in dropped)
    assert all(merged_result.merged_to_base[vocab[c]] == -1 for c in dropped), "new to the base"
