#!/usr/bin/env bash
# Best-effort system packages that make the CPU engine fast and let tests check metrics:
# tcmalloc (vLLM's CPU guide preloads it) and promtool (Prometheus' metrics linter, unpacked locally).
# Without root or apt they are skipped with a message; the code falls back (no preload, promtool test fails loudly).
set -u
tools_dir="$(cd "$(dirname "$0")/.." && pwd)/.venv/tools"
mkdir -p "$tools_dir"

if ! ldconfig -p 2>/dev/null | grep -q libtcmalloc_minimal.so.4; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq libtcmalloc-minimal4 >/dev/null) \
      || echo "note: could not install libtcmalloc-minimal4; vLLM CPU runs without it, slower"
  else
    echo "note: libtcmalloc-minimal4 missing and apt unavailable; vLLM CPU runs without it, slower"
  fi
fi

if [ ! -x "$tools_dir/promtool" ] && ! command -v promtool >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    work="$(mktemp -d)"
    (cd "$work" && apt-get download -qq prometheus >/dev/null 2>&1 && dpkg-deb -x prometheus_*.deb root \
      && cp root/usr/bin/promtool "$tools_dir/promtool") \
      || echo "note: could not fetch promtool (Debian package prometheus)"
    rm -rf "$work"
  fi
fi
exit 0
