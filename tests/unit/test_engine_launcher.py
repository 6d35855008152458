"""The launcher's process handling and pre-launch checks, with a fake engine (seconds, no vLLM start).

Every failure is a one-line SpecstackError, and no process is left behind (checked with psutil).
"""

from __future__ import annotations

import io
import json
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from serving.engines import EngineConfig, launch, plan, start_engine
from serving.engines.checks import check_port_free
from serving.engines.command import EngineCommand
from specstack.errors import SpecstackError
from specstack.net import free_port
from tests.random_draft import write_random_eagle3_draft

FAKE_ENGINE = textwrap.dedent(
    """
    import http.server, json, os, signal, subprocess, sys, time
    port, mode, marker = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    # grandchildren: one in our process group, one that leaves it (setsid), as engines' workers may
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", marker])
    subprocess.Popen([sys.executable, "-c", "import os, time; os.setsid(); time.sleep(600)", marker])
    print("fake engine starting", flush=True)
    if mode == "crash":
        print("Traceback (most recent call last):", flush=True)
        print("RuntimeError: weights are broken", flush=True)
        sys.exit(3)
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if mode == "never":
        time.sleep(600)

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass
        def _send(self, code, obj):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def do_GET(self):
            self._send(200 if self.path == "/health" else 404, {})
        def do_POST(self):
            self.rfile.read(int(self.headers["content-length"]))
            if mode == "broken":
                self._send(500, {"error": {"message": "EngineCore died", "type": "InternalServerError",
                                           "param": None, "code": 500}})
            else:
                self._send(200, {"choices": [{"text": "x"}]})

    print("fake engine listening", flush=True)
    http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
    """
)


@pytest.fixture
def fake(tmp_path: Path):
    script = tmp_path / "fake_engine.py"
    script.write_text(FAKE_ENGINE)
    marker = f"specstack-fake-{tmp_path.name}"

    def command(mode: str) -> EngineCommand:
        port = free_port()
        argv = [sys.executable, str(script), str(port), mode, marker]
        return EngineCommand(engine="fake", device="cpu", argv=argv, port=port, model_name="m")

    command.marker = marker  # type: ignore[attr-defined]
    yield command
    leftovers = marked(marker)
    for p in leftovers:  # never leak into other tests, even when an assertion failed
        p.kill()
    assert not leftovers, f"processes left behind: {leftovers}"


def marked(marker: str) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["cmdline", "status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and marker in " ".join(p.info["cmdline"] or []):
                out.append(p)
        except psutil.Error:
            pass
    return out


def wait_gone(marker: str, timeout: float = 5.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while (left := marked(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg, msg
    return msg


# ------------------------------------------------------------------------------------------------ process
def test_ready_then_stop_kills_whole_group_and_escaped_children(fake) -> None:
    log = io.StringIO()
    proc = launch(fake("ok"), startup_timeout_s=30, stop_grace_s=5, log=log, prefix="[fake] ")
    assert proc.alive()
    assert len(marked(fake.marker)) == 3  # engine + two grandchildren
    proc.stop()
    assert not wait_gone(fake.marker)
    assert "[fake] fake engine listening" in log.getvalue()
    assert proc.log_tail(1) == ["fake engine listening"]


def test_stop_sigkills_an_engine_that_ignores_sigterm(fake) -> None:
    proc = launch(fake("stubborn"), startup_timeout_s=30, stop_grace_s=1, log=None)
    t = time.monotonic()
    proc.stop()
    assert time.monotonic() - t < 8
    assert not wait_gone(fake.marker)


def test_crash_at_startup_is_one_line_with_the_cause(fake) -> None:
    with pytest.raises(SpecstackError) as e:
        launch(fake("crash"), startup_timeout_s=30, stop_grace_s=2, log=None)
    msg = one_line(e)
    assert "exited with code 3" in msg and "RuntimeError: weights are broken" in msg
    assert not wait_gone(fake.marker)


def test_health_ok_but_generation_fails(fake) -> None:
    with pytest.raises(SpecstackError) as e:
        launch(fake("broken"), startup_timeout_s=30, stop_grace_s=2, log=None)
    assert "first generation failed (500: EngineCore died)" in one_line(e)
    assert not wait_gone(fake.marker)


def test_startup_timeout_names_the_timeout(fake) -> None:
    with pytest.raises(SpecstackError) as e:
        launch(fake("never"), startup_timeout_s=2, stop_grace_s=2, log=None)
    assert "did not answer http://127.0.0.1:" in one_line(e) and "within 2 s" in str(e.value)
    assert not wait_gone(fake.marker)


def test_context_manager_stops(fake) -> None:
    with launch(fake("ok"), startup_timeout_s=30, stop_grace_s=5, log=None) as proc:
        assert proc.base_url.startswith("http://127.0.0.1:")
    assert not wait_gone(fake.marker)


# ------------------------------------------------------------------------------------------------ checks
def no_children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]


@pytest.fixture(scope="module")
def engine_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A servable 8-layer tiny target (head_dim 32) and a random draft for it; no engine is started here."""
    from tests.conftest import TINY_TEXTS
    from tests.tiny_models import ModelShape, build_tiny_model_dir

    root = tmp_path_factory.mktemp("engine_dirs")
    shape = ModelShape(
        hidden_size=64,
        num_hidden_layers=8,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        intermediate_size=128,
    )
    target = build_tiny_model_dir(root / "target", TINY_TEXTS * 40, shape, vocab_size=400)
    return target, write_random_eagle3_draft(target, root / "draft")


def expect_error(cfg: EngineConfig, match: str) -> str:
    before = {p.pid for p in no_children()}
    with pytest.raises(SpecstackError) as e:
        start_engine(cfg, log=None)
    msg = one_line(e)
    assert match in msg, msg
    assert {p.pid for p in no_children()} <= before  # nothing was started
    return msg


def copy_dir(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_good_dirs_plan_a_speculative_vllm_command(engine_dirs) -> None:
    target, draft = engine_dirs
    cmd = plan(EngineConfig(model=target, draft=draft, engine="vllm", device="cpu", port=0))
    assert cmd.engine == "vllm" and cmd.speculative and cmd.port > 0
    assert json.loads(cmd.flag_value("--speculative-config"))["model"] == str(draft)


def test_bad_model_dirs(engine_dirs, tmp_path: Path) -> None:
    target, _ = engine_dirs
    expect_error(EngineConfig(port=0), "no target model")
    expect_error(EngineConfig(model=tmp_path / "nope", port=0), "does not exist")
    (tmp_path / "empty").mkdir()
    expect_error(EngineConfig(model=tmp_path / "empty", port=0), "no config.json")
    for missing, match in [
        ("model.safetensors", "no weights"),
        ("tokenizer.json", "no tokenizer"),
        ("chat_template.jinja", "no chat template"),
    ]:
        broken = copy_dir(target, tmp_path / f"no-{missing}")
        (broken / missing).unlink()
        expect_error(EngineConfig(model=broken, port=0), match)


def test_weights_that_are_not_safetensors_are_a_one_line_error(engine_dirs, tmp_path: Path) -> None:
    from serving.engines.checks import read_safetensors_header

    target, _ = engine_dirs
    shapes = read_safetensors_header(target / "model.safetensors")
    assert shapes["model.embed_tokens.weight"] == [400, 64]
    for name, content in [("html", b"<html>not weights</html>"), ("empty", b""),
                          ("cut", (target / "model.safetensors").read_bytes()[:-10])]:  # fmt: skip
        broken = copy_dir(target, tmp_path / name)
        (broken / "model.safetensors").write_bytes(content)
        msg = expect_error(EngineConfig(model=broken, port=0), "not a readable safetensors file")
        assert msg.startswith(f"{broken / 'model.safetensors'}: "), msg


def test_fixture_head_dim_16_is_refused_for_vllm_cpu(tiny_model_dir: Path) -> None:
    expect_error(
        EngineConfig(model=tiny_model_dir, engine="vllm", device="cpu", port=0),
        "head_dim 16 is not supported",
    )


def test_speculative_without_draft(engine_dirs) -> None:
    expect_error(EngineConfig(model=engine_dirs[0], speculative=True, port=0), "needs a draft")


def test_draft_incompatible_with_target(engine_dirs, tmp_path: Path) -> None:
    target, draft = engine_dirs
    cfg = {"model": target, "engine": "vllm", "device": "cpu", "port": 0}

    not_eagle = copy_dir(target, tmp_path / "not-eagle")
    expect_error(EngineConfig(**cfg, draft=not_eagle), "not an EAGLE-3 draft")

    def variant(name: str, **changes) -> Path:
        d = copy_dir(draft, tmp_path / name)
        conf = json.loads((d / "config.json").read_text())
        conf.update(changes)
        (d / "config.json").write_text(json.dumps(conf))
        return d

    expect_error(
        EngineConfig(**cfg, draft=variant("vocab", vocab_size=999, draft_vocab_size=999)), "vocab_size 999"
    )
    expect_error(
        EngineConfig(**cfg, draft=variant("hidden", target_hidden_size=128)), "target hidden size 128"
    )
    expect_error(
        EngineConfig(**cfg, draft=variant("aux", eagle_aux_hidden_state_layer_ids=[2, 2, 5])),
        "three distinct",
    )

    # another target with a different width: fc no longer takes 3 x its hidden states
    wide = copy_dir(target, tmp_path / "wide-target")
    conf = json.loads((wide / "config.json").read_text())
    conf["hidden_size"] = 128
    (wide / "config.json").write_text(json.dumps(conf))
    expect_error(EngineConfig(**{**cfg, "model": wide}, draft=draft), "expects target hidden size 64")


def test_d2t_with_full_vocab_is_refused_for_vllm(engine_dirs, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    target, draft = engine_dirs
    d = copy_dir(draft, tmp_path / "d2t")
    tensors = load_file(str(d / "model.safetensors"))
    tensors["d2t"] = torch.zeros(400, dtype=torch.long)
    save_file(tensors, str(d / "model.safetensors"))
    expect_error(EngineConfig(model=target, draft=d, engine="vllm", device="cpu", port=0), "vLLM refuses it")


def test_shallow_target_cannot_feed_default_aux_layers(tiny_model_dir: Path, tmp_path: Path) -> None:
    from serving.engines.checks import check_draft_dir, check_draft_matches, check_target_dir

    draft = write_random_eagle3_draft(tiny_model_dir, tmp_path / "d")
    with pytest.raises(SpecstackError, match=r"4 layers.*\(2, 2, 1\)"):
        check_draft_matches(check_target_dir(tiny_model_dir), check_draft_dir(draft), "vllm")


def test_port_taken(engine_dirs) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(SpecstackError, match=f"port {port} on 127.0.0.1 is already in use"):
            check_port_free("127.0.0.1", port)
        expect_error(EngineConfig(model=engine_dirs[0], port=port), "already in use")


def test_cli_print_command_applies_flags_over_the_config(engine_dirs, tmp_path: Path, capsys) -> None:
    from specstack.cli import main

    target, draft = engine_dirs
    run = tmp_path / "run.yaml"
    run.write_text(f"serve:\n  model: {target}\n  draft: {draft}\n  num_draft_tokens: 2\n  dtype: float32\n")
    argv = [
        "serve",
        "engine",
        "--config",
        str(run),
        "--num-draft-tokens",
        "5",
        "--port",
        "0",
        "--print-command",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert json.loads(out.split("--speculative-config ")[1].split("'")[1])["num_speculative_tokens"] == 5
    assert "--dtype float32" in out and f"--model {target}" in out
    assert main([*argv, "--no-speculation"]) == 0
    assert "--speculative-config" not in capsys.readouterr().out
    assert main(["serve", "engine", "--model", str(tmp_path / "nope"), "--print-command"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_pruned_vocab_draft_passes_and_needs_d2t(engine_dirs, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    target, _ = engine_dirs
    small = write_random_eagle3_draft(target, tmp_path / "small", draft_vocab_size=128, intermediate_size=64)
    assert json.loads((small / "config.json").read_text())["draft_vocab_size"] == 128
    plan(EngineConfig(model=target, draft=small, engine="vllm", device="cpu", port=0))
    tensors = load_file(str(small / "model.safetensors"))
    del tensors["d2t"]
    save_file(tensors, str(small / "model.safetensors"))
    expect_error(
        EngineConfig(model=target, draft=small, engine="vllm", device="cpu", port=0), "no d2t tensor"
    )
