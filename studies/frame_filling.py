"""`python -m studies.frame_filling`: can a frame-filling subject be rescued from the model's own map?

Close-ups whose subject fills or touches the frame lose everything but a few salient parts. This
study finds the labelled photos of the training pool whose true subject does (it covers more than
half of the frame, or more than a quarter of the frame's outermost pixels) and asks, per model:

- how much of the true subject the map covers at 0.5 (what is cut out) and at 0.1 (what the model
  half-sees): a remedy that stretches the map can only recover what the second covers;
- what the remedy the loss features suggest does: where the map's `faint` share (engine.quality:
  area at p >= 0.1 not at p >= 0.5) is above a threshold, lift the map (p -> p ** gamma), on the
  frame-filling photos and on all the others.

MAE of the map at the model's input size against the area-resized truth. Writes
`studies/results/frame_filling.md`.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from bench.data import load_set
from engine.model import get_model
from engine.quality import faint_share, frame_pixels
from engine.settings import settings
from modelbuild.paths import DATA

FOLDERS = ("train", "extra/davis", "extra/people")
FILLS_AREA = 0.5  # the true subject covers more than this share of the frame ...
FILLS_BORDER = 0.25  # ... or more than this share of its outermost pixels
GATES = (0.2, 0.3, 0.5)
GAMMAS = (0.5, 0.35, 0.2)
RESULTS = Path(__file__).parent / "results" / "frame_filling.md"


def fills_frame(truth: np.ndarray) -> bool:
    subject = truth >= 0.5
    return bool(subject.mean() > FILLS_AREA or frame_pixels(subject).mean() > FILLS_BORDER)


def photos(folders: tuple[str, ...]) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(name, BGR photo, truth 0..1) of every labelled photo in `folders`."""
    for folder in folders:
        for sample in load_set(folder, DATA):
            bgr = cv2.imread(str(sample.image))
            if bgr is None:
                raise ValueError(f"cannot read {sample.image}")
            yield f"{folder}/{sample.stem}", bgr, sample.truth().astype(np.float32) / 255.0


def study(model_id: str, samples: list[tuple[str, np.ndarray, np.ndarray]]) -> list[str]:
    config = settings()
    model = get_model(model_id, config.model_dir, config.threads)
    rows = []
    for name, bgr, truth in samples:
        prediction = model.predict(bgr)
        small = cv2.resize(truth, prediction.shape[::-1], interpolation=cv2.INTER_AREA)
        rows.append((name, fills_frame(truth), prediction, small))
    filling = [r for r in rows if r[1]]
    lines = [f"### {model_id}", ""]
    covered = [(np.mean(p[t >= 0.5] >= 0.5), np.mean(p[t >= 0.5] >= 0.1)) for _, _, p, t in filling if (t >= 0.5).any()]
    at_half, at_tenth = np.mean(covered, axis=0)
    lines.append(
        f"Frame-filling photos: {len(filling)} of {len(rows)}. Share of their true subject the map covers: "
        f"{at_half:.3f} at 0.5, {at_tenth:.3f} at 0.1."
    )
    lines += ["", "| remedy | photos lifted | MAE, frame-filling | MAE, the others |", "|---|---|---|---|"]

    def mae(lifted: float | None, gamma: float) -> tuple[int, float, float]:
        errors: dict[bool, list[float]] = {True: [], False: []}
        count = 0
        for _, fills, prediction, truth in rows:
            if lifted is not None and faint_share(prediction) > lifted:
                prediction, count = prediction**gamma, count + 1
            errors[fills].append(float(np.abs(prediction - truth).mean()))
        return count, float(np.mean(errors[True])), float(np.mean(errors[False]))

    count, filled, others = mae(None, 1.0)
    lines.append(f"| none (the map as it is) | 0 | {filled:.4f} | {others:.4f} |")
    for gate in GATES:
        for gamma in GAMMAS:
            count, filled, others = mae(gate, gamma)
            lines.append(f"| faint > {gate}: p ** {gamma} | {count} | {filled:.4f} | {others:.4f} |")
    return [*lines, ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.frame_filling", description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="u2netp-distilled-int8,u2net-int8", help="comma-separated model ids")
    args = parser.parse_args(argv)
    samples = list(photos(FOLDERS))
    lines = [
        "# Frame-filling subjects: rescued from the model's own map?",
        "",
        "Made by `python -m studies.frame_filling`; its docstring says what is measured.",
        "",
    ]
    for model_id in args.models.split(","):
        lines += study(model_id.strip(), samples)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
