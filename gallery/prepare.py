"""Pictures for docs/prepare.md: a LoRA set before and after `bgremove prep`, and remove.bg-style placement.

Both are made through the real entry points: `prep` runs as the CLI (`engine.cli.main`) on a folder
of the gallery's photos with captions, and placement through the engine's options as text, as the
API and S3 metadata pass them.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from engine import Options, remove_background
from engine.cli import EXIT_OK, main

from .photos import Photo, photo_jpeg
from .tiles import checkerboard, decode, labelled, over, strip

TILE = 200  # each tile's side, in pixels
CANVAS = "512x512"
PREP_FLAGS = ["--canvas", CANVAS, "--scale", "0.85", "--background", "#ffffff", "--quiet"]
PLACEMENTS = (  # (caption, options as the API takes them) for the placement strip
    ("as cut out", {}),
    ("canvas 600x600, scale 80%", {"canvas": "600x600", "scale": "80%", "position": "center"}),
    ("scale 45%, position 30%,70%", {"canvas": "600x600", "scale": "45%", "position": "30%,70%"}),
    ("canvas 800x400, scale 90%", {"canvas": "800x400", "scale": "90%", "position": "center"}),
    ("crop, crop_margin 10%", {"crop": "true", "crop_margin": "10%"}),
)


def prep_grid(photos: list[Photo]) -> Image.Image:
    """Top row: `dataset/10_subject/<photo>.jpg`; bottom row: what `bgremove prep` wrote for it
    (canvas 512x512, scale 0.85, on white), each with its caption file's name beside it."""
    with tempfile.TemporaryDirectory() as scratch:
        dataset, ready = Path(scratch) / "dataset", Path(scratch) / "ready"
        concept = dataset / "10_subject"
        concept.mkdir(parents=True)
        for photo in photos:
            (concept / f"{photo.name}.jpg").write_bytes(photo_jpeg(photo))
            (concept / f"{photo.name}.txt").write_text(f"a photo of {photo.subject}\n")
        if main(["prep", str(dataset), "--out", str(ready), *PREP_FLAGS]) != EXIT_OK:
            raise RuntimeError("bgremove prep failed on the gallery's photos")
        top = [labelled(Image.open(concept / f"{p.name}.jpg"), f"10_subject/{p.name}.jpg", TILE) for p in photos]
        bottom = []
        for photo in photos:
            output = Image.open(ready / "10_subject" / f"{photo.name}.png")
            caption = (ready / "10_subject" / f"{photo.name}.txt").is_file()
            label = f"{photo.name}.png {output.width}x{output.height}{' + .txt' if caption else ''}"
            bottom.append(labelled(_outlined(output.convert("RGB")), label, TILE))
    return _grid([top, bottom])


def placement_strip(photo: Photo) -> Image.Image:
    """One photo placed as each of PLACEMENTS asks, transparent outputs on a checkerboard."""
    jpeg = photo_jpeg(photo)
    tiles = [labelled(Image.open(io.BytesIO(jpeg)), "photo", TILE)]
    for caption, fields in PLACEMENTS:
        cutout = decode(remove_background(jpeg, Options.from_strings(fields)).data).convert("RGBA")
        shown = _outlined(over(cutout, checkerboard(cutout.size)))
        tiles.append(labelled(shown, f"{caption} ({cutout.width}x{cutout.height})", TILE))
    return _grid([tiles])


def _outlined(image: Image.Image) -> Image.Image:
    """A thin grey frame, so that a white canvas shows where it ends on the white page."""
    framed = image.copy()
    ImageDraw.Draw(framed).rectangle((0, 0, framed.width - 1, framed.height - 1), outline=(160, 160, 160))
    return framed


def _grid(rows: list[list[Image.Image]], gap: int = 6) -> Image.Image:
    """Each row a `tiles.strip`, the strips stacked top to bottom."""
    strips = [strip(row, gap) for row in rows]
    out = Image.new(
        "RGB", (max(s.width for s in strips), sum(s.height for s in strips) + gap * (len(strips) - 1)), "white"
    )
    y = 0
    for row in strips:
        out.paste(row, (0, y))
        y += row.height + gap
    return out
