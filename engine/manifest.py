"""The model manifest: the contract between a model file and the code that feeds it.

Each model `<id>` is described by `<id>.json` next to its ONNX file. The loader checks the
file's size and sha256 against it; preprocessing reads input size and mean/std from it, and
post-processing its family (families.py), output name and normalisation, so the two cannot
drift apart; `output.side` and `output.side4` name the side outputs the model exposes (the error
estimate's `side` and `side4` features, quality.py); `memory.arena_mib` is what ONNX Runtime's arena takes on
the model's first run (modelbuild/arena.py), which lets the engine skip a warm-up run at load
(model.py) and count it against the memory budget instead (memory.py). `"shipped": true` marks
the models committed in git and baked into the Lambda image, `"baked": true` those baked in but
built before the image (too big for git): infra/select_models.py reads them; the engine does not
need them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelError, ModelIntegrityError, ModelNotFoundError
from .families import DEFAULT_FAMILY, FAMILIES
from .quality import DEFAULT as DEFAULT_ERROR_MODEL
from .quality import SIDE_FEATURES, ErrorModel


@dataclass(frozen=True)
class Manifest:
    id: str
    file: str
    sha256: str
    bytes: int
    family: str  # a key of families.FAMILIES
    input_name: str
    input_size: tuple[int, int]  # (width, height)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    output_name: str
    normalize_output: str  # "minmax" (rescale the map to 0..1 per image) or "none"
    path: Path  # the model file, resolved next to the manifest
    error_model: ErrorModel = DEFAULT_ERROR_MODEL  # the per-image error estimate (quality.py)
    sides: dict[str, str] = field(default_factory=dict)  # exposed side outputs by feature (quality.SIDE_FEATURES)
    arena_mb: float | None = None  # memory ONNX Runtime's arena takes on the first run, when measured
    provenance: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    speed: dict[str, Any] = field(default_factory=dict)  # timed beside the folder's other models, when measured

    @classmethod
    def from_dict(cls, data: dict[str, Any], folder: Path) -> Manifest:
        try:
            inp, out = data["input"], data["output"]
            error_model = ErrorModel.from_dict(data["error_estimate"]) if "error_estimate" in data else None
            sides = {name: str(out[name]) for name in SIDE_FEATURES if name in out}
            missing = sorted(set(SIDE_FEATURES) & set(error_model.weights if error_model else ()) - set(sides))
            if missing:
                raise ValueError(f"its error estimate weighs {missing} but it names no such side output")
            return cls(
                id=str(data["id"]),
                file=str(data["file"]),
                sha256=str(data["sha256"]).lower(),
                bytes=int(data["bytes"]),
                family=_family(data),
                input_name=str(inp["name"]),
                input_size=(int(inp["size"][0]), int(inp["size"][1])),
                mean=tuple(float(v) for v in inp["mean"]),  # type: ignore[arg-type]
                std=tuple(float(v) for v in inp["std"]),  # type: ignore[arg-type]
                output_name=str(out["name"]),
                normalize_output=str(out.get("normalize", "none")),
                path=folder / str(data["file"]),
                error_model=error_model or DEFAULT_ERROR_MODEL,
                sides=sides,
                arena_mb=_arena_mb(data),
                provenance=dict(data.get("provenance", {})),
                metrics=dict(data.get("metrics", {})),
                speed=dict(data.get("speed", {})),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ModelError(f"model manifest for {data.get('id', '?')!r} is malformed: {exc!r}") from exc


def _arena_mb(data: dict[str, Any]) -> float | None:
    arena = data.get("memory", {}).get("arena_mib")
    if arena is None:
        return None
    if float(arena) <= 0:
        raise ValueError(f"memory.arena_mib must be positive, got {arena!r}")
    return float(arena)


def _family(data: dict[str, Any]) -> str:
    name = str(data.get("family", DEFAULT_FAMILY))
    if name not in FAMILIES:
        raise ValueError(f"unknown family {name!r} (known: {', '.join(FAMILIES)})")
    return name


def manifest_path(model_id: str, model_dir: Path) -> Path:
    return model_dir / f"{model_id}.json"


def available_models(model_dir: Path) -> list[str]:
    """Ids of every manifest in the folder (whether or not its model file is installed)."""
    return sorted(p.stem for p in model_dir.glob("*.json"))


def installed_models(model_dir: Path) -> list[str]:
    """Ids of the manifests in the folder whose model file is there too: the models one can ask for."""
    installed = []
    for model_id in available_models(model_dir):
        try:
            if load_manifest(model_id, model_dir).path.is_file():
                installed.append(model_id)
        except ModelError:  # a malformed manifest names no usable model
            continue
    return installed


def load_manifest(model_id: str, model_dir: Path) -> Manifest:
    path = manifest_path(model_id, model_dir)
    if not path.is_file():
        known = ", ".join(available_models(model_dir)) or "none"
        raise ModelNotFoundError(f"unknown model {model_id!r}: no {path.name} in {model_dir} (known: {known})")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read model manifest {path}: {exc}") from exc
    return Manifest.from_dict(data, model_dir)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_model_file(manifest: Manifest) -> None:
    """Refuse a missing, truncated or altered model file with a message that says how to fix it."""
    path = manifest.path
    if not path.is_file():
        raise ModelNotFoundError(
            f"model file {path} for {manifest.id!r} is missing; build it in a clone of the repository with "
            "`make models` (`make models-all` for those too large for git, such as u2net-int8) and, for a "
            "pip-installed bgremove, set ENGINE_MODEL_DIR to the clone's engine/models (models are never "
            "downloaded at run time)"
        )
    size = path.stat().st_size
    if size != manifest.bytes:
        raise ModelIntegrityError(
            f"model file {path} has {size} bytes, manifest {manifest.id}.json expects {manifest.bytes}"
        )
    actual = sha256_file(path)
    if actual != manifest.sha256:
        raise ModelIntegrityError(
            f"model file {path} has sha256 {actual}, manifest {manifest.id}.json expects {manifest.sha256}"
        )
