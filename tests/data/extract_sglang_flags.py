"""Regenerate tests/data/sglang_server_args_<version>.json from a released SGLang wheel (no install needed).

    pip download sglang==0.5.14 --no-deps -d /tmp/sgl
    python tests/data/extract_sglang_flags.py /tmp/sgl/sglang-0.5.14-*.whl

SGLang 0.5.x derives most CLI flags from `ServerArgs` dataclass fields annotated `A[type, "help" | Arg(...)]`
(`sglang/srt/arg_groups/arg_utils.py`: `--field-name`, `Arg(cli_name=..., aliases=[...])`, bool -> store_true,
`Arg(no_cli=True)` -> no flag) and adds the rest with `parser.add_argument` in `ServerArgs.add_cli_args`.
This script reads both statically (ast), keeps the flags our `sglang_command` emits, and writes each with
its source line and whether it takes a value, plus the names of SGLang's tool-call parsers.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

SERVER_ARGS = "sglang/srt/server_args.py"
PARSERS = "sglang/srt/function_call/function_call_parser.py"
SPEC_INFO = "sglang/srt/speculative/spec_info.py"


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_bool(t: ast.expr) -> bool:
    if isinstance(t, ast.Name):
        return t.id == "bool"
    if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id == "Optional":
        return _is_bool(t.slice)
    return False


def dataclass_flags(cls: ast.ClassDef) -> dict[str, dict]:
    flags: dict[str, dict] = {}
    for node in cls.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        ann = node.annotation
        if not (
            isinstance(ann, ast.Subscript)
            and isinstance(ann.value, ast.Name)
            and ann.value.id in ("A", "Annotated")
        ):
            continue
        elts = ann.slice.elts if isinstance(ann.slice, ast.Tuple) else [ann.slice]
        typ, meta = elts[0], elts[1] if len(elts) > 1 else None
        names = ["--" + node.target.id.replace("_", "-")]
        action = None
        if isinstance(meta, ast.Call):
            no_cli = _kw(meta, "no_cli")
            if isinstance(no_cli, ast.Constant) and no_cli.value is True:
                continue
            cli_name = _kw(meta, "cli_name")
            if isinstance(cli_name, ast.Constant):
                names = [cli_name.value]
            aliases = _kw(meta, "aliases")
            if isinstance(aliases, ast.List):
                names += [e.value for e in aliases.elts if isinstance(e, ast.Constant)]
            action = _kw(meta, "action")
        elif not (isinstance(meta, ast.Constant) and isinstance(meta.value, str)):
            continue
        kind = "flag" if (_is_bool(typ) and action is None) else "value"
        for n in names:
            flags[n] = {"line": node.lineno, "kind": kind, "field": node.target.id}
    return flags


def add_argument_flags(cls: ast.ClassDef) -> dict[str, dict]:
    flags: dict[str, dict] = {}
    for fn in cls.body:
        if not (isinstance(fn, ast.FunctionDef) and fn.name == "add_cli_args"):
            continue
        for call in ast.walk(fn):
            if not (isinstance(call, ast.Call) and getattr(call.func, "attr", None) == "add_argument"):
                continue
            action = _kw(call, "action")
            store_flag = (
                isinstance(action, ast.Constant) and action.value in ("store_true", "store_false")
            ) or (isinstance(action, ast.Name) and "StoreTrue" in action.id)
            kind = "flag" if store_flag else "value"
            for a in call.args:
                if isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value.startswith("--"):
                    flags[a.value] = {"line": call.lineno, "kind": kind, "field": None}
    return flags


def tool_call_parsers(source: str) -> dict[str, int]:
    out = {}
    for i, line in enumerate(source.splitlines(), 1):
        m = re.match(r'\s+"([a-z0-9_]+)": \w+Detector,', line)
        if m:
            out[m.group(1)] = i
    return out


def speculative_algorithms(source: str) -> dict[str, int]:
    out = {}
    for i, line in enumerate(source.splitlines(), 1):
        m = re.match(r"    ([A-Z0-9_]+) = auto\(\)", line)
        if m:
            out[m.group(1)] = i
    return out


def flags_we_use() -> list[str]:
    from serving.engines.config import EngineConfig
    from serving.engines.sglang import sglang_command

    cfg = EngineConfig(
        model="/m",
        draft="/d",
        engine="sglang",
        max_model_len=4096,
    )
    argv = sglang_command(cfg, device="cuda", python="python").argv
    return sorted({a for a in argv if a.startswith("--")})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wheel", type=Path, help="sglang-X.Y.Z-*.whl from PyPI")
    ap.add_argument("--out-dir", type=Path, default=Path(__file__).parent)
    args = ap.parse_args()
    version = args.wheel.name.split("-")[1]
    with zipfile.ZipFile(args.wheel) as z:
        server_args = z.read(SERVER_ARGS).decode()
        parsers = z.read(PARSERS).decode()
        spec_info = z.read(SPEC_INFO).decode()
    tree = ast.parse(server_args)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "ServerArgs")
    all_flags = {**dataclass_flags(cls), **add_argument_flags(cls)}
    used = flags_we_use()
    missing = [f for f in used if f not in all_flags]
    if missing:
        sys.exit(f"sglang {version} has no flag(s) {missing}: update serving/engines/sglang.py")
    data = {
        "source": f"sglang=={version} (PyPI wheel {args.wheel.name}), {SERVER_ARGS}",
        "how": "tests/data/extract_sglang_flags.py: ServerArgs fields A[...] and add_cli_args() add_argument calls",
        "flags": {f: {"line": all_flags[f]["line"], "kind": all_flags[f]["kind"]} for f in used},
        "tool_call_parsers": {"file": PARSERS, "names": tool_call_parsers(parsers)},
        "speculative_algorithms": {"file": SPEC_INFO, "names": speculative_algorithms(spec_info)},
        "total_flags_in_source": len(all_flags),
    }
    out = args.out_dir / f"sglang_server_args_{version}.json"
    out.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {out}: {len(used)} flags used of {len(all_flags)}")


if __name__ == "__main__":
    main()
