#!/usr/bin/env bash
# Best-effort system packages that make the CPU engine fast and let tests check metrics and shared limits:
# tcmalloc (vLLM's CPU guide preloads it), promtool (Prometheus' metrics linter, unpacked locally) and
# redis-server (the gateway's shared rate limits are tested against a real one; unpacked locally with the
# two libraries it needs, run through a wrapper that points the loader at them).
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
if [ ! -x "$tools_dir/redis-server" ] && command -v apt-get >/dev/null 2>&1; then
  work="$(mktemp -d)"
  # a fresh machine may have no package lists yet: refresh them once when the download finds nothing
  (cd "$work" && { apt-get download -qq redis-server >/dev/null 2>&1 \
                   || { [ "$(id -u)" = 0 ] && apt-get update -qq >/dev/null 2>&1; }; } \
    && apt-get download -qq redis-server redis-tools libjemalloc2 liblzf1 >/dev/null 2>&1 \
    && for deb in *.deb; do dpkg-deb -x "$deb" root; done \
    && mkdir -p "$tools_dir/redis" && cp -L root/usr/bin/redis-server "$tools_dir/redis/" \
    && cp root/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 root/usr/lib/x86_64-linux-gnu/liblzf.so.1* "$tools_dir/redis/" \
    && printf '#!/bin/sh\nLD_LIBRARY_PATH="%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "%s/redis-server" "$@"\n' \
         "$tools_dir/redis" "$tools_dir/redis" > "$tools_dir/redis-server" \
    && chmod +x "$tools_dir/redis-server" && "$tools_dir/redis-server" --version >/dev/null) \
    || echo "note: could not fetch redis-server (Debian package redis-server); the shared-limits tests will say so"
  rm -rf "$work"
fi
exit 0
