"""Where the model pipeline reads and writes: repo-relative, so every checkout builds alike."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache"
WHEELS = CACHE / "wheels"
SOURCE_MODELS = CACHE / "models"  # extracted source weights; doubles as rembg's U2NET_HOME
WORK = CACHE / "modelbuild"  # intermediate graphs and calibration ranges
ENGINE_MODELS = REPO / "engine" / "models"
PHOTOS = Path("/work/shared/data/train/images")
