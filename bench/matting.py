"""Matting pass: every contender's cut-out of the photos in `../shared/data/matting`, its alpha
channel scored against the true alpha (SAD, MSE, Grad, Conn over the whole image and over the
transition band; the soft-pixel share), with the wall time of the whole cut-out per image."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image

from .contenders import Contender
from .data import Sample
from .load import OtherLoad
from .matting_metrics import mean_scores, score_matte


def alpha_channel(png: bytes) -> np.ndarray:
    """The alpha of an encoded cut-out as 8-bit gray (255 everywhere when it has none)."""
    with Image.open(io.BytesIO(png)) as image:
        rgba = image.convert("RGBA")
    return np.asarray(rgba.getchannel("A"))


def truth_soft_share(samples: Sequence[Sample]) -> float:
    """Mean share of strictly partial pixels (0 < alpha < 255) in the true alphas."""
    shares = []
    for sample in samples:
        truth = sample.truth()
        shares.append(np.count_nonzero((truth > 0) & (truth < 255)) / truth.size)
    return round(float(np.mean(shares)), 6)


def evaluate_matting(contender: Contender, samples: Sequence[Sample]) -> dict[str, Any]:
    """One (loaded) contender: mean figures, per-image figures, seconds per image, other load."""
    scores, per_image = [], {}
    seconds = 0.0
    with OtherLoad() as load:
        for sample in samples:
            data = sample.image_bytes()
            start = time.perf_counter()
            png = contender.cutout(data).png
            seconds += time.perf_counter() - start
            score = score_matte(alpha_channel(png), sample.truth())
            scores.append(score)
            per_image[sample.stem] = score.as_dict()
    return {
        "n": len(samples),
        **mean_scores(scores),
        "s_per_img": round(seconds / len(samples), 4),
        "other_cpu_cores": round(load.cores, 3),
        "images": per_image,
    }


def matting_pass(
    contenders: Sequence[Contender], samples: Sequence[Sample], log: Callable[[str], None] = print
) -> dict[str, Any]:
    """{"truth_soft_share": ..., "contenders": key -> figures} for loaded contenders."""
    rows: dict[str, Any] = {}
    for contender in contenders:
        row = evaluate_matting(contender, samples)
        rows[contender.key] = row
        log(
            f"matting {contender.key:<28} SAD {row['sad_whole']:.2f} MSE {row['mse_whole'] * 1e3:.2f}e-3 "
            f"Grad {row['grad_whole']:.2f} Conn {row['conn_whole']:.2f} soft {row['soft_share']:.3f} "
            f"{row['s_per_img']:.2f} s/img"
        )
    return {"n": len(samples), "truth_soft_share": truth_soft_share(samples), "contenders": rows}
