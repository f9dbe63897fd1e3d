"""A transparent cut-out's pixels as two planes, colour and alpha, stacked into one BGRA array only
when an encoder needs one.

The PNG writer (png.py) reads the planes a few rows at a time, so the fast PNG path never holds the
4-bytes-a-pixel BGRA array: at 12 MP that is 48 MiB less at the peak and no fresh pages to fault
in (their zeroing stalled 10-60 ms when the kernel had to compact memory for huge pages). Fully
transparent pixels carry no colour in either form: smaller files, and nothing of the background
leaks out through a viewer that ignores alpha.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

# mixChannels' pairs: source channel (B, G, R of the colour, then the alpha) -> destination channel
_TO_BGRA = [0, 0, 1, 1, 2, 2, 3, 3]
_TO_RGBA = [0, 2, 1, 1, 2, 0, 3, 3]


@dataclass(frozen=True)
class Layers:
    """A cut-out's HxWx3 BGR colours and HxW alpha (uint8, the same height and width; views allowed)."""

    bgr: np.ndarray
    alpha: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        """The shape of the stacked pixels: height, width, 4."""
        height, width = self.alpha.shape
        return height, width, 4

    @property
    def ndim(self) -> int:
        """3, as the stacked pixels' (encoders tell a cut-out from gray or BGR by it)."""
        return 3

    def stacked(self) -> np.ndarray:
        """The HxWx4 BGRA array, transparent pixels zero (an encoder's one array)."""
        return self._rows(0, self.alpha.shape[0], _TO_BGRA)

    def rgba_rows(self, first: int, end: int) -> np.ndarray:
        """Rows first..end in RGBA order (a new (end - first)xWx4 array), transparent pixels zero:
        what the PNG writer takes a few rows at a time."""
        return self._rows(first, end, _TO_RGBA)

    @cached_property
    def visible_box(self) -> tuple[int, int, int, int]:
        """x, y, width, height of the box around the pixels with alpha > 0 (all 0 when none is)."""
        x, y, w, h = cv2.boundingRect(self.alpha)
        return int(x), int(y), int(w), int(h)

    def _rows(self, first: int, end: int, pairs: list[int]) -> np.ndarray:
        """Rows first..end stacked in the channel order `pairs` gives (a new array). Only the part
        inside the visible box is written: the rest stays the zeroed pages the allocator hands out
        (12 MP, subject on a quarter of the frame: 20 ms instead of 55)."""
        rows = np.zeros((end - first, self.alpha.shape[1], 4), np.uint8)
        x, y, w, h = self.visible_box
        top, bottom = max(first, y), min(end, y + h)
        if top < bottom:
            cols, out = slice(x, x + w), rows[top - first : bottom - first, x : x + w]
            _stack(self.bgr[top:bottom, cols], self.alpha[top:bottom, cols], out, pairs)
        return rows


def as_array(pixels: np.ndarray | Layers) -> np.ndarray:
    """Pixels as one array: Layers stacked to BGRA, an array as it is."""
    return pixels.stacked() if isinstance(pixels, Layers) else pixels


def to_bgra(bgr: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Stack colour and alpha into one BGRA array; fully transparent pixels carry no colour
    (smaller PNG, no leaks). `Layers(bgr, alpha).stacked()`."""
    return Layers(bgr, alpha).stacked()


def _stack(bgr: np.ndarray, alpha: np.ndarray, out: np.ndarray, pairs: list[int]) -> None:
    """Colour and alpha into `out` (HxWx4, a view allowed) in the order `pairs` gives, zero where
    alpha is 0."""
    cv2.mixChannels([bgr, alpha], [out], pairs)
    clear = np.equal(alpha, 0).view(np.uint8)  # (cv2.compare takes a 1x1 array for a scalar)
    cv2.subtract(out, out, dst=out, mask=clear)  # zero where alpha == 0, in place
