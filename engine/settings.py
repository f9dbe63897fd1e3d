"""Engine configuration, read once from environment variables into one typed object.

A bad value raises `SettingError`, a deployment error: the handlers read these settings at cold
start (so a misconfigured function fails its init, not every image) and the CLI exits with 2.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .cpus import lambda_vcpus, usable_cpus
from .errors import SettingError

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = "u2netp-distilled-int8"
DEFAULT_MAX_MEGAPIXELS = 64.0
# Share of a Lambda function's memory the engine may plan to use: the rest is for what the
# estimate does not count (Python objects, the allocator's slack, the runtime's own buffers).
MEMORY_BUDGET_SHARE = 0.9

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineSettings:
    """Process-wide engine settings.

    Environment variables (all optional):
      ENGINE_MODEL            model id, a manifest name in ENGINE_MODEL_DIR (default u2netp-distilled-int8)
      ENGINE_MODEL_DIR        folder holding `<id>.json` manifests and their model files
      ENGINE_THREADS          ONNX Runtime intra-op threads (default, and most: the CPUs this
                              process may use, in Lambda the vCPUs its memory buys, rounded up; more
                              only slow it down, so they are capped, with a warning)
      ENGINE_MAX_MEGAPIXELS   decompression-bomb guard: larger images are refused (default 64)
      ENGINE_MEMORY_BUDGET_MB images whose estimated peak memory is larger are refused before
                              decoding (engine/memory.py); default MEMORY_BUDGET_SHARE of
                              AWS_LAMBDA_FUNCTION_MEMORY_SIZE in Lambda, no budget elsewhere
    """

    model: str = DEFAULT_MODEL
    model_dir: Path = MODELS_DIR
    threads: int = 1
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS
    memory_budget_mb: float | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EngineSettings:
        env = os.environ if env is None else env
        function_memory = _positive(env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", int)  # set in Lambda only
        return cls(
            model=env.get("ENGINE_MODEL", "").strip() or DEFAULT_MODEL,
            model_dir=Path(env.get("ENGINE_MODEL_DIR", "").strip() or MODELS_DIR),
            threads=_threads(env, function_memory),
            max_megapixels=_positive(env, "ENGINE_MAX_MEGAPIXELS", float) or DEFAULT_MAX_MEGAPIXELS,
            memory_budget_mb=_memory_budget(env, function_memory),
        )


def _threads(env: Mapping[str, str], function_memory: float | None) -> int:
    cpus = usable_cpus()
    if function_memory is not None:  # in Lambda: the CPU time its memory buys, not the CPUs it shows
        cpus = min(cpus, lambda_vcpus(int(function_memory)))
    wanted = _positive(env, "ENGINE_THREADS", int)
    if wanted is None:
        return cpus
    if wanted > cpus:
        log.warning("ENGINE_THREADS=%d is more than the %d CPU(s) this process may use: using %d", wanted, cpus, cpus)
        return cpus
    return int(wanted)


def _memory_budget(env: Mapping[str, str], function_memory: float | None) -> float | None:
    explicit = _positive(env, "ENGINE_MEMORY_BUDGET_MB", float)
    if explicit is not None:
        return float(explicit)
    return None if function_memory is None else function_memory * MEMORY_BUDGET_SHARE


def _positive(env: Mapping[str, str], name: str, kind: type[int] | type[float]) -> float | None:
    """The variable as a positive number of `kind`, None when unset, SettingError when not one."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    what = "a positive integer" if kind is int else "a positive number"
    try:
        value = kind(raw) if raw.isascii() else math.nan
    except ValueError:
        value = math.nan
    if not value > 0 or math.isinf(value):
        raise SettingError(f"{name} must be {what}, got {raw!r}")
    return value


@lru_cache(maxsize=1)
def settings() -> EngineSettings:
    """The settings of this process, read from the environment on first use."""
    return EngineSettings.from_env()
