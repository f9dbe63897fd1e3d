"""Per photo: the strip (original | cut-out on a checkerboard | on a colour | matte [| rembg]) and a
zoomed edge crop with and without colour decontamination, and with soft edges."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from engine import Options, remove_background

from .tiles import checkerboard, decode, labelled, over, strip

TILE_HEIGHT = 220
SOLID = (46, 125, 50)  # a green no photo here has as its background
EDGE_BACKGROUND = (255, 255, 255)  # a halo of the old (darker) background shows on white
EDGE_WINDOW = 0.12  # edge crop side, as a share of the photo's shorter side
EDGE_ZOOM = 240  # the crop is shown this many pixels high


@lru_cache(maxsize=1)
def rembg_session(u2net_home: Path) -> Any | None:
    """rembg's u2netp session, loaded once, when rembg and its model are installed here; else None."""
    if not (u2net_home / "u2netp.onnx").is_file():
        return None
    os.environ.setdefault("U2NET_HOME", str(u2net_home))
    try:
        from rembg import new_session  # noqa: PLC0415  # optional: bench/requirements.txt
    except ImportError:
        return None
    return new_session("u2netp")


def rembg_cutout(jpeg: bytes, u2net_home: Path) -> Image.Image | None:
    """rembg u2netp's cut-out, or None when rembg is not installed here."""
    session = rembg_session(u2net_home)
    if session is None:
        return None
    from rembg import remove  # noqa: PLC0415  # optional: bench/requirements.txt

    return decode(remove(jpeg, session=session))


def cutout_strip(jpeg: bytes, cutout: Image.Image, rembg: Image.Image | None) -> Image.Image:
    original = decode(jpeg)
    alpha = cutout.getchannel("A")
    tiles = [
        labelled(original, "original", TILE_HEIGHT),
        labelled(over(cutout, checkerboard(cutout.size)), "cut-out (ours)", TILE_HEIGHT),
        labelled(over(cutout, SOLID), "on a colour", TILE_HEIGHT),
        labelled(alpha, "alpha matte", TILE_HEIGHT),
    ]
    if rembg is not None:
        tiles.append(labelled(over(rembg, checkerboard(rembg.size)), "rembg u2netp", TILE_HEIGHT))
    return strip(tiles)


def edge_box(alpha: np.ndarray) -> tuple[int, int, int, int]:
    """The square window holding the most partially transparent pixels (the softest edge: fur, hair)."""
    side = max(16, int(EDGE_WINDOW * min(alpha.shape)))
    partial = ((alpha > 0) & (alpha < 255)).astype(np.float32)
    density = cv2.boxFilter(partial, -1, (side, side), normalize=False, borderType=cv2.BORDER_CONSTANT)
    half = side // 2
    inner = density[half : alpha.shape[0] - half, half : alpha.shape[1] - half]
    y, x = np.unravel_index(int(np.argmax(inner)), inner.shape)
    return x, y, x + side, y + side


def edge_comparison(jpeg: bytes, cutout: Image.Image) -> Image.Image:
    """The softest edge, zoomed, on white: without colour decontamination, then with it, then the
    soft_edges cut-out (decontaminated too) of the same window."""
    raw = decode(remove_background(jpeg, Options(decontaminate=False)).data)
    soft = decode(remove_background(jpeg, Options(soft_edges=True)).data)
    box = edge_box(np.asarray(cutout.getchannel("A")))
    tiles = [
        labelled(decode(jpeg).crop(box), "original", EDGE_ZOOM),
        labelled(over(raw.crop(box), EDGE_BACKGROUND), "edge colours as shot", EDGE_ZOOM),
        labelled(over(cutout.crop(box), EDGE_BACKGROUND), "decontaminated (ours)", EDGE_ZOOM),
        labelled(over(soft.crop(box), EDGE_BACKGROUND), "soft_edges, decontaminated", EDGE_ZOOM),
    ]
    return strip(tiles)


def thumbnail(cutout: Image.Image, side: int = 320) -> Image.Image:
    image = cutout.copy()
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    return image


def make(jpeg: bytes, u2net_home: Path) -> dict[str, Image.Image]:
    """name suffix -> image, for one photo."""
    cutout = decode(remove_background(jpeg).data)
    return {
        "strip": cutout_strip(jpeg, cutout, rembg_cutout(jpeg, u2net_home)),
        "edge": edge_comparison(jpeg, cutout),
        "cutout": thumbnail(cutout),
    }
