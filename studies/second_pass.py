"""`python -m studies.second_pass`: does a second inference on the subject's bounding box pay?

For each labelled photo: the first pass as the engine runs it; then, when the subject (prediction
>= 0.5) covers at most a given share of the frame, the box (plus 15 % margin) is cut from the full-
resolution photo, segmented again, and its map pasted over the first one on a 1024 px grid before
the same refinement. Prints MAE / max F-beta / mIoU of each variant per set (dev sets and train).
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from bench.data import discover_sets, load_set
from bench.metrics import score_image, summarise
from engine.model import Model, get_model
from engine.refine import refine_alpha
from engine.settings import settings
from modelbuild.paths import DATA

GRID_SIDE = 1024
MARGIN = 0.15


def zoomed(model: Model, bgr: np.ndarray, pred: np.ndarray, max_share: float) -> np.ndarray | None:
    """The first map with the box's second-pass map pasted in, or None when the subject is larger."""
    height, width = bgr.shape[:2]
    ys, xs = np.nonzero(pred > 0.5)
    if len(xs) == 0:
        return None
    rows, cols = pred.shape
    x0, x1 = xs.min() / cols * width, (xs.max() + 1) / cols * width
    y0, y1 = ys.min() / rows * height, (ys.max() + 1) / rows * height
    if (x1 - x0) * (y1 - y0) > max_share * width * height:
        return None
    pad = MARGIN * max(x1 - x0, y1 - y0)
    bx0, by0 = int(max(0, x0 - pad)), int(max(0, y0 - pad))
    bx1, by1 = int(min(width, x1 + pad)), int(min(height, y1 + pad))
    box_pred = model.predict(np.ascontiguousarray(bgr[by0:by1, bx0:bx1]))
    scale = GRID_SIDE / max(height, width)
    grid = cv2.resize(
        pred, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_LINEAR
    )
    gx0, gy0 = round(bx0 * scale), round(by0 * scale)
    gx1, gy1 = max(gx0 + 1, round(bx1 * scale)), max(gy0 + 1, round(by1 * scale))
    grid[gy0:gy1, gx0:gx1] = cv2.resize(box_pred, (gx1 - gx0, gy1 - gy0), interpolation=cv2.INTER_LINEAR)
    return grid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.second_pass", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model id (default: the engine's)")
    parser.add_argument(
        "--shares", default="0.25,0.5", help="largest subject share of the frame that gets a second pass"
    )
    args = parser.parse_args(argv)
    config = settings()
    model = get_model(args.model or config.model, config.model_dir, config.threads)
    shares = [float(s) for s in args.shares.split(",")]
    sets = {name: load_set(name) for name in discover_sets()} | {"train": load_set("train", DATA)}
    print(f"model {model.id}; second pass when the subject covers at most {shares} of the frame")
    for name, samples in sets.items():
        scores: dict[str, list] = {"one pass": [], **{f"<= {s}": [] for s in shares}}
        used = dict.fromkeys(scores, 0)
        for sample in samples:
            bgr = cv2.imread(str(sample.image), cv2.IMREAD_COLOR)
            truth, pred = sample.truth(), model.predict(bgr)
            first = refine_alpha(pred, bgr)
            scores["one pass"].append(score_image(first, truth))
            for share in shares:
                grid = zoomed(model, bgr, pred, share)
                used[f"<= {share}"] += grid is not None
                scores[f"<= {share}"].append(score_image(first if grid is None else refine_alpha(grid, bgr), truth))
        for variant, items in scores.items():
            s = summarise(items)
            print(
                f"{name:>6} {variant:<9} second pass on {used[variant]:>3}/{len(samples)}: "
                f"MAE {s.mae:.4f} maxFb {s.max_fbeta:.4f} mIoU {s.miou:.4f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
