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
MATTING_RATIO = 0.8  # issue 12: SAD and Grad of the default cut-out at most 0.8x the best rembg variant's
SOFT_SHARE_TOLERANCE = 0.3  # issue 12: soft-pixel share within +-30 % of the ground truth's

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
    return checks + matting_checks(results)


def matting_checks(results: dict[str, Any]) -> list[Check]:
    """SAD and Grad over the whole image against the best rembg variant; the soft-pixel share."""
    rows = _get(results, "matting", "contenders") or {}
    ours = rows.get(OURS)
    rembg = {key: row for key, row in rows.items() if key.startswith("rembg:")}
    checks = []
    for field, name in (("sad_whole", "SAD"), ("grad_whole", "Grad")):
        label = f"matting {name} <= {MATTING_RATIO}x the best rembg variant"
        if ours is None or not rembg:
            checks.append(Check(label, "N/A", "not measured in this run"))
            continue
        best_key = min(rembg, key=lambda key: rembg[key][field])
        limit = MATTING_RATIO * rembg[best_key][field]
        passed = ours[field] <= limit
        detail = (
            f"{ours[field]:.2f} vs target <= {limit:.2f} ({MATTING_RATIO} x {best_key} {rembg[best_key][field]:.2f})"
        )
        checks.append(Check(label, "PASS" if passed else "FAIL", detail))
    truth = _get(results, "matting", "truth_soft_share")
    label = f"matting soft-pixel share within +-{SOFT_SHARE_TOLERANCE:.0%} of the ground truth's"
    if ours is None or not truth:
        return [*checks, Check(label, "N/A", "not measured in this run")]
    low, high = truth * (1 - SOFT_SHARE_TOLERANCE), truth * (1 + SOFT_SHARE_TOLERANCE)
    passed = low <= ours["soft_share"] <= high
    detail = f"{ours['soft_share']:.3f} vs target {low:.3f}..{high:.3f} (ground truth {truth:.3f})"
    return [*checks, Check(label, "PASS" if passed else "FAIL", detail)]


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
