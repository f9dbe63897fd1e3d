"""`--list-models`: every model manifest of a folder as one row a user can choose by (id, size,
input size, speed and quality figures the manifest records, whether its file is installed). Speeds
are the ones timed side by side (`python -m modelbuild latency`), so they compare."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import ModelError
from .manifest import available_models, load_manifest

COLUMNS = ("id", "installed", "size_mb", "input", "ms", "mae_vs_fp32", "sod_mae", "sod_max_fbeta")


def model_rows(model_dir: Path) -> list[dict[str, Any]]:
    """One dict per manifest (COLUMNS; None where the manifest has no figure), sorted by id."""
    rows = []
    for model_id in available_models(model_dir):
        try:
            manifest = load_manifest(model_id, model_dir)
        except ModelError as exc:
            rows.append({"id": model_id, "installed": False, "error": str(exc)})
            continue
        metrics = manifest.metrics
        speed = manifest.speed
        sod = (metrics.get("dev_quality") or {}).get("sod") or {}
        width, height = manifest.input_size
        rows.append(
            {
                "id": model_id,
                "installed": manifest.path.is_file(),
                "size_mb": round(manifest.bytes / 1e6, 1),
                "input": f"{width}x{height}",
                "ms": speed.get("ms_2_threads"),
                "timed_with": speed.get("timed_with", []),
                "mae_vs_fp32": metrics.get("mae_vs_fp32"),
                "sod_mae": sod.get("mae"),
                "sod_max_fbeta": sod.get("max_fbeta"),
            }
        )
    return rows


def models_table(model_dir: Path, default: str) -> str:
    """The rows as an aligned text table; the default model marked with `*`."""
    rows = [[_cell(row.get(c)) for c in COLUMNS] for row in model_rows(model_dir)]
    for row in rows:
        row[0] += " *" if row[0] == default else ""
    header = [c.replace("_", " ") for c in COLUMNS]
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in [header, *rows]]
    notes = (
        "* the default (ENGINE_MODEL).  ms: one inference at 2 threads, every model timed in one run "
        "beside the others (python -m modelbuild latency; end to end: make bench); mae vs fp32: the "
        "quantized map against the float model's; sod: MAE and max F-beta on the SOD benchmark photos "
        "when the model was built, where measured"
    )
    return "\n".join([*lines, notes])


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
