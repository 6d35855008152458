"""Fetch and cache the real inputs of the tokenizer benchmark under artifacts/tokenizer_bench/ (git-ignored).

- Qwen's byte-level BPE ranks: `dashscope/resources/qwen.tiktoken` from the `dashscope` wheel on PyPI
  (`pip download --no-deps`, pinned version).
- Text written by people, not here, in *sources* of different genres (SOURCES: name, domain, packages,
  licence). Russian: Debian's Russian documentation (debian-faq-ru, maint-guide-ru, developers-reference-ru),
  fortunes-ru, manpages-ru (rendered with groff), LibreOffice's Russian help, LibreOffice's Russian UI
  translations (the msgstr strings of its .mo files), aptitude's and Double Commander's Russian manuals.
  English: the English counterparts plus debian-reference-en. Debian packages come from `apt-get download`
  + `dpkg-deb -x`, HTML stripped. Code: this Python's standard library (no tests) and the Python files of
  two pinned PyPI wheels (Django, SymPy).
- Per source, files are split by a hash of their path: about 20% held out. Each split is capped (files in
  hash order) so that no source swamps the others and the benchmark stays a few minutes long.

Writes text/{source}_{train,heldout,sample}.txt (documents separated by DOC_SEPARATOR, one per source file;
`sample` is up to SAMPLE_CHARS of the whole source, what a run that never saw the source is measured on)
and manifest.json (sources, packages, licences, sizes). Run it alone to fetch:
`python bench/tokenizer_inputs.py`.
"""

from __future__ import annotations

import gettext
import gzip
import hashlib
import html
import json
import re
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from adaptation.corpus import DOC_SEPARATOR  # noqa: E402

CACHE = REPO / "artifacts" / "tokenizer_bench"
DASHSCOPE_VERSION = "2.0.2"
TIKTOKEN_MEMBER = "dashscope/resources/qwen.tiktoken"
WHEELS = {"django": "Django==4.2.16", "sympy": "sympy==1.13.3"}
HELDOUT_SHARE = 0.2
TRAIN_CHARS = 2_500_000
HELDOUT_CHARS = 600_000
SAMPLE_CHARS = 400_000
SKIP_HTML = {"search.html", "genindex.html", "developers-reference.html"}
CODE_SKIP_DIRS = {
    "test",
    "tests",
    "testing",
    "site-packages",
    "idlelib",
    "lib2to3",
    "__pycache__",
    "turtledemo",
}

Docs = list[tuple[str, str]]


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


def key_hash(key: str) -> float:
    """A stable number in [0, 1) for a document key."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 16**8


def is_heldout(key: str) -> bool:
    """Deterministic file-level split: about HELDOUT_SHARE of the keys."""
    return key_hash(key) < HELDOUT_SHARE


def run(cmd: list[str], cwd: Path) -> str:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd)} failed: {result.stderr.strip().splitlines()[-1:]}")
    return result.stdout


def fetch_wheel(cache: Path, spec: str) -> Path:
    """A pinned wheel from PyPI (`pip download --no-deps`, downloaded once)."""
    downloads = cache / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    name, version = spec.split("==")
    prefix = f"{name.lower()}-{version}-"
    wheels = [p for p in downloads.glob("*.whl") if p.name.lower().startswith(prefix)]
    if not wheels:
        run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", spec], downloads)
        wheels = [p for p in downloads.glob("*.whl") if p.name.lower().startswith(prefix)]
    return wheels[0]


def fetch_tiktoken(cache: Path) -> Path:
    """qwen.tiktoken extracted from the pinned dashscope wheel."""
    out = cache / "qwen.tiktoken"
    if out.is_file():
        return out
    with zipfile.ZipFile(fetch_wheel(cache, f"dashscope=={DASHSCOPE_VERSION}")) as wheel:
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


# ---- readers: one package root (or wheel) -> documents ------------------------------------------------------


def html_docs(root: Path, pattern: str) -> Docs:
    """The visible text of the HTML files matching `pattern` under a package root."""
    return [
        (str(path.relative_to(root.parent)), html_text(path.read_text(encoding="utf-8", errors="replace")))
        for path in sorted(root.glob(pattern))
        if path.name not in SKIP_HTML
    ]


def fortune_docs(directory: Path, prefix: str) -> Docs:
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


JUSTIFIED = re.compile(r"(?<=\S) {2,}(?=\S)")


def man_docs(root: Path, pattern: str) -> Docs:
    """Man pages rendered as a terminal shows them (groff with tbl, UTF-8, no bold/underline), the spaces
    that justify lines cut to one."""
    out = []
    for path in sorted(root.glob(pattern)):
        source = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        if source.startswith(b".so "):
            continue
        result = subprocess.run(
            ["groff", "-k", "-t", "-man", "-Tutf8", "-P-cbu", "-rHY=0"],
            input=source,
            capture_output=True,
        )
        text = JUSTIFIED.sub(" ", result.stdout.decode("utf-8", "replace"))
        out.append((str(path.relative_to(root.parent)), tidy(text)))
    return out


def mo_docs(root: Path, pattern: str) -> Docs:
    """The translations (msgstr strings) of each compiled gettext catalogue, one per line."""
    out = []
    for path in sorted(root.glob(pattern)):
        with path.open("rb") as handle:
            catalog = gettext.GNUTranslations(handle)._catalog  # the only way to list them
        strings = [s for k, s in catalog.items() if k and isinstance(s, str) and s.strip()]
        out.append((str(path.relative_to(root.parent)), tidy("\n".join(strings))))
    return out


def python_docs(files: list[tuple[str, str]]) -> Docs:
    """Python sources (key, text), tests left out."""
    out = []
    for key, text in files:
        parts = key.split("/")
        if set(parts[:-1]) & CODE_SKIP_DIRS or parts[-1].startswith("test_"):
            continue
        out.append((key, tidy(text)))
    return out


def stdlib_docs(_: Path) -> Docs:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    tag = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return python_docs(
        [
            (f"{tag}/{p.relative_to(stdlib)}", p.read_text(encoding="utf-8", errors="replace"))
            for p in sorted(stdlib.rglob("*.py"))
        ]
    )


def wheel_docs(wheel: Path) -> Docs:
    with zipfile.ZipFile(wheel) as archive:
        names = sorted(n for n in archive.namelist() if n.endswith(".py"))
        return python_docs([(n, archive.read(n).decode("utf-8", "replace")) for n in names])


@dataclass(frozen=True)
class Source:
    """A body of text of one genre: where it comes from, under what licence, and how to read it."""

    name: str
    domain: str
    packages: tuple[str, ...]
    licence: str
    read: Callable[[dict[str, Path]], Docs]


def _debian_docs_ru(r: dict[str, Path]) -> Docs:
    return (
        html_docs(r["debian-faq-ru"], "usr/share/doc/debian/FAQ/ru/*.html")
        + html_docs(r["maint-guide-ru"], "usr/share/doc/maint-guide-ru/html/*.html")
        + html_docs(r["developers-reference-ru"], "usr/share/developers-reference/ru/*.html")
    )


def _debian_docs_en(r: dict[str, Path]) -> Docs:
    return (
        html_docs(r["debian-faq"], "usr/share/doc/debian/FAQ/*.html")
        + html_docs(r["maint-guide"], "usr/share/doc/maint-guide/html/*.html")
        + html_docs(r["developers-reference"], "usr/share/developers-reference/*.html")
    )


DEBIAN_DOCS_LICENCE = "GPL-2 (developers-reference), GPL-2+/MIT (maint-guide), verbatim-copying (debian-faq)"
SOURCES = [
    Source("ru-debian-docs", "ru", ("debian-faq-ru", "maint-guide-ru", "developers-reference-ru"),
           DEBIAN_DOCS_LICENCE, _debian_docs_ru),
    Source("ru-fortunes", "ru", ("fortunes-ru",), "GPL-2",
           lambda r: fortune_docs(r["fortunes-ru"] / "usr/share/games/fortunes/ru", "fortunes-ru")),
    Source("ru-manpages", "ru", ("manpages-ru",), "GPL-3+",
           lambda r: man_docs(r["manpages-ru"], "usr/share/man/ru/man*/*")),
    Source("ru-libreoffice-help", "ru", ("libreoffice-help-ru",), "MPL-2.0",
           lambda r: html_docs(r["libreoffice-help-ru"], "usr/share/libreoffice/help/ru/text/**/*.html")),
    Source("ru-libreoffice-ui", "ru", ("libreoffice-l10n-ru",), "MPL-2.0",
           lambda r: mo_docs(r["libreoffice-l10n-ru"], "usr/lib/libreoffice/program/resource/ru/LC_MESSAGES/*.mo")),
    Source("ru-aptitude-manual", "ru", ("aptitude-doc-ru",), "GPL-2+",
           lambda r: html_docs(r["aptitude-doc-ru"], "usr/share/doc/aptitude/html/ru/*.html")),
    Source("ru-doublecmd-help", "ru", ("doublecmd-help-ru",), "GPL-2+",
           lambda r: html_docs(r["doublecmd-help-ru"], "usr/share/doublecmd/doc/ru/*.html")),
    Source("en-debian-docs", "en", ("debian-faq", "maint-guide", "developers-reference"),
           DEBIAN_DOCS_LICENCE, _debian_docs_en),
    # Only the top directory: the offensive collection (off/) stays out.
    Source("en-fortunes", "en", ("fortunes",), "BSD-3-Clause",
           lambda r: fortune_docs(r["fortunes"] / "usr/share/games/fortunes", "fortunes")),
    Source("en-manpages", "en", ("manpages",), "GPL-2+ and others (Linux man-pages)",
           lambda r: man_docs(r["manpages"], "usr/share/man/man*/*")),
    Source("en-libreoffice-help", "en", ("libreoffice-help-en-us",), "MPL-2.0",
           lambda r: html_docs(r["libreoffice-help-en-us"], "usr/share/libreoffice/help/en-US/text/**/*.html")),
    Source("en-aptitude-manual", "en", ("aptitude-doc-en",), "GPL-2+",
           lambda r: html_docs(r["aptitude-doc-en"], "usr/share/doc/aptitude/html/en/*.html")),
    Source("en-doublecmd-help", "en", ("doublecmd-help-en",), "GPL-2+",
           lambda r: html_docs(r["doublecmd-help-en"], "usr/share/doublecmd/doc/en/*.html")),
    Source("en-debian-reference", "en", ("debian-reference-en",), "GPL-2+",
           lambda r: html_docs(r["debian-reference-en"], "usr/share/debian-reference/*.en.html")),
    Source("code-stdlib", "code", (), "PSF-2.0", stdlib_docs),
    Source("code-django", "code", (WHEELS["django"],), "BSD-3-Clause", lambda r: wheel_docs(r["django"])),
    Source("code-sympy", "code", (WHEELS["sympy"],), "BSD-3-Clause", lambda r: wheel_docs(r["sympy"])),
]  # fmt: skip
"""Every source of the benchmark, Russian, English and code."""


def capped(docs: Docs, limit: int) -> Docs:
    """Documents in hash order of their keys until `limit` characters (at least one document)."""
    out, size = [], 0
    for key, text in sorted(docs, key=lambda d: key_hash("order:" + d[0])):
        if out and size + len(text) > limit:
            continue
        out.append((key, text))
        size += len(text)
    return out


def write_docs(path: Path, docs: Docs) -> dict:
    path.write_text(DOC_SEPARATOR.join(t for _, t in docs) + "\n", encoding="utf-8")
    return {"files": len(docs), "chars": sum(len(t) for _, t in docs)}


def write_source(out: Path, name: str, docs: Docs) -> dict:
    """The source's train, held-out and sample files; returns their sizes."""
    docs = [(k, t) for k, t in docs if t.strip()]
    splits = {
        "train": capped([d for d in docs if not is_heldout(d[0])], TRAIN_CHARS),
        "heldout": capped([d for d in docs if is_heldout(d[0])], HELDOUT_CHARS),
        "sample": capped(docs, SAMPLE_CHARS),
    }
    info = {"total": {"files": len(docs), "chars": sum(len(t) for _, t in docs)}}
    info.update({split: write_docs(out / f"{name}_{split}.txt", d) for split, d in splits.items()})
    return info


def source_roots(cache: Path) -> dict[str, Path]:
    """Unpacked Debian packages and downloaded wheels, by package (or wheel) name."""
    debs = [p for s in SOURCES for p in s.packages if "==" not in p]
    roots = fetch_packages(cache, debs)
    roots.update({name: fetch_wheel(cache, spec) for name, spec in WHEELS.items()})
    return roots


def fetch_all(cache: Path = CACHE) -> Path:
    """Fetch everything (cached) and return the cache directory."""
    manifest = cache / "manifest.json"
    if manifest.is_file():
        return cache
    tiktoken_path = fetch_tiktoken(cache)
    roots = source_roots(cache)
    text = cache / "text"
    text.mkdir(parents=True, exist_ok=True)
    sources = {}
    for source in SOURCES:
        print(f"reading {source.name} ...", file=sys.stderr, flush=True)
        sizes = write_source(text, source.name, source.read(roots))
        sources[source.name] = {
            "domain": source.domain,
            "packages": list(source.packages),
            "licence": source.licence,
            **sizes,
        }
    data = {
        "qwen_tiktoken": {
            "from": f"dashscope=={DASHSCOPE_VERSION} {TIKTOKEN_MEMBER}",
            "sha256": hashlib.sha256(tiktoken_path.read_bytes()).hexdigest(),
        },
        "debian_packages": sorted(p.name for p in (cache / "downloads").glob("*.deb")),
        "wheels": sorted(p.name for p in (cache / "downloads").glob("*.whl")),
        "python_stdlib": sys.version.split()[0],
        "heldout_share": HELDOUT_SHARE,
        "caps": {"train": TRAIN_CHARS, "heldout": HELDOUT_CHARS, "sample": SAMPLE_CHARS},
        "sources": sources,
    }
    manifest.write_text(json.dumps(data, indent=2) + "\n")
    return cache


def main() -> None:
    cache = fetch_all()
    print(json.dumps(json.loads((cache / "manifest.json").read_text()), indent=2))


if __name__ == "__main__":
    main()
