"""Plots from the benchmark's own results file (bench/results/latest.json), never retyped numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.result import StageTimings

BASELINE = "rembg:u2netp"
STAGES = tuple(f"{stage}_ms" for stage in StageTimings.stages())
COLOURS = {
    "decode_ms": "#8d99ae",
    "infer_ms": "#2b6cb0",
    "refine_ms": "#38a169",
    "compose_ms": "#805ad5",
    "encode_ms": "#d69e2e",
    "predict": "#c53030",
    "rest": "#feb2b2",
}


def load_results(path: Path) -> dict[str, Any]:
    results = json.loads(path.read_text())
    if "speed" not in results or "quality" not in results:
        raise ValueError(f"{path} has no speed or quality part: run `make bench` (both parts)")
    return results


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend (no display here)."""
    import matplotlib  # noqa: PLC0415 - offline dependency, imported when a plot is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 - only after the backend is chosen

    return plt


def save(figure: Any, target: Path, results: dict[str, Any]) -> None:
    """The figure as a PNG that names the benchmark run it was drawn from (its `Source` text chunk,
    which tests/unit/test_bench_pages.py compares with bench/results/latest.json's)."""
    figure.savefig(target, dpi=80, metadata={"Source": f"benchmark run {results['created']}"})


def label(results: dict[str, Any], key: str) -> str:
    return f"{key} ({results['contenders'][key]['model_id']})" if key == "engine" else key


def quality_vs_speed(results: dict[str, Any], target: Path) -> Path:
    """Per dev set: MAE against warm 2 MP time as a ratio to rembg u2netp; marker area ~ model MB.
    Each contender keeps one colour and marker in every panel and is named once, in the legend below
    (names written beside the points overlapped where the points crowd together)."""
    plt = pyplot()
    warm = results["speed"]["warm"]["2MP"]
    base = warm[BASELINE]["median_s"]
    sets = sorted(results["quality"])
    keys = [k for k in results["contenders"] if k in warm and any(k in results["quality"][n] for n in sets)]
    palette = plt.get_cmap("tab10").colors
    styles = {key: (palette[i % len(palette)], "o" if key.startswith("engine") else "s") for i, key in enumerate(keys)}
    figure, axes = plt.subplots(1, len(sets), figsize=(4.6 * len(sets), 4.6), squeeze=False)
    for ax, name in zip(axes[0], sets, strict=True):
        for key in keys:
            if key not in results["quality"][name]:
                continue
            megabytes = results["contenders"][key].get("model_bytes", 4e6) / 1e6
            colour, marker = styles[key]
            ax.scatter(
                warm[key]["median_s"] / base,
                results["quality"][name][key]["mae"],
                s=30 + 4 * megabytes,
                alpha=0.8,
                color=colour,
                marker=marker,
                edgecolor="black",
                linewidth=0.5,
                label=f"{label(results, key)}, {megabytes:.1f} MB",
            )
        ax.set_title(f"dev/{name}")
        ax.set_xlabel("warm 2 MP time, x rembg u2netp (lower is faster)")
        ax.set_ylabel("MAE (lower is better)")
        ax.grid(alpha=0.3)
        ax.margins(x=0.15, y=0.15)
    handles, names = axes[0][0].get_legend_handles_labels()
    for handle in handles:
        handle.set_sizes([40])  # the legend's markers one size; their area in the panels is the model's
    figure.legend(handles, names, loc="lower center", ncol=min(4, len(names)), fontsize=8, frameon=False)
    figure.suptitle(
        f"Quality against speed, one benchmark run ({results['created'][:10]}); "
        "marker area ~ model size; circles ours, squares rembg",
        fontsize=9,
    )
    figure.tight_layout(rect=(0, 0.06 * (1 + (len(names) - 1) // 4), 1, 1))
    save(figure, target, results)
    plt.close(figure)
    return target


def stage_bars(results: dict[str, Any], target: Path) -> Path:
    """Stacked per-stage times at ~2 MP and ~12 MP: the engine's four stages; rembg's model step
    (`session.predict`, with its resizing) and the rest of its `remove()`."""
    plt = pyplot()
    sizes = list(results["speed"]["warm"])
    figure, axes = plt.subplots(1, len(sizes), figsize=(5.2 * len(sizes), 4.4), squeeze=False)
    for ax, size in zip(axes[0], sizes, strict=True):
        rows = results["speed"]["warm"][size]
        keys = list(rows)
        for i, key in enumerate(keys):
            row, bottom = rows[key], 0.0
            parts = (
                [(s, row["stages_ms"].get(s, 0.0)) for s in STAGES]  # results from before compose_ms: 0
                if "stages_ms" in row
                else [("predict", row["predict_s"] * 1000), ("rest", (row["median_s"] - row["predict_s"]) * 1000)]
            )
            for stage, ms in parts:
                ax.bar(i, ms, bottom=bottom, color=COLOURS[stage], label=stage.removesuffix("_ms"))
                bottom += ms
        names = [label(results, k).replace(" (", "\n(") for k in keys]
        ax.set_xticks(range(len(keys)), names, fontsize=7, rotation=35, ha="right", rotation_mode="anchor")
        ax.set_ylabel("ms (median of warm runs)")
        ax.set_title(
            f"{size}: {results['speed']['images'][size]['width']}x{results['speed']['images'][size]['height']}"
        )
        ax.grid(axis="y", alpha=0.3)
        handles, names = ax.get_legend_handles_labels()
        unique = dict(zip(names, handles, strict=True))
        ax.legend(unique.values(), unique.keys(), fontsize=7)
    figure.suptitle("Where the time goes: JPEG bytes -> PNG bytes", fontsize=9)
    figure.tight_layout()
    save(figure, target, results)
    plt.close(figure)
    return target
