"""The matting strips: photos with true alpha mattes (`../shared/data/matting`, alphamatting.com,
Rhemann et al. 2009) as photo | true alpha | ours (default) | ours with soft_edges | rembg u2netp."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from engine import Options, OutputMode, remove_background
from modelbuild.paths import DATA

from .cutouts import rembg_cutout
from .tiles import labelled, strip

MATTING_DIR = DATA / "matting"
# hair (the trolls, the doll with loose strands) and fur (Eeyore's tuft, the ostrich's neck)
MATTING_PHOTOS = ("am_GT04", "am_GT03", "am_GT24", "am_GT14")
TILE_HEIGHT = 200


def _alpha(data: bytes, options: Options) -> Image.Image:
    with Image.open(io.BytesIO(remove_background(data, options).data)) as matte:
        return matte.convert("L")


def matting_strip(stem: str, u2net_home: Path, folder: Path = MATTING_DIR) -> Image.Image:
    """One photo's strip; the rembg tile is left out when rembg is not installed here."""
    data = (folder / "images" / f"{stem}.png").read_bytes()
    with Image.open(folder / "images" / f"{stem}.png") as photo, Image.open(folder / "alphas" / f"{stem}.png") as truth:
        tiles = [labelled(photo, stem, TILE_HEIGHT), labelled(truth, "true alpha", TILE_HEIGHT)]
    tiles.append(labelled(_alpha(data, Options(output=OutputMode.MASK)), "ours (default)", TILE_HEIGHT))
    tiles.append(
        labelled(_alpha(data, Options(output=OutputMode.MASK, soft_edges=True)), "ours, soft_edges", TILE_HEIGHT)
    )
    rembg = rembg_cutout(data, u2net_home)
    if rembg is not None:
        tiles.append(labelled(rembg.getchannel("A"), "rembg u2netp", TILE_HEIGHT))
    return strip(tiles)


def available(folder: Path = MATTING_DIR) -> list[str]:
    """The strip photos that are on this machine (the data lives beside the checkout)."""
    return [stem for stem in MATTING_PHOTOS if (folder / "images" / f"{stem}.png").is_file()]
