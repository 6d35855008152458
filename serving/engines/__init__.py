"""Engine launchers: vLLM (CPU default, CUDA) and SGLang (CUDA) from one EngineConfig.

    from serving.engines import EngineConfig, running_engine
    with running_engine(EngineConfig(model=TARGET, draft=DRAFT, port=0)) as url:  # "http://127.0.0.1:PORT"
        ...  # OpenAI API at url + "/v1"

Heavy imports (vllm, torch) happen only inside the functions that need them.
"""

from serving.engines.command import EngineCommand
from serving.engines.config import CpuSettings, EngineConfig, SglangSettings
from serving.engines.launcher import EngineProcess, launch, plan, running_engine, start_engine

__all__ = [
    "CpuSettings",
    "EngineCommand",
    "EngineConfig",
    "EngineProcess",
    "SglangSettings",
    "launch",
    "plan",
    "running_engine",
    "start_engine",
]
