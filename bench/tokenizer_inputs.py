"""Fetch and cache the real inputs of the tokenizer benchmark under artifacts/tokenizer_bench/ (git-ignored).

- Qwen's byte-level BPE ranks: `dashscope/resources/qwen.tiktoken` from the `dashscope` wheel on PyPI
  (`pip download --no-deps`, pinned version).
- Russian text written by people, not here: Debian's Russian documentation (debian-faq-ru, maint-guide-ru,
  developers-reference-ru; HTML stripped) and fortunes-ru (`.u8` files), via `apt-get download` +
  `dpkg-deb -x`. English: the English counterparts (debian-faq, maint-guide, developers-reference,
  fortunes). Code: this Python's standard library sources (no tests).
- Split by file, by a hash of the file's path: about 20% of the files of each domain are held out.

Writes text/{ru,en,code}_{train,heldout}.txt (documents separated by DOC_SEPARATOR, one per source file)
and manifest.json (sources, versions, sizes). Run it alone to fetch: `python bench/tokenizer_inputs.py`.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import subprocess
import sys
import sysconfig
import zipfile
from html.parser import HTMLParser
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from adaptation.corpus import DOC_SEPARATOR  # noqa: E402

CACHE = REPO / "artifacts" / "tokenizer_bench"
DASHSCOPE_VERSION = "2.0.2"
TIKTOKEN_MEMBER = "dashscope/resources/qwen.tiktoken"
RU_PACKAGES = ["debian-faq-ru", "maint-guide-ru", "developers-reference-ru", "fortunes-ru"]
EN_PACKAGES = ["debian-faq", "maint-guide", "developers-reference", "fortunes"]
HELDOUT_SHARE = 0.2
CODE_MAX_BYTES = 8_000_000
SKIP_HTML = {"search.html", "genindex.html", "developers-reference.html"}


class _TextExtractor(HTMLParser):
    """Visible text of an HTML page: scripts, styles and the navigation skipped, blocks on new lines."""

    BLOCKS = frozenset(
        {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "dt", "dd", "table"}
    )
    SKIP = frozenset({"script", "style", "head", "nav"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_text(raw: str) -> str:
    """Visible text of an HTML document, whitespace tidied."""
    parser = _TextExtractor()
    parser.feed(raw)
    return tidy(html.unescape("".join(parser.parts)))


def tidy(text: str) -> str:
    """Trailing spaces cut, runs of blank lines to one, no outer blank lines (so DOC_SEPARATOR stays unique)."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def is_heldout(key: str) -> bool:
    """Deterministic file-level split: about HELDOUT_SHARE of the keys."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 16**8 < HELDOUT_SHARE


def run(cmd: list[str], cwd: Path) -> None:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd)} failed: {result.stderr.strip().splitlines()[-1:]}")


def fetch_tiktoken(cache: Path) -> Path:
    """qwen.tiktoken extracted from the pinned dashscope wheel (downloaded once)."""
    out = cache / "qwen.tiktoken"
    if out.is_file():
        return out
    downloads = cache / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    wheels = list(downloads.glob(f"dashscope-{DASHSCOPE_VERSION}-*.whl"))
    if not wheels:
        run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"dashscope=={DASHSCOPE_VERSION}"],
            downloads,
        )
        wheels = list(downloads.glob(f"dashscope-{DASHSCOPE_VERSION}-*.whl"))
    with zipfile.ZipFile(wheels[0]) as wheel:
        data = wheel.read(TIKTOKEN_MEMBER)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return out


def fetch_packages(cache: Path, names: list[str]) -> dict[str, Path]:
    """Each Debian package downloaded and unpacked under cache/debs/NAME; returns the unpacked roots."""
    downloads, roots = cache / "downloads", {}
    downloads.mkdir(parents=True, exist_ok=True)
    missing = [n for n in names if not list(downloads.glob(f"{n}_*.deb"))]
    if missing:
        run(["apt-get", "download", "-q", *missing], downloads)
    for name in names:
        deb = sorted(downloads.glob(f"{name}_*.deb"))[0]
        root = cache / "debs" / name
        if not root.is_dir():
            tmp = root.with_name(name + ".tmp")
            tmp.mkdir(parents=True, exist_ok=True)
            run(["dpkg-deb", "-x", str(deb), str(tmp)], cache)
            tmp.replace(root)
        roots[name] = root
    return roots


def _html_docs(root: Path, pattern: str, exclude_dirs: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    out = []
    for path in sorted(root.glob(pattern)):
        if path.name in SKIP_HTML or any(part in exclude_dirs for part in path.relative_to(root).parts[:-1]):
            continue
        out.append(
            (
                str(path.relative_to(root.parent)),
                html_text(path.read_text(encoding="utf-8", errors="replace")),
            )
        )
    return out


def _fortune_docs(directory: Path, prefix: str) -> list[tuple[str, str]]:
    """The `.u8` (UTF-8) fortune files of a directory (not its subdirectories), one document each."""
    out = []
    for path in sorted(directory.glob("*.u8")):
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("koi8-r")
        out.append((f"{prefix}/{path.name}", tidy(text)))
    return out


def russian_documents(roots: dict[str, Path]) -> list[tuple[str, str]]:
    docs = _html_docs(roots["debian-faq-ru"], "usr/share/doc/debian/FAQ/ru/*.html")
    docs += _html_docs(roots["maint-guide-ru"], "usr/share/doc/maint-guide-ru/html/*.html")
    docs += _html_docs(roots["developers-reference-ru"], "usr/share/developers-reference/ru/*.html")
    docs += _fortune_docs(roots["fortunes-ru"] / "usr/share/games/fortunes/ru", "fortunes-ru")
    return docs


def english_documents(roots: dict[str, Path]) -> list[tuple[str, str]]:
    docs = _html_docs(roots["debian-faq"], "usr/share/doc/debian/FAQ/*.html")
    docs += _html_docs(roots["maint-guide"], "usr/share/doc/maint-guide/html/*.html")
    docs += _html_docs(roots["developers-reference"], "usr/share/developers-reference/*.html")
    # Only the top directory: the offensive collection (off/) stays out.
    docs += _fortune_docs(roots["fortunes"] / "usr/share/games/fortunes", "fortunes")
    return docs


def code_documents() -> list[tuple[str, str]]:
    """The standard library's own .py files (tests, site-packages and idlelib excluded), up to CODE_MAX_BYTES."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    skip = {"test", "tests", "site-packages", "idlelib", "lib2to3", "__pycache__", "turtledemo"}
    out, size = [], 0
    for path in sorted(stdlib.rglob("*.py")):
        rel = path.relative_to(stdlib)
        if set(rel.parts[:-1]) & skip or rel.name.startswith("test_"):
            continue
        text = tidy(path.read_text(encoding="utf-8", errors="replace"))
        if size + len(text) > CODE_MAX_BYTES:
            break
        out.append((f"python{sys.version_info.major}.{sys.version_info.minor}/{rel}", text))
        size += len(text)
    return out


def write_split(out: Path, name: str, docs: list[tuple[str, str]]) -> dict:
    docs = [(k, t) for k, t in docs if t.strip()]
    parts = {
        "train": [t for k, t in docs if not is_heldout(k)],
        "heldout": [t for k, t in docs if is_heldout(k)],
    }
    info = {}
    for split, texts in parts.items():
        path = out / f"{name}_{split}.txt"
        path.write_text(DOC_SEPARATOR.join(texts) + "\n", encoding="utf-8")
        info[split] = {"files": len(texts), "chars": sum(map(len, texts))}
    return info


def fetch_all(cache: Path = CACHE) -> Path:
    """Fetch everything (cached) and return the cache directory."""
    manifest = cache / "manifest.json"
    if manifest.is_file():
        return cache
    tiktoken_path = fetch_tiktoken(cache)
    roots = fetch_packages(cache, RU_PACKAGES + EN_PACKAGES)
    text = cache / "text"
    text.mkdir(parents=True, exist_ok=True)
    info = {
        "ru": write_split(text, "ru", russian_documents(roots)),
        "en": write_split(text, "en", english_documents(roots)),
        "code": write_split(text, "code", code_documents()),
    }
    debs = sorted(p.name for p in (cache / "downloads").glob("*.deb"))
    data = {
        "qwen_tiktoken": {
            "from": f"dashscope=={DASHSCOPE_VERSION} {TIKTOKEN_MEMBER}",
            "sha256": hashlib.sha256(tiktoken_path.read_bytes()).hexdigest(),
        },
        "debian_packages": debs,
        "python_stdlib": sys.version.split()[0],
        "heldout_share": HELDOUT_SHARE,
        "domains": info,
    }
    manifest.write_text(json.dumps(data, indent=2) + "\n")
    return cache


def main() -> None:
    cache = fetch_all()
    print(json.dumps(json.loads((cache / "manifest.json").read_text()), indent=2))


if __name__ == "__main__":
    main()
