"""`python -m bench`: quality, speed, cold start and memory of the engine against rembg, in one run.

Prints Markdown tables and PASS/FAIL lines for the acceptance targets, and writes the results as
JSON + Markdown (bench/results/latest.* for a full run, out/bench/quick.* for --quick).
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from .acceptance import as_dicts, baseline_checks, product_checks
from .contenders import (
    BASELINE,
    DEFAULT_KEYS,
    MATTING_KEYS,
    REMBG_MD5,
    U2NET_HOME,
    Contender,
    RembgContender,
    TeacherContender,
    make_contender,
)
from .data import DEV_DIR, MATTING_DIR, ROOT, SPEED_SIZES, discover_sets, load_set, speed_images
from .load import cpu_count
from .matting import matting_pass
from .quality import quality_pass
from .report import render, write_results
from .speed import cold_pass, warm_pass

FULL_OUT = ROOT / "bench" / "results" / "latest"
QUICK_OUT = ROOT / "out" / "bench" / "quick"
QUICK_IMAGES = 6


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"smoke test: {QUICK_IMAGES} images per set, 1 repeat")
    parser.add_argument("--sets", help="comma-separated dev sets (default: every folder of the dev data)")
    parser.add_argument("--models", default=",".join(DEFAULT_KEYS), help="comma-separated contenders")
    parser.add_argument("--parts", default="quality,speed,matting", help="any of quality, speed, matting")
    parser.add_argument("--dev-dir", type=Path, default=DEV_DIR, help="folder of labelled sets")
    parser.add_argument(
        "--matting-dir", type=Path, default=MATTING_DIR, help="photos (images/) with true alphas (alphas/)"
    )
    parser.add_argument("--matting-models", default=",".join(MATTING_KEYS), help="contenders of the matting part")
    parser.add_argument("--u2net-home", type=Path, default=U2NET_HOME, help="folder with rembg's u2netp/u2net.onnx")
    parser.add_argument("--repeats", type=int, help="warm repeats per image (default 5, quick 1)")
    parser.add_argument("--cold-runs", type=int, help="fresh interpreters per contender (default 3, quick 1)")
    parser.add_argument("--out", type=Path, help="output path without suffix (default bench/results/latest)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when an acceptance target fails")
    return parser.parse_args(argv)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def environment(u2net_home: Path) -> dict[str, Any]:
    packages = {p: _version(p) for p in ("rembg", "onnxruntime", "numpy", "pillow", "opencv-python-headless")}
    return {
        **packages,
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cpus": cpu_count(),
        "u2net_home": str(u2net_home),
    }


def prepare(keys: Sequence[str], u2net_home: Path) -> tuple[list[Contender], dict[str, str]]:
    """Contenders that can run here, loaded in this process; and why the others were skipped."""
    ready, skipped = [], {}
    for key in keys:
        contender = make_contender(key, u2net_home)
        reason = contender.missing()
        if reason:
            skipped[key] = reason
            print(f"SKIP {key}: {reason}")
            continue
        contender.import_library()
        contender.load_model()
        ready.append(contender)
    return ready, skipped


def describe(contender: Contender) -> dict[str, Any]:
    info: dict[str, Any] = {"model_id": contender.model_id()}
    if isinstance(contender, RembgContender):
        path = contender.home / f"{contender.name}.onnx"
        with path.open("rb") as handle:
            info["md5"] = hashlib.file_digest(handle, "md5").hexdigest()
        info["md5_is_rembg_pinned"] = info["md5"] == REMBG_MD5[contender.name]
        info["model_bytes"] = path.stat().st_size
    elif isinstance(contender, TeacherContender):
        info["model_bytes"] = contender.model_bytes()
    else:
        from engine import settings  # noqa: PLC0415  # the engine loads only when it is a contender
        from engine.manifest import load_manifest  # noqa: PLC0415  # (as above)

        info["model_bytes"] = load_manifest(contender.model_id(), settings().model_dir).bytes
    return info


def run(args: argparse.Namespace) -> dict[str, Any]:
    parts = set(args.parts.split(","))
    keys = [k.strip() for k in args.models.split(",") if k.strip()] if parts & {"quality", "speed"} else []
    contenders, skipped = prepare(keys, args.u2net_home)  # --models are quality's and speed's: matting names its own
    if keys and BASELINE not in {c.key for c in contenders}:
        print(f"note: {BASELINE} is not running, so no ratios or targets can be checked")
    results: dict[str, Any] = {
        "schema": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": args.quick,
        "environment": environment(args.u2net_home),
        "contenders": {c.key: describe(c) for c in contenders},
        "skipped": skipped,
    }
    if "quality" in parts:
        names = args.sets.split(",") if args.sets else discover_sets(args.dev_dir)
        limit = QUICK_IMAGES if args.quick else None
        sets = {name: load_set(name, args.dev_dir, limit) for name in names}
        results["quality"] = quality_pass(contenders, sets)
    if "speed" in parts:
        results["speed"] = speed_section(contenders, args)
    if "matting" in parts:
        results["matting"] = matting_section(contenders, args, results)
    results["acceptance"] = as_dicts(product_checks(results))
    results["metric_check"] = as_dicts(baseline_checks(results))
    return results


def matting_section(loaded: Sequence[Contender], args: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    """The matting part, reusing contenders already loaded and loading the others it names."""
    keys = [k.strip() for k in args.matting_models.split(",") if k.strip()]
    by_key = {c.key: c for c in loaded}
    extra, skipped = prepare([k for k in keys if k not in by_key], args.u2net_home)
    by_key.update({c.key: c for c in extra})
    results["skipped"].update(skipped)
    results["contenders"].update({c.key: describe(c) for c in extra})
    samples = load_set(args.matting_dir.name, args.matting_dir.parent, QUICK_IMAGES if args.quick else None, "alphas")
    return matting_pass([by_key[k] for k in keys if k in by_key], samples)


def speed_section(contenders: Sequence[Contender], args: argparse.Namespace) -> dict[str, Any]:
    repeats = args.repeats or (1 if args.quick else 5)
    cold_runs = args.cold_runs or (1 if args.quick else 3)
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        paths = speed_images(Path(folder))
        images = {label: path.read_bytes() for label, path in paths.items()}
        warm, warm_load = warm_pass(contenders, images, repeats)
        for label, rows in warm.items():
            for key, row in rows.items():
                print(f"warm   {label:>4} {key:<20} {row['median_s']:.3f}s")
        keys = [c.key for c in contenders]
        cold, rss, cold_load = cold_pass(keys, paths["2MP"], paths["12MP"], cold_runs, args.u2net_home)
    return {
        "images": {k: {"width": w, "height": h, "bytes": len(images[k])} for k, (w, h) in SPEED_SIZES.items()},
        "repeats": repeats,
        "cold_runs": cold_runs,
        "warm": warm,
        "cold": cold,
        "rss": rss,
        "other_cpu_cores_warm": warm_load,
        "other_cpu_cores_cold": cold_load,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    results = run(args)
    json_path, md_path = write_results(results, args.out or (QUICK_OUT if args.quick else FULL_OUT))
    print()
    print(render(results))
    print(f"wrote {json_path} and {md_path}")
    if any(c["status"] == "FAIL" for c in results["metric_check"]):
        print("ERROR: our metrics do not reproduce rembg's reference figures", file=sys.stderr)
        return 1
    if args.strict and any(c["status"] == "FAIL" for c in results["acceptance"]):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
