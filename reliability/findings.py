"""Score the subject findings' thresholds (engine/subject.py) on the validation photos: each finding of
the cut-out against the same finding of the true mask, at a few thresholds around the chosen one.

    python -m reliability.findings   (the labelled folders of training.split's pool; never dev)
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

import engine
from engine import subject
from training.split import POOL_FOLDERS, images_of, validation_stems

STRIDE = 4  # as the pipeline measures
SWEEPS = {
    "several_share": [0.1, 0.15, 0.25, 0.4],
    "cut_share": [0.05, 0.1, 0.15, 0.25, 0.4],
    "small_box": [0.02, 0.04, 0.08],
}


def validation_pairs() -> Iterator[tuple[Path, Path]]:
    """(photo, true mask) of every labelled validation photo."""
    for folder in POOL_FOLDERS:
        if not (folder / "masks").is_dir():
            continue
        held = validation_stems(folder)
        for photo in images_of(folder):
            mask = folder / "masks" / f"{photo.stem}.png"
            if photo.stem in held and mask.is_file():
                yield photo, mask


def measures(matte: np.ndarray) -> dict[str, float]:
    """The raw values the findings threshold: the second piece's share of the largest, the cut share,
    the box's share of the frame."""
    sample = (matte[::STRIDE, ::STRIDE] >= subject.OPAQUE).view(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(sample, connectivity=8)
    areas = sorted(stats[1:, cv2.CC_STAT_AREA], reverse=True)
    big = [a for a in areas if a >= subject.SPECK_SHARE * sample.size]
    if not areas:
        return {"several_share": 0.0, "cut_share": 0.0, "small_box": 1.0}
    _, _, w, h = cv2.boundingRect(sample)
    return {
        "several_share": big[1] / big[0] if len(big) > 1 else 0.0,
        "cut_share": subject._cut_share(matte, w * STRIDE, h * STRIDE),
        "small_box": w * h / sample.size,
    }


def main() -> int:
    rows = []
    for photo, mask in validation_pairs():
        truth = np.asarray(Image.open(mask).convert("L"))
        cut = np.asarray(Image.open(io.BytesIO(engine.remove(photo.read_bytes(), output="mask"))))
        if cut.shape != truth.shape:
            truth = cv2.resize(truth, cut.shape[::-1], interpolation=cv2.INTER_NEAREST)
        rows.append((measures(truth), measures(cut)))
    print(f"{len(rows)} validation photos")
    for name, thresholds in SWEEPS.items():
        below = name == "small_box"
        for t in thresholds:
            flag_true = [(m[name] < t) if below else (m[name] >= t) for m, _ in rows]
            flag_cut = [(c[name] < t) if below else (c[name] >= t) for _, c in rows]
            both = sum(a and b for a, b in zip(flag_true, flag_cut, strict=True))
            precision = both / max(1, sum(flag_cut))
            recall = both / max(1, sum(flag_true))
            print(f"{name:14s} {t:5.2f}  true {sum(flag_true):3d}  flagged {sum(flag_cut):3d}  "
                  f"precision {precision:.2f}  recall {recall:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
