"""Small image helpers: checkerboard, compositing, labelled tiles, horizontal strips."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

CELL = 10
LABEL_HEIGHT = 18


def decode(png: bytes) -> Image.Image:
    with Image.open(io.BytesIO(png)) as image:
        return image.copy()


def checkerboard(size: tuple[int, int], cell: int = CELL) -> Image.Image:
    board = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(board)
    for y in range(0, size[1], cell):
        for x in range((y // cell % 2) * cell, size[0], 2 * cell):
            draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=(204, 204, 204))
    return board


def over(cutout: Image.Image, background: Image.Image | tuple[int, int, int]) -> Image.Image:
    """The RGBA cut-out composited over a background image or colour, as RGB."""
    base = (
        background.convert("RGBA")
        if isinstance(background, Image.Image)
        else Image.new("RGBA", cutout.size, (*background, 255))
    )
    base.alpha_composite(cutout.convert("RGBA"))
    return base.convert("RGB")


def labelled(image: Image.Image, label: str, height: int) -> Image.Image:
    """The image scaled to `height`, with a caption bar above it."""
    scaled = image.convert("RGB").resize(
        (max(1, round(image.width * height / image.height)), height), Image.Resampling.LANCZOS
    )
    tile = Image.new("RGB", (scaled.width, height + LABEL_HEIGHT), (255, 255, 255))
    tile.paste(scaled, (0, LABEL_HEIGHT))
    ImageDraw.Draw(tile).text((4, 3), label, fill=(30, 30, 30))
    return tile


def strip(tiles: list[Image.Image], gap: int = 4) -> Image.Image:
    width = sum(t.width for t in tiles) + gap * (len(tiles) - 1)
    out = Image.new("RGB", (width, max(t.height for t in tiles)), (255, 255, 255))
    x = 0
    for tile in tiles:
        out.paste(tile, (x, 0))
        x += tile.width + gap
    return out
