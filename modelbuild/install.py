"""`install`: source weights and the engine models built from them, doing nothing that is already done."""

from __future__ import annotations

import shutil
from pathlib import Path

from engine.errors import ModelError
from engine.manifest import load_manifest, sha256_file, verify_model_file

from .manifests import describe_model, write_manifest
from .paths import ENGINE_MODELS
from .sources import SOURCES, ensure_source


def install_float(name: str, engine_models: Path = ENGINE_MODELS) -> Path:
    """The verified source model as the selectable fp32 engine model `<name>`, with its manifest."""
    source = ensure_source(name)
    target = engine_models / f"{name}.onnx"
    if is_installed(name, engine_models):
        manifest = load_manifest(name, engine_models)
        if manifest.arena_mb is not None and manifest.sha256 == sha256_file(source):
            return target  # this source, described and copied before: measuring the arena again takes seconds
    provenance = {"source": SOURCES[name].as_provenance(), "command": "python -m modelbuild install"}
    write_manifest(describe_model(name, source, provenance, {}), engine_models)
    if not is_installed(name, engine_models):
        shutil.copyfile(source, target)
        print(f"installed {target}", flush=True)
    return target


def is_installed(model_id: str, engine_models: Path = ENGINE_MODELS) -> bool:
    """Whether `<id>.onnx` is there and matches its manifest (size and sha256)."""
    try:
        verify_model_file(load_manifest(model_id, engine_models))
    except ModelError:
        return False
    return True
