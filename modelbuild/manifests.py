"""Writing the manifest that ships next to each engine model (schema: engine/manifest.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx
import onnxruntime as ort

from engine.manifest import sha256_file

from .arena import arena_mib
from .graph import SIDE_OUTPUTS
from .photos import MEAN, STD

FAMILY = "u2net"  # U²-Net, U²-Netp and the students; MODNet has its own (recipes.py)


@dataclass(frozen=True)
class Feed:
    """How the engine takes a model's output and feeds it the photo (engine/families.py,
    engine.model.model_input): its family, the input's mean and std, the output's normalisation
    ("minmax" for a segmentation map, "none" for an alpha matte)."""

    family: str = FAMILY
    mean: tuple[float, float, float] = MEAN
    std: tuple[float, float, float] = STD
    normalize: str = "minmax"


def describe_model(
    model_id: str,
    path: Path,
    provenance: dict[str, Any],
    metrics: dict[str, Any],
    measure_memory: bool = True,
    feed: Feed = Feed(),  # frozen: one shared default is safe
) -> dict[str, Any]:
    """The manifest of a model file: its hash and size, the input/output contract read from its
    graph and `feed`, and (`measure_memory`, in fresh interpreters) the memory its first run takes
    (arena.py)."""
    graph = onnx.load(str(path), load_external_data=False).graph
    dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    arena = arena_mib(path, dims) if measure_memory else None
    return {
        "id": model_id,
        "family": feed.family,
        "file": path.name,
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "input": {
            "name": graph.input[0].name,
            "size": [dims[3], dims[2]],
            "mean": list(feed.mean),
            "std": list(feed.std),
        },
        "output": {"name": graph.output[0].name, "normalize": feed.normalize} | side_outputs(graph),
        **({"memory": {"arena_mib": arena}} if arena is not None else {}),
        "provenance": provenance,
        "metrics": metrics,
    }


def side_outputs(graph: onnx.GraphProto) -> dict[str, str]:
    """`{"side": "side", "side4": "side4"}`, as far as the graph exposes them (graph.expose_side_outputs)."""
    exposed = {o.name for o in graph.output[1:]}
    return {name: name for name in SIDE_OUTPUTS if name in exposed}


IMAGE_MARKS = ("shipped", "baked")  # what the image bakes in (infra/select_models.py)
KEPT_ON_REBUILD = (*IMAGE_MARKS, "error_estimate")  # decided by hand, or fitted after the build


def write_manifest(manifest: dict[str, Any], folder: Path) -> Path:
    """`<folder>/<id>.json`, rewritten only when its content changes (so rebuilds leave git clean).

    `"shipped"` (committed and baked into the image) and `"baked"` (baked in, built before the
    image) are decided by hand in the manifest, `"error_estimate"` is fitted after the build
    (`python -m training error-model`): a rebuild that does not say otherwise keeps them.
    A rebuild of the same file keeps the larger `memory.arena_mib` of the two, and its `"speed"`.
    """
    path = folder / f"{manifest['id']}.json"
    previous = read_manifest(path) or {}
    kept = {key: previous[key] for key in KEPT_ON_REBUILD if key in previous and key not in manifest}
    if kept:
        manifest = {"id": manifest["id"], **kept, **manifest}
    manifest = _speed_last(manifest, previous)
    manifest = _larger_arena(manifest, previous)
    text = json.dumps(manifest, indent=2) + "\n"
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


def _larger_arena(manifest: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """The same file measured again keeps the larger arena figure: a rebuild on another machine
    neither churns the manifest nor lowers what the engine counts against its memory budget."""
    new, old = manifest.get("memory", {}).get("arena_mib"), previous.get("memory", {}).get("arena_mib")
    if new is None or old is None or previous.get("sha256") != manifest.get("sha256") or old <= new:
        return manifest
    return {**manifest, "memory": {**manifest["memory"], "arena_mib": old}}


def _speed_last(manifest: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """`"speed"` (timed beside the folder's other models: `record_speed`) as the last key: the
    manifest's own, else the previous one's when the file is the same (the same file runs as fast)."""
    speed = manifest.get("speed")
    if speed is None and previous.get("sha256") == manifest.get("sha256"):
        speed = previous.get("speed")
    rest = {key: value for key, value in manifest.items() if key != "speed"}
    return rest if speed is None else {**rest, "speed": speed}


def record_speed(folder: Path, times: dict[str, float]) -> None:
    """Write each model's time (ms, 2 threads), measured in one run beside the others of `times`
    (`python -m modelbuild latency`), into its manifest as `"speed"`: figures `--list-models` can
    set side by side, where each build's own latency was taken on whatever the machine did then."""
    for model_id, ms in times.items():
        manifest = read_manifest(folder / f"{model_id}.json")
        if manifest is None:
            raise FileNotFoundError(f"no manifest {folder / f'{model_id}.json'}")
        speed = {"ms_2_threads": ms, "timed_with": sorted(times), "onnxruntime": ort.__version__}
        write_manifest({**manifest, "speed": speed}, folder)


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest at `path`, or None if there is none."""
    return json.loads(path.read_text()) if path.is_file() else None
