"""Run-config validation: unknown keys and bad values are one-line errors naming the key."""

from pathlib import Path

import pytest

from specstack.config import load_run_config, require_section
from specstack.configbase import with_overrides
from specstack.errors import SpecstackError

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["demo.yaml", "qwen3-8b.yaml"])
def test_shipped_configs_validate(name: str) -> None:
    cfg = load_run_config(REPO / "configs" / name)
    assert cfg.model_dump()  # every section parsed


def test_unknown_top_level_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(SpecstackError, match=r"run\.yaml: bogus: unknown key"):
        load_run_config(write(tmp_path, "seed: 1\nbogus: 2\n"))


def test_unknown_nested_key_is_named_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(SpecstackError, match=r"demo\.adapt\.tokenizer\.vocab_sise: unknown key"):
        load_run_config(write(tmp_path, "demo:\n  adapt:\n    tokenizer:\n      vocab_sise: 8\n"))


def test_removed_key_names_what_replaced_it(tmp_path: Path) -> None:
    with pytest.raises(SpecstackError, match=r"demo\.base\.shape: removed: the demo no longer pretrains"):
        load_run_config(write(tmp_path, "demo:\n  base:\n    shape:\n      hidden_size: 8\n"))


def test_bad_value_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SpecstackError) as err:
        load_run_config(write(tmp_path, "demo:\n  adapt:\n    tokenizer:\n      vocab_size: -3\n"))
    assert "demo.adapt.tokenizer.vocab_size" in str(err.value)
    assert "\n" not in str(err.value)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(SpecstackError, match=r"line 2"):
        load_run_config(write(tmp_path, "seed: 1\ndemo: a: b\n"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecstackError, match="no such config file"):
        load_run_config(tmp_path / "absent.yaml")


def test_non_mapping_config(tmp_path: Path) -> None:
    with pytest.raises(SpecstackError, match="must be a YAML mapping"):
        load_run_config(write(tmp_path, "- a\n- b\n"))


def test_missing_section_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "seed: 3\n")
    with pytest.raises(SpecstackError, match="needs a 'demo:' section"):
        require_section(load_run_config(path), "demo", path)


def test_overrides_revalidate(tmp_path: Path) -> None:
    cfg = load_run_config(write(tmp_path, "demo:\n  adapt:\n    tokenizer:\n      vocab_size: 1024\n")).demo
    assert with_overrides(cfg.adapt.tokenizer, vocab_size=2048).vocab_size == 2048
    assert with_overrides(cfg.adapt.tokenizer, vocab_size=None).vocab_size == 1024
    with pytest.raises(SpecstackError, match="command-line flags: vocab_size"):
        with_overrides(cfg.adapt.tokenizer, vocab_size=1)
