"""The product's acceptance targets against rembg u2netp, and the check that our metrics reproduce
rembg's published figures. Works on the results dictionary (the JSON), so it can be re-checked later.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .contenders import BASELINE

OURS = "engine"  # the engine's default model
TARGET_SETS = ("sod", "horse")
RATIO_LIMIT = 0.5
# the edges issue (#27): band composite error on the edge photos at most 0.8x the better anchor's;
# whole-image SAD no worse than theirs; haze at most 1.05x crisp's; refine + compose at 12 MP in 150 ms
EDGE_ANCHORS = ("rembg:u2netp", "rembg:u2net")
EDGE_RATIO = 0.8
HAZE_RATIO = 1.05
CRISP = "engine+crisp_edges"
REFINE_COMPOSE_MS = 150.0
# the model issue (#26): on every dev set MAE at most rembg u2net's, max Fβ at least its - 0.005
MODEL_ANCHOR = "rembg:u2net"
FBETA_SLACK = 0.005

# shared/reference/rembg-baseline.md: set -> contender -> (MAE, maxFβ, mIoU), full sets, 4 decimals.
REFERENCE_QUALITY = {
    "horse": {"rembg:u2netp": (0.0381, 0.9513, 0.8894), "rembg:u2net": (0.0327, 0.9546, 0.8974)},
    "sod": {"rembg:u2netp": (0.0686, 0.8395, 0.7473), "rembg:u2net": (0.0616, 0.8537, 0.7770)},
}
REFERENCE_SIZES = {"horse": 164, "sod": 126}


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # PASS, FAIL or N/A (what is missing is said in detail)
    detail: str

    def line(self) -> str:
        return f"{self.status:<4} {self.name}: {self.detail}"


def _compare(name: str, ours: float | None, limit: float | None, better: str, unit: str = "") -> Check:
    if ours is None or limit is None:
        return Check(name, "N/A", "not measured in this run")
    passed = ours <= limit if better == "lower" else ours >= limit
    sign = "<=" if better == "lower" else ">="
    return Check(name, "PASS" if passed else "FAIL", f"{ours:.4f}{unit} vs target {sign} {limit:.4f}{unit}")


def _get(tree: dict[str, Any], *path: str) -> Any:
    for step in path:
        if not isinstance(tree, dict) or step not in tree:
            return None
        tree = tree[step]
    return tree


def _ratio_check(name: str, rows: dict[str, Any] | None, field: str) -> Check:
    ours, base = _get(rows or {}, OURS, field), _get(rows or {}, BASELINE, field)
    if not isinstance(ours, (int, float)) or not isinstance(base, (int, float)) or base <= 0:
        return Check(name, "N/A", "not measured in this run")
    ratio = ours / base
    return Check(
        name,
        "PASS" if ratio <= RATIO_LIMIT else "FAIL",
        f"{ratio:.2f}x rembg u2netp ({ours:g} vs {base:g}), target <= {RATIO_LIMIT}x",
    )


def product_checks(results: dict[str, Any]) -> list[Check]:
    """Quality on each target set, then warm 2 MP time, peak RSS at 12 MP and cold start ratios."""
    checks = []
    for name in TARGET_SETS:
        rows = _get(results, "quality", name) or {}
        ours, base = rows.get(OURS, {}), rows.get(BASELINE, {})
        checks.append(_compare(f"{name} MAE <= rembg u2netp", ours.get("mae"), base.get("mae"), "lower"))
        checks.append(_compare(f"{name} maxFβ >= rembg u2netp", ours.get("max_fbeta"), base.get("max_fbeta"), "higher"))
    speed = results.get("speed", {})
    checks.append(_ratio_check("warm 2MP time <= 0.5x rembg u2netp", _get(speed, "warm", "2MP"), "median_s"))
    checks.append(_ratio_check("peak RSS 12MP <= 0.5x rembg u2netp", _get(speed, "rss"), "peak_rss_mib"))
    checks.append(_ratio_check("cold start <= 0.5x rembg u2netp", _get(speed, "cold"), "median_s"))
    return checks + model_rule_checks(results) + edge_checks(results)


def model_rule_checks(results: dict[str, Any]) -> list[Check]:
    """Per dev set: MAE <= rembg u2net's, max Fβ >= rembg u2net's - FBETA_SLACK."""
    checks = []
    for name, rows in (_get(results, "quality") or {}).items():
        ours, anchor = rows.get(OURS, {}), rows.get(MODEL_ANCHOR, {})
        checks.append(_compare(f"{name} MAE <= rembg u2net", ours.get("mae"), anchor.get("mae"), "lower"))
        limit = anchor["max_fbeta"] - FBETA_SLACK if "max_fbeta" in anchor else None
        checks.append(_compare(f"{name} maxFβ >= rembg u2net - {FBETA_SLACK}", ours.get("max_fbeta"), limit, "higher"))
    return checks


def _versus_better_anchor(label: str, rows: dict[str, Any], field: str, ratio: float) -> Check:
    ours = _get(rows, OURS, field)
    anchors = {key: rows[key][field] for key in EDGE_ANCHORS if isinstance(_get(rows, key, field), (int, float))}
    if not isinstance(ours, (int, float)) or not anchors:
        return Check(label, "N/A", "not measured in this run")
    best = min(anchors, key=anchors.__getitem__)
    limit = ratio * anchors[best]
    detail = f"{ours:.2f} vs target <= {limit:.2f} ({ratio:g} x {best} {anchors[best]:.2f})"
    return Check(label, "PASS" if ours <= limit else "FAIL", detail)


def edge_checks(results: dict[str, Any]) -> list[Check]:
    """The edges issue's bars: composite error on the edge photos and SAD on all matting photos
    against the better of rembg u2netp and u2net; haze against crisp's per dev set; 12 MP time."""
    rows = _get(results, "matting", "contenders") or {}
    checks = [
        _versus_better_anchor(
            f"edge photos' band composite <= {EDGE_RATIO}x the better rembg", rows, "composite_band_edge", EDGE_RATIO
        ),
        _versus_better_anchor("matting SAD <= the better rembg", rows, "sad_whole", 1.0),
    ]
    quality = _get(results, "quality") or {}
    for name, set_rows in quality.items():
        ours, crisp = _get(set_rows, OURS, "haze"), _get(set_rows, CRISP, "haze")
        limit = HAZE_RATIO * crisp if isinstance(crisp, (int, float)) else None
        checks.append(_compare(f"{name} haze <= {HAZE_RATIO}x crisp's", ours, limit, "lower"))
    if not quality:
        checks.append(Check(f"haze <= {HAZE_RATIO}x crisp's", "N/A", "not measured in this run"))
    stages = _get(results, "speed", "warm", "12MP", OURS, "stages_ms") or {}
    spent = stages.get("refine_ms", 0.0) + stages.get("compose_ms", 0.0) if "refine_ms" in stages else None
    checks.append(_compare("12MP refine + compose <= 150 ms", spent, REFINE_COMPOSE_MS, "lower", " ms"))
    return checks


def baseline_checks(results: dict[str, Any]) -> list[Check]:
    """Our rembg figures equal the reference's to 4 decimals (only meaningful on full sets)."""
    checks = []
    for name, rows in REFERENCE_QUALITY.items():
        for key, expected in rows.items():
            row = _get(results, "quality", name, key)
            label = f"reproduces reference {name} {key}"
            if row is None:
                checks.append(Check(label, "N/A", "not measured in this run"))
                continue
            if row["n"] != REFERENCE_SIZES[name]:
                checks.append(Check(label, "N/A", f"{row['n']} of {REFERENCE_SIZES[name]} images"))
                continue
            got = tuple(round(row[m], 4) for m in ("mae", "max_fbeta", "miou"))
            status = "PASS" if got == expected else "FAIL"
            checks.append(Check(label, status, f"MAE/maxFβ/mIoU {got} vs {expected}"))
    return checks


def as_dicts(checks: list[Check]) -> list[dict[str, str]]:
    return [asdict(c) for c in checks]
