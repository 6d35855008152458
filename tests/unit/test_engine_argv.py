"""The engine command lines: parsed by vLLM 0.32's own parser, checked against SGLang 0.5.14's flag set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serving.engines.config import EngineConfig
from serving.engines.sglang import eagle_tree, sglang_command
from serving.engines.vllm import VLLM_CPU_HEAD_SIZES, VLLM_SERVER_MODULE, vllm_command

SGLANG_DATA = Path(__file__).resolve().parents[1] / "data" / "sglang_server_args_0.5.14.json"
PRELOAD = ["/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4", "/venv/lib/libiomp5.so"]


def spec_cfg(**kw) -> EngineConfig:
    return EngineConfig(model=Path("/models/target"), draft=Path("/models/draft"), port=8123, **kw)


# ------------------------------------------------------------------------------------------------ vLLM
@pytest.fixture(scope="module")
def vllm_parser():
    pytest.importorskip("vllm")
    from vllm.entrypoints.launchers.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    return make_arg_parser(FlexibleArgumentParser())


def parse_vllm(parser, argv: list[str]):
    from vllm.entrypoints.launchers.cli_args import validate_parsed_serve_args

    assert argv[1:3] == ["-m", VLLM_SERVER_MODULE]
    known = {opt for action in parser._actions for opt in action.option_strings}
    for arg in argv[3:]:  # exact names: argparse would accept a prefix of a renamed flag
        if arg.startswith("--"):
            assert arg in known, f"vLLM's parser has no {arg}"
    args = parser.parse_args(argv[3:])  # a renamed or removed flag exits here (SystemExit)
    validate_parsed_serve_args(args)
    return args


def test_vllm_speculative_argv_parses_with_vllms_own_parser(vllm_parser) -> None:
    cfg = spec_cfg(num_draft_tokens=4, max_model_len=1024, max_num_seqs=16, dtype="bfloat16")
    cmd = vllm_command(cfg, device="cpu", python="/venv/bin/python", preload_libs=PRELOAD)
    args = parse_vllm(vllm_parser, cmd.argv)
    assert args.model == "/models/target"
    assert args.served_model_name == ["target"]
    assert (args.host, args.port) == ("127.0.0.1", 8123)
    assert args.dtype == "bfloat16"
    assert args.max_model_len == 1024
    assert args.max_num_seqs == 16
    assert args.enforce_eager is True
    assert args.enable_auto_tool_choice is True and args.tool_call_parser == "hermes"
    assert args.per_request_spec_decode_metrics == "summary"
    spec = args.speculative_config
    spec = json.loads(spec) if isinstance(spec, str) else spec
    assert spec == {"method": "eagle3", "model": "/models/draft", "num_speculative_tokens": 4}
    assert args.disable_uvicorn_access_log is True


def test_vllm_plain_argv_has_no_speculative_flags(vllm_parser) -> None:
    cfg = spec_cfg(speculative=False)
    cmd = vllm_command(cfg, device="cpu", python="python")
    args = parse_vllm(vllm_parser, cmd.argv)
    assert args.speculative_config is None
    assert "--per-request-spec-decode-metrics" not in cmd.argv  # vLLM rejects it without a draft
    assert not cmd.speculative


def test_vllm_cuda_argv_parses_and_has_no_cpu_env(vllm_parser) -> None:
    cmd = vllm_command(spec_cfg(dtype="auto", enforce_eager=False), device="cuda", python="python")
    args = parse_vllm(vllm_parser, cmd.argv)
    assert args.gpu_memory_utilization == pytest.approx(0.9)
    assert args.enforce_eager is False
    assert not any(k.startswith("VLLM_CPU") for k in cmd.env) and "LD_PRELOAD" not in cmd.env


def test_vllm_tool_parser_and_cpu_head_sizes_exist_in_vllm() -> None:
    pytest.importorskip("vllm")
    from vllm.tool_parsers import ToolParserManager
    from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

    assert ToolParserManager.get_tool_parser("hermes").__name__ == "Hermes2ProToolParser"
    assert tuple(CPUAttentionBackend.get_supported_head_sizes()) == VLLM_CPU_HEAD_SIZES


def test_vllm_cpu_env_names_are_vllms() -> None:
    pytest.importorskip("vllm")
    import vllm.envs

    cmd = vllm_command(
        spec_cfg(cpu={"kvcache_gb": 3, "reserved_cpus": 0}), device="cpu", python="p", preload_libs=PRELOAD
    )
    for name in cmd.env:
        if name.startswith("VLLM_"):
            assert name in vllm.envs.environment_variables, name
    assert cmd.env["VLLM_CPU_KVCACHE_SPACE"] == "3"
    assert cmd.env["VLLM_CPU_OMP_THREADS_BIND"] == "auto"
    assert cmd.env["VLLM_CPU_NUM_OF_RESERVED_CPU"] == "0"
    assert cmd.env["LD_PRELOAD"] == ":".join(PRELOAD)  # tcmalloc first, as vLLM's CPU guide writes it


def test_vllm_preload_keeps_inherited_and_can_be_off() -> None:
    cmd = vllm_command(
        spec_cfg(), device="cpu", python="p", preload_libs=PRELOAD, inherited_ld_preload="/x.so"
    )
    assert cmd.env["LD_PRELOAD"] == ":".join([*PRELOAD, "/x.so"])
    off = vllm_command(
        spec_cfg(cpu={"preload_runtimes": False}), device="cpu", python="p", preload_libs=PRELOAD
    )
    assert "LD_PRELOAD" not in off.env


def test_extra_args_and_env_come_last_and_win() -> None:
    cfg = spec_cfg(extra_args=["--max-num-batched-tokens", "4096"], extra_env={"VLLM_CPU_KVCACHE_SPACE": "9"})
    cmd = vllm_command(cfg, device="cpu", python="p")
    assert cmd.argv[-2:] == ["--max-num-batched-tokens", "4096"]
    assert cmd.env["VLLM_CPU_KVCACHE_SPACE"] == "9"


# ------------------------------------------------------------------------------------------------ SGLang
@pytest.fixture(scope="module")
def sglang_flags() -> dict:
    return json.loads(SGLANG_DATA.read_text())


def check_against_sglang(argv: list[str], data: dict) -> None:
    flags = data["flags"]
    assert argv[1:3] == ["-m", "sglang.launch_server"]
    rest = argv[3:]
    i = 0
    while i < len(rest):
        flag = rest[i]
        assert flag.startswith("--"), f"stray argument {flag!r}"
        assert flag in flags, f"{flag} is not a flag of {data['source']}"
        if flags[flag]["kind"] == "value":
            assert i + 1 < len(rest) and not rest[i + 1].startswith("--"), f"{flag} needs a value"
            i += 2
        else:
            i += 1


@pytest.mark.parametrize("spec", [True, False])
def test_sglang_argv_uses_only_sglang_0_5_14_flags(sglang_flags, spec: bool) -> None:
    cfg = spec_cfg(engine="sglang", speculative=spec, max_model_len=4096)
    cmd = sglang_command(cfg, device="cuda", python="python")
    check_against_sglang(cmd.argv, sglang_flags)
    assert cmd.flag_value("--tool-call-parser") in sglang_flags["tool_call_parsers"]["names"]
    assert "--enable-metrics" in cmd.argv
    assert cmd.flag_value("--mem-fraction-static") == "0.8"
    if spec:
        assert cmd.flag_value("--speculative-algorithm") in sglang_flags["speculative_algorithms"]["names"]
        assert cmd.flag_value("--speculative-draft-model-path") == "/models/draft"


def test_sglang_chain_matches_vllm_work_per_step() -> None:
    cmd = sglang_command(spec_cfg(engine="sglang", num_draft_tokens=4), device="cuda", python="python")
    assert cmd.flag_value("--speculative-algorithm") == "EAGLE3"
    assert cmd.flag_value("--speculative-num-steps") == "4"
    assert cmd.flag_value("--speculative-eagle-topk") == "1"
    assert cmd.flag_value("--speculative-num-draft-tokens") == "5"  # the root counts
    assert cmd.flag_value("--tool-call-parser") == "qwen25"
    tree = spec_cfg(engine="sglang", sglang={"num_steps": 5, "eagle_topk": 8, "num_draft_tokens": 64})
    assert eagle_tree(tree) == (5, 8, 64)


def test_sglang_data_was_generated_from_the_pinned_release(sglang_flags) -> None:
    assert sglang_flags["source"].startswith("sglang==0.5.14 ")
    assert all(isinstance(v["line"], int) for v in sglang_flags["flags"].values())


# ------------------------------------------------------------------------------------------------ config
def test_speculation_switch() -> None:
    assert EngineConfig(model=Path("/m")).speculation_on is False
    assert spec_cfg().speculation_on is True
    assert spec_cfg(speculative=False).speculation_on is False
    assert EngineConfig(model=Path("/m"), speculative=True).speculation_on is True  # plan() rejects it


def test_config_rejects_unknown_keys_and_tree_without_tokens() -> None:
    from specstack.configbase import validate
    from specstack.errors import SpecstackError

    with pytest.raises(SpecstackError, match="unknown key"):
        validate(EngineConfig, {"model": "/m", "num_spec_tokens": 3}, "x.yaml")
    with pytest.raises(SpecstackError, match="eagle_topk"):
        validate(EngineConfig, {"sglang": {"eagle_topk": 4}}, "x.yaml")


def test_every_field_is_documented() -> None:
    from serving.engines.config import CpuSettings, SglangSettings

    for model in (EngineConfig, CpuSettings, SglangSettings):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


def test_run_config_has_serve_section(tmp_path: Path) -> None:
    from specstack.config import load_run_config

    path = tmp_path / "run.yaml"
    path.write_text(
        "serve:\n  model: artifacts/demo/target\n  draft: artifacts/demo/draft\n  num_draft_tokens: 4\n"
    )
    cfg = load_run_config(path).serve
    assert cfg is not None and cfg.num_draft_tokens == 4 and cfg.speculation_on


def test_auto_engine_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    from serving.engines import launcher

    monkeypatch.setattr(launcher, "cuda_available", lambda: False)
    assert launcher.resolve_engine(EngineConfig()) == ("vllm", "cpu")
    monkeypatch.setattr(launcher, "cuda_available", lambda: True)
    monkeypatch.setattr(launcher, "_installed", lambda module, python: module == "sglang")
    assert launcher.resolve_engine(EngineConfig()) == ("sglang", "cuda")
    monkeypatch.setattr(launcher, "_installed", lambda module, python: False)
    assert launcher.resolve_engine(EngineConfig()) == ("vllm", "cuda")
    assert launcher.resolve_engine(EngineConfig(engine="vllm", device="cpu")) == ("vllm", "cpu")


def test_dynamic_draft_tokens_schedule(vllm_parser) -> None:
    from specstack.configbase import validate
    from specstack.errors import SpecstackError

    cfg = spec_cfg(num_draft_tokens=4, draft_tokens_by_batch=[(1, 2, 4), (3, 8, 2), (9, 256, 0)])
    args = parse_vllm(vllm_parser, vllm_command(cfg, device="cpu", python="p").argv)
    spec = args.speculative_config
    spec = json.loads(spec) if isinstance(spec, str) else spec
    assert spec["num_speculative_tokens_per_batch_size"] == [[1, 2, 4], [3, 8, 2], [9, 256, 0]]
    from vllm.v1.spec_decode.dynamic.utils import build_dynamic_sd_schedule_lookup

    lookup = build_dynamic_sd_schedule_lookup(spec["num_speculative_tokens_per_batch_size"], 16, 4)
    assert lookup[1:] == [4, 4, 2, 2, 2, 2, 2, 2] + [0] * 8
    for bad in ([(2, 4, 3)], [(1, 4, 3), (3, 8, 1)], [(1, 4, 9)]):
        with pytest.raises(SpecstackError, match="draft_tokens_by_batch"):
            validate(EngineConfig, {"model": "/m", "draft": "/d", "draft_tokens_by_batch": bad}, "x.yaml")
