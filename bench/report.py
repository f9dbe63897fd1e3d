"""Render the results dictionary as Markdown tables and write it (JSON + Markdown) to disk."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.result import StageTimings

from .acceptance import Check, baseline_checks, product_checks
from .contenders import BASELINE


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def label(results: dict[str, Any], key: str) -> str:
    """`engine` -> `engine (u2netp-int8)`: the key and, where it differs, the model it ran."""
    model = results.get("contenders", {}).get(key, {}).get("model_id")
    return f"{key} ({model})" if model and not key.endswith(f":{model}") else key


def _ratio(value: float | None, base: float | None) -> str:
    return f"{value / base:.2f}x" if value is not None and base else "—"


def _num(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def quality_markdown(results: dict[str, Any]) -> str:
    rows = []
    for name, by_key in results.get("quality", {}).items():
        for key, r in by_key.items():
            rows.append(
                [
                    name,
                    label(results, key),
                    str(r["n"]),
                    f"{r['mae']:.4f}",
                    f"{r['max_fbeta']:.4f}",
                    f"{r['miou']:.4f}",
                    _num(r.get("haze"), 4),
                    f"{r['s_per_img']:.3f}",
                ]
            )
    loads = [r["other_cpu_cores"] for by_key in results.get("quality", {}).values() for r in by_key.values()]
    note = f"\n\nCPU used by other processes during the quality pass: up to {max(loads):.2f} cores." if loads else ""
    header = ["set", "model", "n", "MAE", "maxFβ", "mIoU", "haze", "s/img"]
    return table(header, rows) + note


def _stages(row: dict[str, Any]) -> str:
    stages = row.get("stages_ms")
    if stages:
        return " / ".join(f"{stages.get(f'{stage}_ms', 0):.0f}" for stage in StageTimings.stages())
    return f"predict {row['predict_s']:.3f} s" if "predict_s" in row else "—"


def warm_markdown(results: dict[str, Any]) -> str:
    warm = results.get("speed", {}).get("warm", {})
    sizes = list(warm)
    header = ["model"]
    for size in sizes:
        header += [f"warm {size} s", f"× {BASELINE}", f"{size} {'/'.join(StageTimings.stages())} ms"]
    keys = list(dict.fromkeys(k for size in sizes for k in warm[size]))
    rows = []
    for key in keys:
        row = [label(results, key)]
        for size in sizes:
            r, base = warm[size].get(key, {}), warm[size].get(BASELINE, {})
            row += [
                f"{_num(r.get('median_s'), 3)} ({_num(r.get('min_s'), 3)}–{_num(r.get('max_s'), 3)})",
                _ratio(r.get("median_s"), base.get("median_s")),
                _stages(r),
            ]
        rows.append(row)
    return table(header, rows)


def cold_markdown(results: dict[str, Any]) -> str:
    speed = results.get("speed", {})
    cold, rss = speed.get("cold", {}), speed.get("rss", {})
    base_cold, base_rss = cold.get(BASELINE, {}), rss.get(BASELINE, {})
    rows = []
    for key in dict.fromkeys([*cold, *rss]):
        c, m = cold.get(key, {}), rss.get(key, {})
        steps = " / ".join(_num(c.get(s), 2) for s in ("import_s", "session_s", "first_s"))
        rows.append(
            [
                label(results, key),
                _num(c.get("median_s"), 2),
                _ratio(c.get("median_s"), base_cold.get("median_s")),
                steps,
                _num(m.get("peak_rss_mib"), 0),
                _ratio(m.get("peak_rss_mib"), base_rss.get("peak_rss_mib")),
                f"{_num(m.get('rss_import_mib'), 0)} / {_num(m.get('rss_session_mib'), 0)}",
            ]
        )
    header = [
        "model",
        "cold start s",
        f"× {BASELINE}",
        "import / session / 1st s",
        "peak RSS 12MP MiB",
        f"× {BASELINE}",
        "RSS after import / session MiB",
    ]
    return table(header, rows)


MATTING_COLUMNS = (
    ("sad", "SAD", 1.0, 1),
    ("mse", "MSE×1e3", 1e3, 2),
    ("grad", "Grad", 1.0, 1),
    ("conn", "Conn", 1.0, 1),
)


def _matting_cells(row: dict[str, Any]) -> list[str]:
    """Whole-image errors, band errors, the soft-pixel share and the composite errors (band, whole)
    of one row of figures."""
    cells = [
        f"{row[f'{key}_{region}'] * scale:.{digits}f}"
        for region in ("whole", "band")
        for key, _, scale, digits in MATTING_COLUMNS
    ]
    composites = [_num(row.get(f"composite_{region}"), 2) for region in ("band", "whole")]
    return [*cells, f"{row['soft_share']:.3f}", *composites]


def edge_markdown(results: dict[str, Any]) -> str:
    """The edge table: composite error over the band on the edge photos and on all, beside SAD and Grad."""
    matting = results.get("matting", {})
    edges, n = matting.get("edge_photos", []), matting.get("n", 0)
    rows = [
        [
            label(results, key),
            _num(r.get("composite_band_edge"), 2),
            _num(r.get("composite_band"), 2),
            _num(r.get("composite_whole"), 2),
            f"{r['sad_whole']:.1f}",
            f"{r['grad_whole']:.1f}",
        ]
        for key, r in matting.get("contenders", {}).items()
    ]
    header = [
        "cut-out",
        f"edge photos ({len(edges)}): composite band",
        f"all {n}: composite band",
        f"all {n}: composite whole",
        f"SAD ({n})",
        f"Grad ({n})",
    ]
    note = (
        "Edges as a user sees them: each cut-out and the truth (true alpha, colours from pymatting's "
        "`estimate_foreground_ml`) composited onto white and onto black; mean |difference| in 8-bit levels "
        "over the band (0 < GT < 255 dilated 15 px) or the whole image, the two backgrounds averaged. "
        f"Edge photos, whose subject every product (ours and rembg's; not the teacher:* references) gets right "
        f"(IoU of alpha >= 128 at least 0.9): "
        f"{', '.join(edges) or 'none'}."
    )
    return note + "\n\n" + table(header, rows)


def matting_markdown(results: dict[str, Any]) -> str:
    """Mean figures per contender, then each photo's figures per contender."""
    matting = results.get("matting", {})
    rows_by_key = matting.get("contenders", {})
    names = [name for _, name, _, _ in MATTING_COLUMNS]
    columns = [*names, *(f"band {n}" for n in names), "soft share", "composite band", "composite whole"]
    means = [[label(results, k), *_matting_cells(r), f"{r['s_per_img']:.2f}"] for k, r in rows_by_key.items()]
    stems = list(dict.fromkeys(stem for r in rows_by_key.values() for stem in r.get("images", {})))
    per_photo = [
        [stem, label(results, k), *_matting_cells(r["images"][stem])]
        for stem in stems
        for k, r in rows_by_key.items()
        if stem in r.get("images", {})
    ]
    loads = [r["other_cpu_cores"] for r in rows_by_key.values()]
    note = (
        f"{matting.get('n', 0)} photos; the ground truth's soft-pixel share is "
        f"{matting.get('truth_soft_share', 0):.3f}. "
        "SAD, Grad and Conn are sums / 1000, MSE a mean; `band` = where 0 < GT < 255, dilated by 15 px; "
        "s/img = the whole cut-out, image bytes to PNG. "
        f"CPU used by other processes: up to {max(loads, default=0):.2f} cores."
    )
    return "\n\n".join(
        [
            edge_markdown(results),
            note,
            table(["model", *columns, "s/img"], means),
            "Per photo:",
            table(["photo", "model", *columns], per_photo),
        ]
    )


def checks_markdown(checks: list[Check]) -> str:
    return "\n".join(f"- {c.line()}" for c in checks)


def render(results: dict[str, Any]) -> str:
    """The whole report: settings, quality, speed, cold start and memory, then the checks."""
    env = results.get("environment", {})
    speed = results.get("speed", {})
    parts = [
        f"# Benchmark: engine vs rembg {env.get('rembg', '?')}",
        f"{'QUICK smoke run (few images, 1 repeat): not for comparison.' if results.get('quick') else 'Full run.'} "
        f"{results.get('created', '')}; python {env.get('python', '?')}, onnxruntime {env.get('onnxruntime', '?')}, "
        f"{env.get('cpus', '?')} CPUs.",
    ]
    pinned = [
        f"{key}: md5 {info['md5']} ({'=' if info['md5_is_rembg_pinned'] else '!='} rembg's pinned md5)"
        for key, info in results.get("contenders", {}).items()
        if "md5" in info
    ]
    if pinned:
        parts.append(f"rembg models from `{env.get('u2net_home', '?')}`: " + "; ".join(pinned))
    if results.get("skipped"):
        parts.append("Skipped: " + "; ".join(f"{k}: {why}" for k, why in results["skipped"].items()))
    if results.get("quality"):
        parts += ["## Quality (full-resolution GT)", quality_markdown(results)]
    if speed.get("warm"):
        images = ", ".join(f"{k} = {v['width']}x{v['height']}" for k, v in speed.get("images", {}).items())
        parts += [
            "## Warm end-to-end (JPEG bytes -> PNG bytes)",
            f"Median of {speed.get('repeats')} after 1 warm-up, interleaved in a carry-over-balanced order; {images}. "
            f"CPU used by other processes: {speed.get('other_cpu_cores_warm', 0):.2f} cores.",
            warm_markdown(results),
        ]
    if speed.get("cold") or speed.get("rss"):
        parts += [
            "## Cold start (fresh interpreter, 2MP) and peak RSS (fresh interpreter, 12MP)",
            f"Cold = median of {speed.get('cold_runs')} runs. "
            f"CPU used by other processes: {speed.get('other_cpu_cores_cold', 0):.2f} cores.",
            cold_markdown(results),
        ]
    if results.get("matting"):
        parts += ["## Matting (true alpha mattes, whole cut-out per photo)", matting_markdown(results)]
    parts += ["## Acceptance targets", checks_markdown(product_checks(results))]
    parts += ["## Metric check against rembg-baseline.md", checks_markdown(baseline_checks(results))]
    return "\n\n".join(parts) + "\n"


def write_results(results: dict[str, Any], stem: Path, text: str | None = None) -> tuple[Path, Path]:
    """Write `<stem>.json` and `<stem>.md` (`text`, by default the benchmark's report); returns both paths."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    json_path, md_path = stem.with_suffix(".json"), stem.with_suffix(".md")
    json_path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    md_path.write_text(render(results) if text is None else text)
    return json_path, md_path


def publish(results: dict[str, Any], stem: Path, text: str) -> int:
    """A side study's ending: its JSON and Markdown written under `stem`, the Markdown printed; 0."""
    write_results(results, stem, text)
    print(text)
    return 0
