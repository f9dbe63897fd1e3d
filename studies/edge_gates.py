"""`python -m studies.edge_gates`: how soft the default's edges can get before binary masks object.

Issue 12 asks for soft edges (matting photos) at no more than 1 % of MAE on any binary-mask set.
This measures the trade-off on the validation split, where such a choice is made, with the matting
photos reported beside it. One prediction per photo (the default model), then each edge style:

- the crisp default, its edge curve made gentler (steepness 4, 2), the soft style (`soft_edges`),
  and the soft style with the crisp edge curve on top;
- soft only where a gate says the photo or the map supports it, blended per pixel with the crisp
  alpha: where the subject's and the background's colours next to the edge are far apart for their
  spread (`separation`), where the map's own transition is wider than a clean edge's (`width`), or
  where the background next to the edge is smooth (`background_texture`: out of focus, as in the
  matting photos);
- two bounds, not candidates: soft only in the top 8 % of the subject (on full-body photos, the
  heads: what soft hair alone costs on binary masks) and the crisp alpha thresholded (the hardest
  edge: how much MAE binary masks give back for it).

The matting photos are also scored as a binary-mask set would score them (their true alpha
thresholded at 128), each style and the true alpha itself: what the binary masks make of a perfect matte.

Per validation group (truth where there is one, the teacher elsewhere) the MAE and max F-beta are
printed as ratios to the crisp default's. Writes studies/results/edge_gates.{json,md}.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.contenders import decode_gray
from bench.data import MATTING_DIR, ROOT, load_set
from bench.matting_metrics import mean_scores, score_matte
from bench.metrics import score_image, summarise
from bench.report import publish, table
from engine import settings
from engine.decode import decode_image
from engine.model import Model, get_model
from engine.refine import SOFT_SURE, SOFT_WORK_SIDE, edge_curve, grid_map, refine_alpha, sure_regions
from engine.settings import DEFAULT_MODEL

OUT = ROOT / "studies" / "results" / "edge_gates"
TRUE_ALPHA = "the true alpha itself"


@dataclass
class Photo:
    """One photo and its prediction, with what several edge styles share computed once."""

    pred: np.ndarray
    bgr: np.ndarray

    @classmethod
    def cut(cls, data: bytes, model: Model, max_megapixels: float) -> Photo:
        bgr = decode_image(data, max_megapixels).bgr
        return cls(model.predict(bgr), bgr)

    @cached_property
    def crisp(self) -> np.ndarray:
        return refine_alpha(self.pred, self.bgr)

    @cached_property
    def soft(self) -> np.ndarray:
        return refine_alpha(self.pred, self.bgr, soft=True)

    @cached_property
    def grid(self) -> tuple[np.ndarray, np.ndarray, float]:
        """The soft style's grid: (guide colours 0..1, prediction on it, grid pixels per model pixel)."""
        _, guide, p, model_pixel = grid_map(self.pred, self.bgr, SOFT_WORK_SIDE)
        return guide, p, model_pixel


Style = Callable[[Photo], np.ndarray]  # -> uint8 alpha at the photo's size
Measure = Callable[[Photo], np.ndarray]  # -> a figure per cell of the soft style's grid


def separation(photo: Photo, radius: float = 8.0) -> np.ndarray:
    """Per grid cell: squared distance of the mean sure-subject and sure-background colours within
    `radius` model pixels, over the sum of their colour variances (0 where one side is absent)."""
    guide, p, model_pixel = photo.grid
    fg, bg = (mask.astype(np.float32) for mask in sure_regions(p, model_pixel))
    r = max(1, round(radius * model_pixel))
    size = (2 * r + 1, 2 * r + 1)

    def stats(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        count = cv2.blur(mask, size) + 1e-6
        mean = np.stack([cv2.blur(guide[..., c] * mask, size) / count for c in range(3)], -1)
        square = np.stack([cv2.blur(guide[..., c] ** 2 * mask, size) / count for c in range(3)], -1)
        return mean, np.clip(square - mean**2, 0, None).sum(-1), count

    mean_fg, var_fg, n_fg = stats(fg)
    mean_bg, var_bg, n_bg = stats(bg)
    ratio = ((mean_fg - mean_bg) ** 2).sum(-1) / (var_fg + var_bg + 1e-4)
    return np.where((n_fg > 0.05) & (n_bg > 0.05), ratio, 0).astype(np.float32)


def transition_width(photo: Photo, radius: float = 6.0) -> np.ndarray:
    """Per grid cell: the map's unsure area (0.05 < p < 0.95) per length of its 0.5 contour within
    `radius` model pixels, in model pixels (a clean edge of the model is about 2 wide)."""
    _, p, model_pixel = photo.grid
    unsure = ((p > SOFT_SURE) & (p < 1 - SOFT_SURE)).astype(np.float32)
    inside = (p >= 0.5).astype(np.uint8)
    contour = cv2.morphologyEx(inside, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)).astype(np.float32) / 2
    r = max(1, round(radius * model_pixel))
    size = (2 * r + 1, 2 * r + 1)
    area, length = cv2.blur(unsure, size), cv2.blur(contour, size)
    width = area / np.maximum(length, 1e-3) / model_pixel
    no_contour = length < 1e-3
    width[no_contour] = np.where(area[no_contour] > 0.2, 99.0, 0.0)
    result: np.ndarray = width.astype(np.float32)
    return result


def background_texture(photo: Photo, radius: float = 8.0) -> np.ndarray:
    """Per grid cell: the mean Sobel magnitude of the photo's gray level (0..1) over the sure
    background within `radius` model pixels (0 where there is none). The colour-line model holds
    where the background is locally smooth, e.g. out of focus."""
    guide, p, model_pixel = photo.grid
    bg = sure_regions(p, model_pixel)[1].astype(np.float32)
    gray = guide.mean(-1).astype(np.float32)
    magnitude = np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3))
    r = max(1, round(radius * model_pixel))
    size = (2 * r + 1, 2 * r + 1)
    count = cv2.blur(bg, size)
    texture = cv2.blur(magnitude * bg, size) / np.maximum(count, 1e-6)
    result: np.ndarray = np.where(count > 1e-3, texture, 0).astype(np.float32)
    return result


def top_of_subject(share: float) -> Measure:
    """A gate open (1) on the grid rows above `share` of the subject's height from its top row (p >= 0.5),
    shut (0) below: on full-body photos, about the heads and their hair. A bound, not a candidate: it
    asks what soft hair alone costs on binary masks."""

    def gate(photo: Photo) -> np.ndarray:
        p = photo.grid[1]
        rows = np.nonzero((p >= 0.5).any(axis=1))[0]
        weight = np.zeros(p.shape, np.float32)
        if rows.size:
            weight[: round(rows[0] + share * (rows[-1] - rows[0])) + 1] = 1.0
        return weight

    return gate


def ramp(measure: Measure, start: float, span: float) -> Measure:
    """A gate that opens linearly from `start` to `start + span` of `measure`."""

    def gate(photo: Photo) -> np.ndarray:
        weight: np.ndarray = np.clip((measure(photo) - start) / span, 0, 1)
        return weight

    return gate


def gated(gate: Measure) -> Style:
    """Crisp alpha, moved toward the soft one by the gate's weight (upsampled from the grid)."""

    def style(photo: Photo) -> np.ndarray:
        crisp, soft = photo.crisp.astype(np.float32), photo.soft.astype(np.float32)
        size = (photo.bgr.shape[1], photo.bgr.shape[0])
        weight = cv2.resize(gate(photo), size, interpolation=cv2.INTER_LINEAR)
        out: np.ndarray = np.clip(crisp + weight * (soft - crisp) + 0.5, 0, 255).astype(np.uint8)
        return out

    return style


def binary(photo: Photo) -> np.ndarray:
    """The crisp alpha thresholded at 128: the hardest edge, a bound of what binary masks reward."""
    out: np.ndarray = np.where(photo.crisp >= 128, 255, 0).astype(np.uint8)
    return out


def styles() -> dict[str, Style]:
    curve = edge_curve(6.0)
    return {
        "crisp (default, curve 6)": lambda photo: photo.crisp,
        "crisp, curve 4": lambda photo: refine_alpha(photo.pred, photo.bgr, steepness=4),
        "crisp, curve 2": lambda photo: refine_alpha(photo.pred, photo.bgr, steepness=2),
        "soft (soft_edges)": lambda photo: photo.soft,
        "soft, then curve 6": lambda photo: curve[photo.soft],
        "soft where colours separate (ratio 8..16)": gated(ramp(separation, 8, 8)),
        "soft where colours separate (ratio 2..6)": gated(ramp(separation, 2, 4)),
        "soft where the map's edge is wide (8..16 px)": gated(ramp(transition_width, 8, 8)),
        "soft where the map's edge is wide (3..5 px)": gated(ramp(transition_width, 3, 2)),
        "soft where the background is smooth (texture 0.10..0.05)": gated(ramp(background_texture, 0.1, -0.05)),
        "soft where the background is smooth (texture 0.20..0.10)": gated(ramp(background_texture, 0.2, -0.1)),
        "bound: soft only in the subject's top 8 % (heads)": gated(top_of_subject(0.08)),
        "bound: binary (alpha >= 128 -> 255, else 0)": binary,
    }


def against_thresholded(alpha: np.ndarray, truth: np.ndarray) -> float:
    """MAE (0..1) of an 8-bit alpha against the true alpha thresholded at 128: how a binary-mask
    set would score a matte, the true alpha included."""
    mask = np.where(truth >= 128, 1.0, 0.0)
    return float(np.mean(np.abs(alpha / 255.0 - mask)))


def validation_photos() -> list[tuple[str, Path, Path]]:
    """(group, photo, reference) for every validation photo of the training pool; the teacher's labels
    of the unlabelled ones are made where they are not cached (about 3 minutes on 2 cores)."""
    from modelbuild.teachers import DEFAULT_TEACHER, TEACHERS  # noqa: PLC0415 (onnxruntime sessions, offline-only)
    from training.paths import TEACHER_LABELS  # noqa: PLC0415 (training is offline-only)
    from training.split import POOL_FOLDERS  # noqa: PLC0415
    from training.validate import label_unlabelled, validation_groups  # noqa: PLC0415

    groups = validation_groups(POOL_FOLDERS, TEACHER_LABELS / DEFAULT_TEACHER)
    label_unlabelled(groups, TEACHERS[DEFAULT_TEACHER], TEACHER_LABELS / DEFAULT_TEACHER)  # a fresh machine's first run
    return [(name, e.image, e.truth or e.teacher) for name, examples in groups.items() for e in examples]


def measure(ways: dict[str, Style], model_id: str) -> dict[str, Any]:
    """Every way on the validation split (per group) and on the matting photos."""
    config = settings()
    model = get_model(model_id, config.model_dir, config.threads)
    photos = validation_photos()
    scores: dict[str, dict[str, list[Any]]] = {way: {} for way in ways}
    for group, image, reference in photos:
        photo, truth = Photo.cut(image.read_bytes(), model, config.max_megapixels), decode_gray(reference.read_bytes())
        for way, style in ways.items():
            scores[way].setdefault(group, []).append(score_image(style(photo), truth))
    matting: dict[str, list[Any]] = {way: [] for way in ways}
    as_binary: dict[str, list[float]] = {way: [] for way in (*ways, TRUE_ALPHA)}
    samples = load_set(MATTING_DIR.name, MATTING_DIR.parent, truth="alphas")
    for sample in samples:
        photo, truth = Photo.cut(sample.image_bytes(), model, config.max_megapixels), sample.truth()
        for way, style in ways.items():
            alpha = style(photo)
            matting[way].append(score_matte(alpha, truth))
            as_binary[way].append(against_thresholded(alpha, truth))
        as_binary[TRUE_ALPHA].append(against_thresholded(truth, truth))
    return {
        "model": model_id,
        "photos": len(photos),
        "validation": {w: {g: summarise(s).as_dict() for g, s in groups.items()} for w, groups in scores.items()},
        "matting": {w: mean_scores(s) for w, s in matting.items()},
        "matting_photos": [sample.stem for sample in samples],
        "matting_as_binary": {w: [round(m, 6) for m in maes] for w, maes in as_binary.items()},
    }


def markdown(results: dict[str, Any]) -> str:
    validation, matting = results["validation"], results["matting"]
    base = next(iter(validation.values()))
    groups = list(base)
    rows = []
    for way, figures in validation.items():
        ratios = [figures[g]["mae"] / base[g]["mae"] for g in groups]
        fbeta = np.mean([figures[g]["max_fbeta"] for g in groups]) / np.mean([base[g]["max_fbeta"] for g in groups])
        m = matting[way]
        rows.append([
            way, *(f"{r:.3f}" for r in ratios), f"{max(ratios):.3f}", f"{fbeta:.4f}",
            f"{m['sad_whole']:.1f}", f"{m['grad_whole']:.1f}", f"{m['soft_share']:.3f}",
        ])  # fmt: skip
    head = (
        f"Edge styles on one prediction per photo of `{results['model']}`; {results['created']}. Validation split "
        f"({results['photos']} photos): MAE per group and mean max Fβ as ratios to the crisp default's. "
        "Matting photos (9, reported only): SAD and Grad over the whole image, soft-pixel share (truth 0.080)."
    )
    header = ["edge style", *groups, "worst group", "max Fβ", "SAD", "Grad", "soft share"]
    binary = binary_markdown(results["matting_photos"], results["matting_as_binary"])
    return head + "\n\n" + table(header, rows) + "\n" + binary


def binary_markdown(photos: list[str], as_binary: dict[str, list[float]]) -> str:
    """The matting photos scored as a binary-mask set would score them (truth thresholded at 128)."""
    base = np.mean(next(iter(as_binary.values())))
    rows = [
        [way, f"{np.mean(maes):.4f}", f"{np.mean(maes) / base:.3f}", *(f"{m:.4f}" for m in maes)]
        for way, maes in as_binary.items()
    ]
    head = (
        "\nThe matting photos scored as a binary-mask set scores them: MAE against the true alpha "
        "thresholded at 128, the mean (and its ratio to the crisp default's) and per photo."
    )
    return head + "\n\n" + table(["edge style", "MAE", "ratio", *photos], rows) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.edge_gates", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    results = {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **measure(styles(), args.model)}
    return publish(results, args.out, markdown(results))


if __name__ == "__main__":
    sys.exit(main())
