"""`backend: specforge`: the written run validates against SpecForge 0.2.0's own config schema, the launch
commands are the documented ones, and a SpecForge-format export normalises to our checkpoint contract.

Needs `pip install --no-deps specforge==0.2.0` (dev extra); fails rather than skips without it.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import torch
import yaml
from transformers import LlamaConfig

from draft_training.export import load_draft, read_tensors
from draft_training.specforge_backend import normalize, write_run
from draft_training.target import target_config
from specstack.errors import SpecstackError
from tests.unit.draft_helpers import build_target, tiny_config


@pytest.fixture(scope="module")
def target8(tmp_path_factory) -> Path:
    return build_target(tmp_path_factory.mktemp("sf") / "target", num_layers=8)


@pytest.fixture
def no_compile():
    import torch._dynamo

    with torch._dynamo.config.patch(disable=True):
        yield


def test_written_run_validates_with_specforge_and_launches_the_documented_steps(tmp_path, target8):
    from specforge.config import load_config

    cfg = tiny_config(tmp_path, target8, backend="specforge")
    config_path = tmp_path / "run.yaml"
    config_path.write_text(yaml.safe_dump({"draft": cfg.model_dump(mode="json")}))
    run = write_run(cfg, config_path)
    sf = load_config(str(run.root / "run.yaml"))  # SpecForge's own pydantic schema (extra keys forbidden)
    assert sf.mode == "offline" and sf.deployment.mode == "local_colocated"
    assert sf.training.strategy == "eagle3" and sf.training.ttt_length == cfg.ttt_steps
    assert sf.training.max_steps == cfg.optim.steps and sf.data.is_preformatted
    assert sf.model.aux_hidden_state_layer_ids is None  # SpecForge's default = the engines' default layers
    mapping = torch.load(sf.model.vocab_mapping_path)
    assert mapping["d2t"].dtype == torch.int64 and int(mapping["t2d"].sum()) == cfg.draft_vocab_size
    draft_cfg = json.loads(Path(sf.model.draft_model_config).read_text())
    assert draft_cfg["architectures"] == ["LlamaForCausalLMEagle3"] and draft_cfg["draft_vocab_size"] == 200
    assert "eagle_config" not in draft_cfg
    first = json.loads((run.root / "train.jsonl").read_text().splitlines()[0])
    assert set(first) == {"id", "text"} and "<|im_start|>assistant\n" in first["text"]
    lines = [
        shlex.split(x) for x in run.launch_script.read_text().splitlines() if not x.startswith(("#", "set "))
    ]
    assert lines == run.commands
    capture, train, export, back = lines
    assert capture[:3] == ["torchrun", "--standalone", "--nproc_per_node=1"]
    assert capture[3].endswith("scripts/prepare_hidden_states.py")
    for flag in ("--is-preformatted", "--strategy", "--draft-model-config", "--chat-template"):
        assert flag in capture
    assert capture[capture.index("--output-path") + 1] == sf.data.hidden_states_path
    assert train == ["specforge", "train", "--config", str(run.root / "run.yaml")]
    assert export[:4] == ["specforge", "export", "--to", "sglang"]
    assert back[:3] == ["specstack", "draft", "import-specforge"]


def test_specforge_backend_refuses_custom_layers(tmp_path, target8):
    cfg = tiny_config(tmp_path, target8, backend="specforge", aux_layer_ids=[2, 3, 6])
    with pytest.raises(SpecstackError, match="default aux layers"):
        write_run(cfg, tmp_path / "x.yaml")


def fabricate_specforge_export(
    out: Path, target: Path, draft_vocab: int, no_embed: bool = True
) -> torch.nn.Module:
    """What `specforge export --to sglang` writes: save_pretrained of its draft class, embeddings dropped."""
    from specforge.modeling.draft.llama3_eagle import LlamaForCausalLMEagle3

    t = target_config(target)
    cfg = LlamaConfig(
        hidden_size=t.hidden_size,
        intermediate_size=96,
        num_attention_heads=t.num_attention_heads,
        num_key_value_heads=t.num_key_value_heads,
        head_dim=t.head_dim,
        num_hidden_layers=1,
        vocab_size=t.vocab_size,
        max_position_embeddings=2048,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
    )
    cfg.draft_vocab_size = draft_vocab
    cfg.architectures = ["LlamaForCausalLMEagle3"]
    torch.manual_seed(0)
    model = LlamaForCausalLMEagle3(cfg, attention_backend="sdpa")
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(std=0.2)
        step = 2 if draft_vocab < t.vocab_size else 1  # every other target token, or all of them
        hot = torch.arange(0, step * draft_vocab, step)
        model.d2t.copy_(hot - torch.arange(draft_vocab))
        model.t2d.zero_()
        model.t2d[hot] = True
        model.embed_tokens.weight.copy_(read_tensors(target)["model.embed_tokens.weight"])
    state = {k: v for k, v in model.state_dict().items() if not (no_embed and "embed" in k.lower())}
    model.save_pretrained(str(out), state_dict=state)
    return model.eval()


@pytest.mark.parametrize("draft_vocab", [100, 400], ids=["pruned", "full"])
def test_specforge_export_normalises_to_our_contract(tmp_path, target8, no_compile, draft_vocab):
    sf = fabricate_specforge_export(tmp_path / "export", target8, draft_vocab)
    assert "embed_tokens.weight" not in read_tensors(tmp_path / "export")
    out = normalize(tmp_path / "export", target8, tmp_path / "draft")
    conf = json.loads((out / "config.json").read_text())
    assert conf["architectures"] == ["LlamaForCausalLMEagle3"] and conf["tie_word_embeddings"] is False
    assert conf["rope_theta"] == 10000.0 and "eagle_config" not in conf
    tensors = read_tensors(out)
    assert "embed_tokens.weight" in tensors
    assert ("d2t" in tensors) == (draft_vocab < 400)  # no d2t/t2d at full vocabulary (vLLM refuses them)
    head, info = load_draft(out)
    assert info["backend"] == "specforge" and info["aux_layer_ids"] == [2, 4, 5]
    aux, ids = torch.randn(1, 6, 3 * 64), torch.randint(0, 400, (1, 6))
    with torch.no_grad():
        ref = sf.lm_head(sf(aux, sf.embed_input_ids(ids)))
        x = torch.cat([torch.zeros(1, 1, dtype=torch.long), ids], 1)
        ours = head.logits(head.unroll(head.project(torch.cat([aux, aux[:, :1]], 1)), x, 1)[0])[:, :6]
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    if draft_vocab < 400:
        assert torch.equal(head.draft_to_target, sf.d2t + torch.arange(draft_vocab))


def test_normalise_refuses_unknown_tensors(tmp_path, target8, no_compile):
    from safetensors.torch import load_file, save_file

    fabricate_specforge_export(tmp_path / "export", target8, 100)
    path = tmp_path / "export" / "model.safetensors"
    tensors = load_file(str(path))
    tensors["midlayer.self_attn.qkv.weight"] = torch.zeros(1)
    save_file(tensors, str(path))
    with pytest.raises(SpecstackError, match="unexpected tensors"):
        normalize(tmp_path / "export", target8, tmp_path / "draft")
