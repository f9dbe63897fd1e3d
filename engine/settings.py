"""Engine configuration, read once from environment variables into one typed object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .cpus import usable_cpus
from .errors import InvalidOptionError

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = "u2netp-int8"


@dataclass(frozen=True)
class EngineSettings:
    """Process-wide engine settings.

    Environment variables (all optional):
      ENGINE_MODEL          model id, a manifest name in ENGINE_MODEL_DIR (default u2netp-int8)
      ENGINE_MODEL_DIR      folder holding `<id>.json` manifests and their model files
      ENGINE_THREADS        ONNX Runtime intra-op threads (default: CPUs this process may use)
      ENGINE_MAX_MEGAPIXELS decompression-bomb guard: larger images are refused (default 64)
    """

    model: str = DEFAULT_MODEL
    model_dir: Path = MODELS_DIR
    threads: int = 1
    max_megapixels: float = 64.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EngineSettings:
        env = os.environ if env is None else env
        return cls(
            model=env.get("ENGINE_MODEL", "").strip() or DEFAULT_MODEL,
            model_dir=Path(env.get("ENGINE_MODEL_DIR", "").strip() or MODELS_DIR),
            threads=_positive_int(env, "ENGINE_THREADS") or usable_cpus(),
            max_megapixels=_positive_float(env, "ENGINE_MAX_MEGAPIXELS") or 64.0,
        )


def _positive_int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidOptionError(f"{name} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise InvalidOptionError(f"{name} must be a positive integer, got {raw!r}")
    return value


def _positive_float(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InvalidOptionError(f"{name} must be a positive number, got {raw!r}") from None
    if not value > 0:
        raise InvalidOptionError(f"{name} must be a positive number, got {raw!r}")
    return value


@lru_cache(maxsize=1)
def settings() -> EngineSettings:
    """The settings of this process, read from the environment on first use."""
    return EngineSettings.from_env()
