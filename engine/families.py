"""Model families: what the output of each family's models means.

Every family takes the photo the same way (`engine.model.model_input`: Lanczos to the manifest's
input size, RGB divided by the photo's max, the manifest's mean and std), as rembg feeds them all.
They differ in their output: a probability map, or logits to pass through a sigmoid. A manifest
names its family (`"family": "u2net"`) beside its own numbers (input size, mean, std, output
name, min-max normalisation), so a new model of a known family needs only its manifest, and a
new family is one entry in FAMILIES.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Activation = Callable[[np.ndarray], np.ndarray]  # HxW float32 raw output -> HxW float32 map


def identity(raw: np.ndarray) -> np.ndarray:
    return raw


def sigmoid(raw: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x), in place on the float32 map (clipped first: e^-x must not overflow)."""
    np.clip(raw, -60.0, 60.0, out=raw)
    np.negative(raw, out=raw)
    np.exp(raw, out=raw)
    raw += 1.0
    np.reciprocal(raw, out=raw)
    return raw


def minmax(pred: np.ndarray) -> np.ndarray:
    """The map rescaled to 0..1 per image, as rembg post-processes every family's output."""
    low, high = float(pred.min()), float(pred.max())
    scaled: np.ndarray = (pred - low) / max(high - low, 1e-6)
    return scaled


@dataclass(frozen=True)
class Family:
    """One kind of segmentation network, as far as feeding it and reading its output go."""

    name: str
    activation: Activation  # applied to the raw output before any min-max normalisation


FAMILIES: dict[str, Family] = {
    # U²-Net, U²-Netp and the students distilled from them; ISNet (DIS) too, as rembg runs it
    "u2net": Family("u2net", identity),
    # BiRefNet: its output is logits (rembg's BiRefNet sessions apply a sigmoid, then min-max)
    "birefnet": Family("birefnet", sigmoid),
    # MODNet (portrait matting): its output is already an alpha (the manifest says: no min-max). Fed as
    # every family is: its authors divide by 255 rather than the photo's max, the same for a photo that
    # reaches white, and keep the aspect where the engine squares it (docs/edges.md measured both)
    "modnet": Family("modnet", identity),
}
DEFAULT_FAMILY = "u2net"  # for manifests written before the key existed
