"""`python -m studies.edge_styles`: edge styles and the colours that go with them, judged as a user sees them.

Each candidate is an alpha (crisp, soft, or crisp moved toward soft where a gate opens) and the
alpha its colours are unmixed with (`engine.foreground.decontaminate`): the alpha itself (what the
engine did), the coverage the alpha was curved from (`engine.refine.Matte`), or the soft style's
coverage. One prediction per photo of the default model, then:

- on the validation split (where choices are made): MAE, max F-beta and haze (MAE far from the true
  boundary, `bench.metrics.haze`) per group, as ratios to the crisp default's. Only the labelled
  groups (train, extra/davis, extra/people): the unlabelled ones need the teacher's labels. Binary
  masks see the alpha alone, so candidates that differ only in colours score the same there;
- on the matting photos (reported only): the composite error on white and black against the true
  alpha's composite (`bench.composite`), over the band on the edge photos and on all, and SAD.

`--study gates` scores, the same way, where the default may be soft instead: crisp moved to soft where
a gate opens (`studies.edge_gates`' measures, alone and together, and the engine's own `edge_gate`),
colours always by the soft coverage. Writes studies/results/edge_styles.{json,md} (edge_gates_study with
`--study gates`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.composite import edge_photos, score_composite, subject_iou, true_foreground
from bench.contenders import decode_gray, make_contender
from bench.data import MATTING_DIR, ROOT, load_set
from bench.matting_metrics import score_matte
from bench.metrics import score_image, summarise
from bench.report import publish, table
from engine import settings
from engine.foreground import decontaminate
from engine.model import get_model
from engine.refine import SOFT_WORK_SIDE, Matte, edge_curve, edge_gate, grid_map, refine_alpha, refine_matte, soften
from engine.settings import DEFAULT_MODEL

from .edge_gates import Photo, Style, background_texture, gated, ramp, separation

OUT = ROOT / "studies" / "results" / "edge_styles"
LABELLED = ("train", "extra/davis", "extra/people")  # validation groups scored against truth
REFERENCES = ("rembg:u2net",)  # the dev sets' MAE bar, measured on validation too


class MattePhoto(Photo):
    """A photo with the alphas the candidates share computed once: the crisp curve's input (its
    coverage) and the soft style's matte (its alpha and coverage, `engine.refine.refine_matte`)."""

    @cached_property
    def crisp_coverage(self) -> np.ndarray:
        return refine_alpha(self.pred, self.bgr, steepness=0)

    @cached_property
    def soft_matte(self) -> Matte:
        return refine_matte(self.pred, self.bgr, soft=True)


Candidate = tuple[Style, Style]  # (the alpha, the alpha its colours are unmixed with)


def near_edge(radius: float) -> Callable[[Photo], np.ndarray]:
    """A gate open (1) within `radius` model pixels of the map's 0.5 contour on the soft grid,
    shut (0) elsewhere: soft along the edge, crisp (no haze) away from it."""

    def gate(photo: Photo) -> np.ndarray:
        _, p, model_pixel = photo.grid
        inside = (p >= 0.5).astype(np.uint8)
        contour = cv2.morphologyEx(inside, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
        side = 2 * max(1, round(radius * model_pixel)) + 1
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
        opened: np.ndarray = cv2.dilate(contour, disc).astype(np.float32)
        return opened

    return gate


def candidates() -> dict[str, Candidate]:
    def crisp(photo: Any) -> np.ndarray:
        return photo.crisp  # type: ignore[no-any-return]

    def crisp_coverage(photo: Any) -> np.ndarray:
        return photo.crisp_coverage  # type: ignore[no-any-return]

    def soft(photo: Any) -> np.ndarray:
        return photo.soft_matte.alpha  # type: ignore[no-any-return]

    def soft_coverage(photo: Any) -> np.ndarray:
        return photo.soft_matte.coverage  # type: ignore[no-any-return]

    def soft_curved(steepness: float) -> Style:
        table = edge_curve(steepness)
        return lambda photo: cv2.LUT(soft(photo), table)

    def blend(weight: float) -> Style:
        return gated(lambda photo: np.full(photo.grid[1].shape, weight, np.float32))

    smooth = gated(ramp(background_texture, 0.1, -0.05))
    return {
        "crisp (default), colours by its alpha": (crisp, crisp),
        "crisp, colours by its coverage (before the curve)": (crisp, crisp_coverage),
        "crisp, colours by the soft coverage (the new default)": (crisp, soft_coverage),
        "soft (soft_edges), colours by its alpha": (soft, soft),
        "soft, colours by its coverage": (soft, soft_coverage),
        "soft within 4 model px of the edge, colours by the soft coverage": (gated(near_edge(4)), soft_coverage),
        "soft where the background is smooth, colours by the soft coverage": (smooth, soft_coverage),
        "soft, then curve 2": (soft_curved(2), soft_coverage),
        "soft, then curve 3": (soft_curved(3), soft_coverage),
        "half crisp, half soft": (blend(0.5), soft_coverage),
        "a third soft": (blend(1 / 3), soft_coverage),
        "soft where colours separate (ratio 2..6)": (gated(ramp(separation, 2, 4)), soft_coverage),
        "soft where colours separate (ratio 8..16)": (gated(ramp(separation, 8, 8)), soft_coverage),
    }


def both(*gates: Callable[[Photo], np.ndarray]) -> Callable[[Photo], np.ndarray]:
    """A gate open only as far as every one of `gates` is (their product)."""

    def gate(photo: Photo) -> np.ndarray:
        weight = gates[0](photo)
        for other in gates[1:]:
            weight = weight * other(photo)
        return weight

    return gate


def gate_candidates() -> dict[str, Candidate]:
    """The gate study (`--study gates`): where the default may be soft. Colours by the soft coverage
    throughout (as the engine does), so only the alpha differs."""
    ways = candidates()
    colours = ways["soft, colours by its coverage"][1]
    smooth, smoother = ramp(background_texture, 0.1, -0.05), ramp(background_texture, 0.2, -0.1)
    apart, further_apart = ramp(separation, 2, 4), ramp(separation, 1, 2)
    return {
        "crisp (default)": ways["crisp, colours by the soft coverage (the new default)"],
        "soft (soft_edges)": ways["soft, colours by its coverage"],
        "soft where the background is smooth (0.10..0.05)": (gated(smooth), colours),
        "soft where colours separate (ratio 2..6)": (gated(ramp(separation, 2, 4)), colours),
        "soft where smooth and colours separate": (gated(both(smooth, apart)), colours),
        "soft where smooth and colours separate, looser (0.20..0.10, ratio 1..3)": (
            gated(both(smoother, further_apart)),
            colours,
        ),
        "soft where smooth and colours separate, within 4 model px of the edge": (
            gated(both(smooth, apart, near_edge(4))),
            colours,
        ),
        "the engine's gate: smooth and apart, spread over wide bands": (engine_gated(8.0), colours),
        "the engine's gate, measured within 16 model px": (engine_gated(16.0), colours),
    }


def engine_gated(radius: float) -> Style:
    """The engine's default alpha (`engine.refine.edge_gate`), its gate measured within `radius` model px."""

    def style(photo: Photo) -> np.ndarray:
        k, guide, p, model_pixel = grid_map(photo.pred, photo.bgr, SOFT_WORK_SIDE)
        alpha = photo.crisp.copy()
        soften(alpha, photo.soft_matte.coverage, edge_gate(guide, p, model_pixel, radius=radius), k)
        return alpha

    return style


def cutout(photo: Photo, candidate: Candidate) -> np.ndarray:
    """The candidate's BGRA cut-out of the photo."""
    alpha, colours = (style(photo) for style in candidate)
    return np.dstack([decontaminate(photo.bgr, colours), alpha])


def validation_photos() -> list[tuple[str, Path, Path]]:
    """(group, photo, truth) for the validation photos of the labelled groups."""
    from modelbuild.teachers import DEFAULT_TEACHER  # noqa: PLC0415 (onnxruntime sessions, offline-only)
    from training.paths import TEACHER_LABELS  # noqa: PLC0415 (training is offline-only)
    from training.split import POOL_FOLDERS  # noqa: PLC0415
    from training.validate import validation_groups  # noqa: PLC0415

    groups = validation_groups(POOL_FOLDERS, TEACHER_LABELS / DEFAULT_TEACHER)
    return [(g, e.image, e.truth) for g, examples in groups.items() if g in LABELLED for e in examples if e.truth]


def measure(
    ways: dict[str, Candidate], model_id: str, limit: int | None = None, references: Sequence[str] = REFERENCES
) -> dict[str, Any]:
    """Every candidate on the validation split's labelled groups and on the matting photos; the
    `references` (bench contender keys) on the validation split, for the MAE bar."""
    config = settings()
    references = {key: _loaded(key) for key in references}
    model = get_model(model_id, config.model_dir, config.threads)
    photos = validation_photos()[:limit]
    alphas = {way: candidate[0] for way, candidate in ways.items()}
    scores: dict[str, dict[str, list[Any]]] = {way: {} for way in (*ways, *references)}
    soft_share: dict[str, list[float]] = {way: [] for way in ways}
    for group, image, reference in photos:
        data, truth = image.read_bytes(), decode_gray(reference.read_bytes())
        photo = MattePhoto.cut(data, model, config.max_megapixels)
        for way, style in alphas.items():
            alpha = style(photo)
            scores[way].setdefault(group, []).append(score_image(alpha, truth))
            soft_share[way].append(float(np.mean((alpha > 0) & (alpha < 255))))
        for key, contender in references.items():
            scores[key].setdefault(group, []).append(score_image(contender.mask(data), truth))
    matting: dict[str, dict[str, dict[str, float]]] = {way: {} for way in ways}
    for sample in load_set(MATTING_DIR.name, MATTING_DIR.parent, truth="alphas")[:limit]:
        photo, truth = MattePhoto.cut(sample.image_bytes(), model, config.max_megapixels), sample.truth()
        colours = true_foreground(photo.bgr, truth)
        for way, candidate in ways.items():
            bgra = cutout(photo, candidate)
            matting[way][sample.stem] = {
                **score_composite(bgra, colours, truth).as_dict(),
                "sad": round(score_matte(np.ascontiguousarray(bgra[..., 3]), truth).whole.sad, 4),
                "subject_iou": subject_iou(bgra[..., 3], truth),
            }
    return {
        "model": model_id,
        "photos": len(photos),
        "validation": {w: {g: summarise(s).as_dict() for g, s in groups.items()} for w, groups in scores.items()},
        "matting": matting,
        "validation_soft_share": {way: round(float(np.mean(v)), 4) for way, v in soft_share.items()},
    }


def _loaded(key: str) -> Any:
    """A bench contender, its model loaded."""
    contender = make_contender(key)
    contender.import_library()
    contender.load_model()
    return contender


def markdown(results: dict[str, Any]) -> str:
    validation, matting = results["validation"], results["matting"]
    base = next(iter(validation.values()))
    groups = list(base)
    ious = {way: {stem: r["subject_iou"] for stem, r in photos.items()} for way, photos in matting.items()}
    edges = edge_photos(ious)
    rows = []
    for way, figures in validation.items():
        mae = [f"{figures[g]['mae'] / base[g]['mae']:.3f}" for g in groups]
        haze = [f"{figures[g]['haze'] / base[g]['haze']:.3f}" for g in groups]
        fbeta = np.mean([figures[g]["max_fbeta"] - base[g]["max_fbeta"] for g in groups])
        m = matting.get(way)
        share = results["validation_soft_share"].get(way)
        edge_cells = ["—"] * 4
        if m:
            edge_cells = [
                f"{np.mean([m[s]['composite_band'] for s in edges]):.2f}" if edges else "—",
                f"{np.mean([r['composite_band'] for r in m.values()]):.2f}",
                f"{np.mean([r['sad'] for r in m.values()]):.1f}",
                f"{share:.3f}",
            ]
        rows.append([way, *mae, *haze, f"{fbeta:+.4f}", *edge_cells])
    count = len(next(iter(matting.values())))
    head = (
        f"Edge styles and their colours, one prediction per photo of `{results['model']}`; {results['created']}. "
        f"Validation split, labelled groups ({results['photos']} photos): MAE and haze per group as ratios to the "
        "crisp default's (references: their mask), mean max Fβ as a difference, soft-pixel share. Matting photos "
        f"(reported only): composite error over the band on the edge photos ({', '.join(edges)}) and on all "
        f"{count}, whole-image SAD."
    )
    header = [
        "candidate",
        *(f"MAE {g}" for g in groups),
        *(f"haze {g}" for g in groups),
        "Δ max Fβ",
        f"composite, edge photos ({len(edges)})",
        f"composite, all {count}",
        "SAD",
        "soft share (validation)",
    ]
    return head + "\n\n" + table(header, rows) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.edge_styles", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--limit", type=int, help="the first N photos of each part (a smoke run)")
    parser.add_argument(
        "--study",
        choices=("colours", "gates"),
        default="colours",
        help="colours: what to unmix the edge colours with; gates: where the default may be soft",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    ways = gate_candidates() if args.study == "gates" else candidates()
    results = {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **measure(ways, args.model, args.limit)}
    out = args.out or (OUT.with_name("edge_gates_study") if args.study == "gates" else OUT)
    return publish(results, out, markdown(results))


if __name__ == "__main__":
    sys.exit(main())
