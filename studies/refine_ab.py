"""`python -m studies.refine_ab`: the refinement of a git revision against this checkout's, on one
prediction per photo (so the model's share of the noise is the same for both), in one run.

For each model and each set (every dev set, scored by MAE / max F-beta against binary masks, and the
matting photos, scored by the matting measures), every photo is decoded and predicted once, then
refined by the base revision's `engine/refine.py` (loaded from git, with the modules it imports) and
by this checkout's: crisp, crisp without the edge curve, and soft. Writes
studies/results/refine_ab.{json,md} and prints the tables.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess  # fixed argument lists, never a shell  # nosec B404
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from bench.data import DEV_DIR, MATTING_DIR, ROOT, SPEED_SIZES, Sample, discover_sets, load_set, speed_images
from bench.load import OtherLoad
from bench.matting_metrics import mean_scores, score_matte
from bench.metrics import score_image, summarise
from bench.report import publish, table
from engine import settings
from engine.decode import decode_image
from engine.layers import to_bgra
from engine.model import get_model
from engine.refine import decontaminate, refine_alpha

BASE_MODULES = ("refine.py", "guided.py", "foreground.py")  # what engine/refine.py imports, relatively
OUT = ROOT / "studies" / "results" / "refine_ab"
Refiner = Callable[[np.ndarray, np.ndarray], np.ndarray]


def load_base(rev: str, folder: Path) -> ModuleType:
    """`engine/refine.py` as it is at `rev`, importable on its own (as package `base_engine`)."""
    package = folder / "base_engine"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in BASE_MODULES:
        command = ["git", "show", f"{rev}:engine/{name}"]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)  # noqa: S603  # nosec B603
        source = done.stdout
        (package / name).write_text(source)
    sys.path.insert(0, str(folder))
    return importlib.import_module("base_engine.refine")


def refiners(base: ModuleType) -> dict[str, Refiner]:
    return {
        "base": base.refine_alpha,
        "crisp": refine_alpha,
        "crisp, no curve": lambda pred, bgr: refine_alpha(pred, bgr, steepness=0),
        "soft": lambda pred, bgr: refine_alpha(pred, bgr, soft=True),
    }


def compare(model_id: str, samples: Sequence[Sample], ways: dict[str, Refiner], matting: bool) -> dict[str, Any]:
    """way -> figures (and ms per photo of the refinement alone) for one model on one set."""
    config = settings()
    model = get_model(model_id, config.model_dir, config.threads)
    scores: dict[str, list[Any]] = {way: [] for way in ways}
    seconds = dict.fromkeys(ways, 0.0)
    with OtherLoad() as load:
        for sample in samples:
            decoded = decode_image(sample.image_bytes(), config.max_megapixels)
            pred, truth = model.predict(decoded.bgr), sample.truth()
            for way, refine in ways.items():
                start = time.perf_counter()
                alpha = refine(pred, decoded.bgr)
                seconds[way] += time.perf_counter() - start
                scores[way].append(score_matte(alpha, truth) if matting else score_image(alpha, truth))
    rows: dict[str, Any] = {}
    for way, items in scores.items():
        figures = mean_scores(items) if matting else summarise(items).as_dict()
        rows[way] = {**figures, "ms_per_img": round(seconds[way] * 1000 / len(samples), 1)}
    return {"n": len(samples), "other_cpu_cores": round(load.cores, 3), "ways": rows}


def speed(model_id: str, ways: dict[str, Refiner], repeats: int, folder: Path) -> dict[str, Any]:
    """Refine + compose (decontamination and the RGBA stack, as the pipeline's two stages) of the
    bench's 12 MP speed photo, per way: median ms of `repeats` after a warm-up, round-robin."""
    config = settings()
    decoded = decode_image(speed_images(folder)["12MP"].read_bytes(), config.max_megapixels)
    pred = get_model(model_id, config.model_dir, config.threads).predict(decoded.bgr)
    times: dict[str, list[float]] = {way: [] for way in ways}
    with OtherLoad() as load:
        for round_ in range(repeats + 1):
            for way, refine in ways.items():
                photo = decoded.bgr.copy()  # the pipeline rewrites its own decoded pixels in place
                start = time.perf_counter()
                alpha = refine(pred, photo)
                to_bgra(decontaminate(photo, alpha, in_place=True), alpha)
                if round_:
                    times[way].append((time.perf_counter() - start) * 1000)
    return {
        "size": SPEED_SIZES["12MP"],
        "other_cpu_cores": round(load.cores, 3),
        "ms": {way: round(float(np.median(t)), 1) for way, t in times.items()},
    }


def markdown(results: dict[str, Any]) -> str:
    dev_rows, matting_rows = [], []
    for model_id, sets in results["models"].items():
        for name, entry in sets.items():
            base = entry["ways"]["base"]
            for way, r in entry["ways"].items():
                if name == "matting":
                    matting_rows.append([
                        model_id, way, f"{r['sad_whole']:.2f}", f"{r['mse_whole'] * 1e3:.2f}", f"{r['grad_whole']:.2f}",
                        f"{r['conn_whole']:.2f}", f"{r['sad_band']:.2f}", f"{r['grad_band']:.2f}",
                        f"{r['soft_share']:.3f}", f"{r['ms_per_img']:.0f}",
                    ])  # fmt: skip
                else:
                    dev_rows.append([
                        name, model_id, way, f"{r['mae']:.4f}", f"{r['mae'] / base['mae']:.3f}",
                        f"{r['max_fbeta']:.4f}", f"{r['max_fbeta'] / base['max_fbeta']:.4f}", f"{r['ms_per_img']:.0f}",
                    ])  # fmt: skip
    loads = [e["other_cpu_cores"] for sets in results["models"].values() for e in sets.values()]
    head = (
        f"Refinement of `{results['base']}` (base) against this checkout (crisp = default, soft = `soft_edges`), "
        f"one prediction per photo; {results['created']}. CPU used by other processes: up to {max(loads):.2f} cores."
    )
    dev = table(["set", "model", "refinement", "MAE", "× base", "maxFβ", "× base", "ms/img"], dev_rows)
    matting = table(
        ["model", "refinement", "SAD", "MSE×1e3", "Grad", "Conn", "band SAD", "band Grad", "soft share", "ms/img"],
        matting_rows,
    )
    parts = [head, dev, matting]
    if "speed" in results:
        timing = results["speed"]
        base = timing["ms"]["base"]
        width, height = timing["size"]
        parts.append(
            f"Refine + compose (decontamination, RGBA) of the bench's {width}x{height} speed photo, median of the "
            f"repeats, round-robin; CPU used by other processes: {timing['other_cpu_cores']:.2f} cores.\n\n"
            + table(
                ["refinement", "ms", "× base"], [[w, f"{ms:.0f}", f"{ms / base:.2f}"] for w, ms in timing["ms"].items()]
            )
        )
    return "\n\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.refine_ab", description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main", help="git revision whose refinement is the baseline")
    parser.add_argument("--models", default="u2netp-distilled-int8,u2netp-int8", help="comma-separated model ids")
    parser.add_argument("--sets", help="comma-separated dev sets (default: all), plus `matting`")
    parser.add_argument("--dev-dir", type=Path, default=DEV_DIR)
    parser.add_argument("--speed-repeats", type=int, default=7, help="12 MP refine + compose timings (0: none)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    names = args.sets.split(",") if args.sets else [*discover_sets(args.dev_dir), "matting"]
    command = ["git", "rev-parse", "--short", args.base]
    revision = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603  # nosec B603
    base = f"{args.base} ({revision.stdout.strip()})" if revision.returncode == 0 else args.base
    results: dict[str, Any] = {"base": base, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "models": {}}
    with tempfile.TemporaryDirectory(prefix="refine-ab-") as folder:
        ways = refiners(load_base(args.base, Path(folder)))
        for model_id in args.models.split(","):
            results["models"][model_id] = {}
            for name in names:
                matting = name == "matting"
                samples = (
                    load_set(MATTING_DIR.name, MATTING_DIR.parent, truth="alphas")
                    if matting
                    else load_set(name, args.dev_dir)
                )
                entry = compare(model_id, samples, ways, matting)
                results["models"][model_id][name] = entry
                print(f"{model_id} {name}: " + json.dumps({w: r for w, r in entry["ways"].items()}), flush=True)
        if args.speed_repeats:
            results["speed"] = speed(args.models.split(",")[0], ways, args.speed_repeats, Path(folder))
            print("12 MP refine + compose ms: " + json.dumps(results["speed"]), flush=True)
    return publish(results, args.out, markdown(results))


if __name__ == "__main__":
    sys.exit(main())
