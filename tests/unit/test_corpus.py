"""The demo corpus as files: determinism, splits, mixture, formats, config validation, speed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from specstack.configbase import validate
from specstack.demo.corpus import DOC_SEPARATOR, CorpusConfig, build_corpus, split_documents
from specstack.demo.corpus.splits import content_key, join_documents
from specstack.errors import SpecstackError
from specstack.io import read_jsonl

SMALL = {
    "sft_train": 400,
    "rl_train": 200,
    "ru_text_bytes": 40_000,
    "en_text_bytes": 20_000,
    "code_text_bytes": 20_000,
}
FILES = (
    "sft_train.jsonl",
    "sft_heldout.jsonl",
    "rl_train.jsonl",
    "rl_heldout.jsonl",
    "text/ru_train.txt",
    "text/ru_heldout.txt",
    "text/en_train.txt",
    "text/en_heldout.txt",
    "text/code_train.txt",
    "text/code_heldout.txt",
    "manifest.json",
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    build_corpus(CorpusConfig(**SMALL), out)
    return out


def _bytes(d: Path) -> dict[str, bytes]:
    return {name: (d / name).read_bytes() for name in FILES}


def _prompt_key(messages: list[dict]) -> str:
    texts = []
    for m in messages:
        if m["role"] == "assistant":
            break
        texts.append(m["content"])
    return content_key(texts)


def test_same_seed_gives_identical_bytes(corpus: Path, tmp_path: Path) -> None:
    build_corpus(CorpusConfig(**SMALL), tmp_path)
    assert _bytes(tmp_path) == _bytes(corpus)


def test_different_seed_gives_different_files(corpus: Path, tmp_path: Path) -> None:
    build_corpus(CorpusConfig(**SMALL, seed=1), tmp_path)
    other, base = _bytes(tmp_path), _bytes(corpus)
    for name in FILES:
        assert other[name] != base[name], name


def test_every_file_is_written_and_counted(corpus: Path) -> None:
    manifest = json.loads((corpus / "manifest.json").read_text())
    assert manifest["seed"] == 0 and manifest["doc_separator"] == DOC_SEPARATOR
    assert manifest["config"] == CorpusConfig(**SMALL).model_dump()
    for name, info in manifest["files"].items():
        assert (corpus / name).stat().st_size == info["bytes"]
        if name.endswith(".jsonl"):
            assert len(list(read_jsonl(corpus / name))) == info["rows"]
        else:
            assert len(split_documents((corpus / name).read_text(encoding="utf-8"))) == info["documents"]
    assert manifest["files"]["sft_train.jsonl"]["rows"] == 400
    assert manifest["files"]["sft_heldout.jsonl"]["rows"] == 40
    assert manifest["files"]["rl_train.jsonl"]["rows"] == 200
    assert manifest["files"]["rl_heldout.jsonl"]["rows"] == 20
    assert manifest["files"]["text/ru_train.txt"]["bytes"] >= 40_000


@pytest.mark.parametrize("kind", ["sft", "rl"])
def test_heldout_is_disjoint_from_train_by_normalised_prompt(corpus: Path, kind: str) -> None:
    field = "messages" if kind == "sft" else "prompt"
    train = [_prompt_key(r[field]) for r in read_jsonl(corpus / f"{kind}_train.jsonl")]
    held = [_prompt_key(r[field]) for r in read_jsonl(corpus / f"{kind}_heldout.jsonl")]
    assert len(set(train)) == len(train) and len(set(held)) == len(held)
    assert not set(train) & set(held)


def test_rl_prompts_are_not_sft_prompts(corpus: Path) -> None:
    sft = {
        _prompt_key(r["messages"])
        for n in ("train", "heldout")
        for r in read_jsonl(corpus / f"sft_{n}.jsonl")
    }
    rl = {
        _prompt_key(r["prompt"]) for n in ("train", "heldout") for r in read_jsonl(corpus / f"rl_{n}.jsonl")
    }
    assert not sft & rl


@pytest.mark.parametrize("lang", ["ru", "en", "code"])
def test_text_splits_are_disjoint_documents(corpus: Path, lang: str) -> None:
    train = split_documents((corpus / f"text/{lang}_train.txt").read_text(encoding="utf-8"))
    held = split_documents((corpus / f"text/{lang}_heldout.txt").read_text(encoding="utf-8"))
    assert train and held
    keys_train = {content_key([d]) for d in train}
    assert len(keys_train) == len(train)
    assert not keys_train & {content_key([d]) for d in held}
    for doc in train + held:
        assert doc and doc == doc.strip("\n") and DOC_SEPARATOR not in doc


def test_documents_round_trip_through_the_separator() -> None:
    docs = ["первый\n\nабзац", "def f():\n    pass\n\n\ndef g():\n    pass", "last"]
    assert split_documents(join_documents(docs)) == docs
    assert split_documents("") == []


def test_ru_text_is_mostly_cyrillic(corpus: Path) -> None:
    text = (corpus / "text/ru_train.txt").read_text(encoding="utf-8")
    letters = [c for c in text if c.isalpha()]
    assert sum("а" <= c.lower() <= "я" or c in "ёЁ" for c in letters) / len(letters) > 0.8


def test_code_text_compiles(corpus: Path) -> None:
    for doc in split_documents((corpus / "text/code_train.txt").read_text(encoding="utf-8"))[:50]:
        compile(doc, "<doc>", "exec")


def test_sft_rows_follow_the_contract(corpus: Path) -> None:
    for name in ("sft_train.jsonl", "sft_heldout.jsonl"):
        for row in read_jsonl(corpus / name):
            assert set(row) <= {"messages", "tools", "category"}
            assert row["category"] in {"ad", "chat", "support", "review", "fc", "math", "code"}
            assert "tools" not in row or (row["category"] == "fc" and row["tools"])
            msgs = row["messages"]
            assert msgs[0]["role"] == "system" and msgs[-1]["role"] == "assistant" and msgs[-1]["content"]
            for m in msgs:
                assert m["role"] in {"system", "user", "assistant", "tool"}
                assert isinstance(m["content"], str)
                assert "tool_calls" not in m or m["role"] == "assistant"
                if m["role"] == "tool":
                    assert m["name"] and isinstance(json.loads(m["content"]), dict)


def test_rl_rows_follow_the_contract(corpus: Path) -> None:
    for row in read_jsonl(corpus / "rl_train.jsonl"):
        assert [m["role"] for m in row["prompt"]] == ["system", "user"]
        if row["domain"] == "fc":
            assert row["category"] in {"simple", "multiple", "parallel", "irrelevance"}
            assert row["tools"] and isinstance(row["tool_calls"], list)
        elif row["domain"] == "math":
            assert row["answer"] and row["data"]["kind"]
        else:
            assert row["domain"] == "code" and row["tests"] and row["entry_point"]


def test_category_mix_matches_the_config(corpus: Path) -> None:
    cfg = CorpusConfig(**SMALL)
    weights = cfg.sft_mix.model_dump()
    rows = list(read_jsonl(corpus / "sft_train.jsonl"))
    for cat, w in weights.items():
        share = sum(r["category"] == cat for r in rows) / len(rows)
        assert abs(share - w / sum(weights.values())) < 0.01, cat
    rl = list(read_jsonl(corpus / "rl_train.jsonl"))
    for dom, w in cfg.rl_mix.model_dump().items():
        assert abs(sum(r["domain"] == dom for r in rl) / len(rl) - w) < 0.01, dom
    fc = [r for r in rl if r["domain"] == "fc"]
    for sit, w in cfg.fc_mix.model_dump().items():
        assert abs(sum(r["category"] == sit for r in fc) / len(fc) - w) < 0.02, sit


def test_custom_mix_and_zero_sizes(tmp_path: Path) -> None:
    cfg = CorpusConfig(
        sft_train=50,
        rl_train=10,
        heldout_fraction=0.2,
        ru_text_bytes=0,
        en_text_bytes=0,
        code_text_bytes=0,
        sft_mix={"ad": 0, "chat": 0, "support": 0, "review": 0, "fc": 1, "math": 0, "code": 0},
        rl_mix={"fc": 0, "math": 1, "code": 0},
    )
    summary = build_corpus(cfg, tmp_path)
    assert summary["sft_categories"] == {"train": {"fc": 50}, "heldout": {"fc": 10}}
    assert summary["rl_domains"] == {"train": {"math": 10}, "heldout": {"math": 2}}
    assert (tmp_path / "text/ru_train.txt").read_text() == ""


def test_config_rejects_unknown_and_bad_values() -> None:
    with pytest.raises(ValidationError):
        CorpusConfig.model_validate({"sft_trian": 10})
    with pytest.raises(ValidationError):
        CorpusConfig.model_validate({"sft_mix": {"ads": 1}})
    with pytest.raises(ValidationError):
        CorpusConfig.model_validate({"sft_train": -1})
    with pytest.raises(ValidationError):
        CorpusConfig.model_validate({"heldout_fraction": 1.0})
    with pytest.raises(ValidationError):
        CorpusConfig.model_validate({"rl_mix": {"fc": 0, "math": 0, "code": 0}})
    with pytest.raises(SpecstackError, match=r"corpus.yaml: sft_mix.ads: unknown key"):
        validate(CorpusConfig, {"sft_mix": {"ads": 1}}, "corpus.yaml")


def _all_fields_described(model: type[BaseModel]) -> None:
    for name, field in model.model_fields.items():
        assert field.description, f"{model.__name__}.{name}"
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            _all_fields_described(ann)


def test_every_config_field_is_described() -> None:
    _all_fields_described(CorpusConfig)


def test_default_corpus_builds_fast_and_at_the_promised_size(tmp_path: Path) -> None:
    start = time.perf_counter()
    summary = build_corpus(CorpusConfig(), tmp_path)
    assert time.perf_counter() - start < 30
    files = summary["files"]
    assert files["sft_train.jsonl"]["rows"] == 6000 and files["sft_heldout.jsonl"]["rows"] == 600
    assert files["rl_train.jsonl"]["rows"] == 1500 and files["rl_heldout.jsonl"]["rows"] == 150
    assert 2_000_000 <= files["text/ru_train.txt"]["bytes"] <= 3_000_000
    assert files["text/en_train.txt"]["bytes"] >= 1_000_000
    assert files["text/code_train.txt"]["bytes"] >= 1_000_000
