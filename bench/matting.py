"""Matting pass: every contender's cut-out of the photos in `../shared/data/matting`, its alpha
channel scored against the true alpha (SAD, MSE, Grad, Conn over the whole image and over the
transition band; the soft-pixel share) and the cut-out composited onto white and black against the
truth's composite (`composite`: over the band and the whole image, on every photo and on the edge
photos, those whose subject every product compared gets right: ours and rembg's, not the reference
networks), with the wall time of the whole cut-out
per image."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from .composite import edge_photos, score_composite, subject_iou, true_foreground
from .contenders import Contender, is_reference
from .data import Sample
from .load import OtherLoad
from .matting_metrics import mean_scores, score_matte


def rgba_of(png: bytes) -> np.ndarray:
    """An encoded cut-out as HxWx4 uint8 RGBA (alpha 255 everywhere when it has none)."""
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGBA"))


def alpha_channel(png: bytes) -> np.ndarray:
    """The alpha of an encoded cut-out as 8-bit gray (255 everywhere when it has none)."""
    return np.ascontiguousarray(rgba_of(png)[..., 3])


def true_foregrounds(samples: Sequence[Sample]) -> dict[str, np.ndarray]:
    """Photo stem -> its true foreground colours (RGB, float 0..255), from the photo and its true alpha."""
    colours = {}
    for sample in samples:
        with Image.open(sample.image) as image:
            rgb = np.asarray(image.convert("RGB"))
        colours[sample.stem] = true_foreground(rgb, sample.truth())
    return colours


def truth_soft_share(samples: Sequence[Sample]) -> float:
    """Mean share of strictly partial pixels (0 < alpha < 255) in the true alphas."""
    shares = []
    for sample in samples:
        truth = sample.truth()
        shares.append(np.count_nonzero((truth > 0) & (truth < 255)) / truth.size)
    return round(float(np.mean(shares)), 6)


def evaluate_matting(
    contender: Contender, samples: Sequence[Sample], foregrounds: Mapping[str, np.ndarray]
) -> dict[str, Any]:
    """One (loaded) contender: mean figures, per-image figures, seconds per image, other load;
    `foregrounds` are the true colours per photo (`true_foregrounds`)."""
    scores, per_image = [], {}
    seconds = 0.0
    with OtherLoad() as load:
        for sample in samples:
            data = sample.image_bytes()
            start = time.perf_counter()
            png = contender.cutout(data).png
            seconds += time.perf_counter() - start
            rgba, truth = rgba_of(png), sample.truth()
            score = score_matte(np.ascontiguousarray(rgba[..., 3]), truth)
            scores.append(score)
            per_image[sample.stem] = {
                **score.as_dict(),
                **score_composite(rgba, foregrounds[sample.stem], truth).as_dict(),
                "subject_iou": round(subject_iou(rgba[..., 3], truth), 6),
            }
    return {
        "n": len(samples),
        **mean_scores(scores),
        **_mean_composites(per_image, list(per_image)),
        "s_per_img": round(seconds / len(samples), 4),
        "other_cpu_cores": round(load.cores, 3),
        "images": per_image,
    }


def matting_pass(
    contenders: Sequence[Contender], samples: Sequence[Sample], log: Callable[[str], None] = print
) -> dict[str, Any]:
    """{"truth_soft_share": ..., "edge_photos": [...], "contenders": key -> figures} for loaded
    contenders; each row also holds its composite error over the edge photos (`composite_band_edge`)."""
    rows: dict[str, Any] = {}
    foregrounds = true_foregrounds(samples)
    for contender in contenders:
        row = evaluate_matting(contender, samples, foregrounds)
        rows[contender.key] = row
        log(
            f"matting {contender.key:<28} SAD {row['sad_whole']:.2f} MSE {row['mse_whole'] * 1e3:.2f}e-3 "
            f"Grad {row['grad_whole']:.2f} Conn {row['conn_whole']:.2f} soft {row['soft_share']:.3f} "
            f"composite {row['composite_band']:.2f} {row['s_per_img']:.2f} s/img"
        )
    edges = edge_photos(  # where only the products' edges differ; a reference's misses do not count
        {
            key: {stem: r["subject_iou"] for stem, r in row["images"].items()}
            for key, row in rows.items()
            if not is_reference(key)
        }
    )
    for row in rows.values():
        row["composite_band_edge"] = _mean_composites(row["images"], edges)["composite_band"]
    return {
        "n": len(samples),
        "truth_soft_share": truth_soft_share(samples),
        "edge_photos": edges,
        "contenders": rows,
    }


def _mean_composites(per_image: Mapping[str, Mapping[str, float]], stems: Sequence[str]) -> dict[str, float | None]:
    """The composite errors averaged over the photos `stems` (None when there are none)."""
    return {
        key: round(float(np.mean([per_image[s][key] for s in stems])), 4) if stems else None
        for key in ("composite_band", "composite_whole")
    }
