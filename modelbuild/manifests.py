"""Writing the manifest that ships next to each engine model (schema: engine/manifest.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnx

from engine.manifest import sha256_file

from .graph import SIDE_OUTPUT
from .photos import MEAN, STD

FAMILY = "u2net"  # every model built here and in training/ is U²-Net or U²-Netp


def describe_model(model_id: str, path: Path, provenance: dict[str, Any], metrics: dict[str, Any]) -> dict[str, Any]:
    """The manifest of a model file: its hash and size, and the input/output contract read from its graph."""
    graph = onnx.load(str(path), load_external_data=False).graph
    dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    return {
        "id": model_id,
        "family": FAMILY,
        "file": path.name,
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "input": {"name": graph.input[0].name, "size": [dims[3], dims[2]], "mean": list(MEAN), "std": list(STD)},
        "output": {"name": graph.output[0].name, "normalize": "minmax"} | side_output(graph),
        "provenance": provenance,
        "metrics": metrics,
    }


def side_output(graph: onnx.GraphProto) -> dict[str, str]:
    """`{"side": name}` when the graph exposes its finest side output (graph.expose_finest_side)."""
    return {"side": SIDE_OUTPUT} if any(o.name == SIDE_OUTPUT for o in graph.output[1:]) else {}


IMAGE_MARKS = ("shipped", "baked")  # what the image bakes in (infra/select_models.py)
KEPT_ON_REBUILD = (*IMAGE_MARKS, "error_estimate")  # decided by hand, or fitted after the build


def write_manifest(manifest: dict[str, Any], folder: Path) -> Path:
    """`<folder>/<id>.json`, rewritten only when its content changes (so rebuilds leave git clean).

    `"shipped"` (committed and baked into the image) and `"baked"` (baked in, built before the
    image) are decided by hand in the manifest, `"error_estimate"` is fitted after the build
    (`python -m training error-model`): a rebuild that does not say otherwise keeps them.
    """
    path = folder / f"{manifest['id']}.json"
    previous = read_manifest(path) or {}
    kept = {key: previous[key] for key in KEPT_ON_REBUILD if key in previous and key not in manifest}
    if kept:
        manifest = {"id": manifest["id"], **kept, **manifest}
    text = json.dumps(manifest, indent=2) + "\n"
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest at `path`, or None if there is none."""
    return json.loads(path.read_text()) if path.is_file() else None
