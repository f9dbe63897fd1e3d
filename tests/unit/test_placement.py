"""Placement (canvas, scale, position, roi): the options' spellings, and where the subject lands in
what the CLI and the Python entry point write."""

from __future__ import annotations

import io
import re
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import engine
from engine import InvalidOptionError, MemoryBudgetError, Options
from engine.cli import EXIT_OK, main
from engine.memory import resident_mb, working_mb
from engine.pipeline import remove_background
from engine.placement import Anchor, Canvas, Pixels, Point, Roi
from engine.settings import settings
from tests.placed import TOLERANCE, assert_centred_at_share, two_discs
from tests.synthetic import encode, scene


def alpha_box(image: Image.Image) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(np.asarray(image)[:, :, 3] > 8)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ({"canvas": "1024x1024"}, {"canvas": Canvas(1024, 1024)}),
        ({"canvas": "800 X 600"}, {"canvas": Canvas(800, 600)}),
        ({"scale": "0.85"}, {"scale": 0.85}),
        ({"scale": "85%"}, {"scale": 0.85}),
        ({"scale": "original"}, {"scale": None}),
        ({"position": "center"}, {"position": Anchor.CENTER}),
        ({"position": "original"}, {"position": Anchor.ORIGINAL}),
        ({"position": "50%,25%"}, {"position": Point(0.5, 0.25)}),
        ({"position": "30%"}, {"position": Point(0.3, 0.3)}),  # remove.bg: one value is both
        ({"roi": "0% 10% 50% 100%"}, {"roi": Roi((0.0, 0.1, 0.5, 1.0))}),  # remove.bg's spaces
        ({"roi": "10px,20px,300px,200px"}, {"roi": Roi((Pixels(10), Pixels(20), Pixels(300), Pixels(200)))}),
        ({"crop_margin": "20px"}, {"crop_margin": Pixels(20)}),
    ],
)
def test_placement_options_are_read_and_round_trip(text: dict[str, str], expected: dict[str, object]) -> None:
    options = Options.from_strings(text)
    assert {name: getattr(options, name) for name in expected} == expected
    assert Options.from_strings(options.to_strings()) == options


@pytest.mark.parametrize(
    "text",
    [
        {"canvas": "1024"},
        {"canvas": "0x10"},
        {"canvas": "20000x10"},
        {"scale": "1.5"},
        {"scale": "5%"},
        {"scale": "100px"},
        {"position": "left"},
        {"position": "10px,10px"},
        {"position": "150%,0%"},
        {"roi": "0,0,1"},
        {"roi": "50%,0%,10%,100%"},
        {"roi": "10,0,20,30"},  # a plain number is a share 0-1: pixels need px
    ],
)
def test_bad_placement_values_are_refused_with_the_option_name(text: dict[str, str]) -> None:
    with pytest.raises(InvalidOptionError, match=next(iter(text))):
        Options.from_strings(text)


def test_the_cli_places_the_subject_centred_at_80_percent_of_a_512_canvas(tmp_path: Path) -> None:
    source = tmp_path / "wide.jpg"
    source.write_bytes(encode(scene(640, 360, seed=3)[0]))
    out = tmp_path / "out"
    flags = ["--canvas", "512x512", "--scale", "0.8", "--position", "center", "--background", "#ffffff"]
    assert main([str(source), "--out", str(out), "--quiet", *flags]) == EXIT_OK
    assert_centred_at_share(Image.open(out / "wide.png"), 512, 0.8)


def test_a_small_subject_is_enlarged_once_onto_a_larger_canvas() -> None:
    photo = encode(scene(160, 120, seed=2)[0])
    image = Image.open(io.BytesIO(engine.remove(photo, canvas="1000x600", scale=0.9)))
    assert image.size == (1000, 600) and image.mode == "RGBA"
    x0, y0, x1, y1 = alpha_box(image)
    assert abs(max((x1 - x0) / 1000, (y1 - y0) / 600) - 0.9) <= TOLERANCE  # it fits 90 % of the canvas
    assert np.asarray(image)[0, 0, 3] == 0  # padded with transparency


def test_position_puts_the_subjects_centre_at_the_given_share_of_the_canvas() -> None:
    photo = encode(scene(300, 300, seed=0)[0])
    image = Image.open(io.BytesIO(engine.remove(photo, canvas="600x400", scale=0.5, position="25%,60%")))
    x0, y0, x1, y1 = alpha_box(image)
    assert abs((x0 + x1) / 2 / 600 - 0.25) <= TOLERANCE and abs((y0 + y1) / 2 / 400 - 0.6) <= TOLERANCE


def test_scale_original_keeps_the_subjects_pixel_size() -> None:
    photo = encode(scene(320, 240, seed=1)[0])
    plain = alpha_box(Image.open(io.BytesIO(engine.remove(photo))))
    placed = Image.open(io.BytesIO(engine.remove(photo, canvas="500x500")))  # position auto: centred
    x0, y0, x1, y1 = alpha_box(placed)
    assert abs((x1 - x0) - (plain[2] - plain[0])) <= 2 and abs((y1 - y0) - (plain[3] - plain[1])) <= 2
    assert abs((x0 + x1) / 2 - 250) <= 2


def test_the_subject_is_looked_for_only_in_the_roi() -> None:
    whole = Image.open(io.BytesIO(engine.remove(two_discs())))
    assert alpha_box(whole)[2] > 250  # both discs are cut out
    left = Image.open(io.BytesIO(engine.remove(two_discs(), roi="0%,0%,50%,100%")))
    assert left.size == (400, 300) and alpha_box(left)[2] <= 200  # only the left one


def test_crop_with_a_canvas_keeps_the_margin_free() -> None:
    photo = encode(scene(320, 240, seed=1)[0])
    image = Image.open(io.BytesIO(engine.remove(photo, canvas="400x400", scale=1.0, crop=True, crop_margin="40px")))
    x0, y0, x1, y1 = alpha_box(image)
    assert min(x0, y0, 400 - x1, 400 - y1) >= 39 and max(x1 - x0, y1 - y0) >= 318


def test_a_mask_is_placed_too() -> None:
    photo = encode(scene(320, 240, seed=1)[0])
    image = Image.open(io.BytesIO(engine.remove(photo, canvas="256x256", scale=0.5, output="mask")))
    assert image.mode == "L" and image.size == (256, 256)


def test_the_memory_estimate_covers_a_canvas_larger_than_the_input() -> None:
    photo = encode(scene(320, 240, seed=1)[0])
    options = Options.from_strings({"canvas": "3000x3000", "scale": "0.9"})
    header = Image.open(io.BytesIO(photo))
    estimate = working_mb(header, len(photo), options, opencv_jpeg=True)
    tracemalloc.start()  # numpy's and OpenCV's arrays are traced
    try:
        remove_background(photo, options)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak / 2**20 > working_mb(header, len(photo), Options(), opencv_jpeg=True)  # the frame alone is not enough
    assert peak / 2**20 <= estimate


def test_a_canvas_over_the_memory_budget_is_refused_before_decoding() -> None:
    photo = encode(scene(320, 240, seed=1)[0])
    config = replace(settings(), memory_budget_mb=resident_mb() + 200)
    remove_background(photo, Options(canvas=Canvas(2000, 2000)), config)  # 2000x2000 fits
    with pytest.raises(MemoryBudgetError):
        remove_background(photo, Options(canvas=Canvas(10_000, 10_000)), config)


@pytest.mark.parametrize("raw", ["10,0,20,30", "0,0,1200,800", "0 0 1.5 1"])
def test_an_roi_in_plain_numbers_over_1_is_refused_with_how_to_write_pixels(raw: str) -> None:
    """`--roi 0,0,1200,800` (pixels, as one would write a box) said "roi must be 0%-100% (a share
    0-1) or px, got '1200'": true, but not what to type. The message names the whole value and the
    fix."""
    with pytest.raises(InvalidOptionError) as refused:
        Options.from_strings({"roi": raw})
    message = str(refused.value)
    assert repr(raw) in message and "200px" in message and "x1,y1,x2,y2" in message


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"canvas": (800, 600)}, {"canvas": Canvas(800, 600)}),  # (width, height), as PIL's image.size
        ({"canvas": [800, 600]}, {"canvas": Canvas(800, 600)}),  # a list, as read from JSON or YAML
        ({"canvas": np.array([800, 600])}, {"canvas": Canvas(800, 600)}),
        ({"canvas": "800x600"}, {"canvas": Canvas(800, 600)}),  # the CLI's and the API's text
        ({"roi": (10, 20, 300, 400)}, {"roi": Roi((Pixels(10), Pixels(20), Pixels(300), Pixels(400)))}),  # ints: px
        ({"roi": [0.0, 0.1, 0.5, 1.0]}, {"roi": Roi((0.0, 0.1, 0.5, 1.0))}),  # floats: shares, as "0,0.1,0.5,1"
        ({"roi": (0, "10%", 200, "100%")}, {"roi": Roi((Pixels(0), 0.1, Pixels(200), 1.0))}),  # text corners as text
        ({"roi": "10px,20px,300px,400px"}, {"roi": Roi((Pixels(10), Pixels(20), Pixels(300), Pixels(400)))}),
    ],
)
def test_canvas_and_roi_take_pythons_own_forms(given: dict[str, object], expected: dict[str, object]) -> None:
    """`Options(canvas=(800, 600))` and `remove(photo, roi=(10, 20, 300, 400))` were refused (or kept as a
    tuple that broke later): only Canvas, Roi or the CLI's text were read. A pair of whole pixels is a
    canvas; a box of ints is in pixels and of floats in shares of the frame, as `200px` and `0.25` are."""
    options = Options(**given)  # type: ignore[arg-type]
    assert {name: getattr(options, name) for name in expected} == expected
    assert engine.library.options_from(given) == options
    assert Options.from_strings(options.to_strings()) == options


def test_a_canvas_and_an_roi_given_as_tuples_place_the_cut_out() -> None:
    photo = encode(scene(160, 120, seed=2)[0])
    assert Image.open(io.BytesIO(engine.remove(photo, canvas=(300, 200)))).size == (300, 200)
    left = Image.open(io.BytesIO(engine.remove(two_discs(), roi=(0, 0, 200, 300))))  # the left half, in pixels
    assert left.size == (400, 300) and alpha_box(left)[2] <= 200  # only the left disc


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({"canvas": (0, 600)}, "canvas sides must be 1-10000 px, got (0, 600)"),  # as canvas=0x600 is told
        ({"canvas": (20_000, 600)}, "canvas sides must be 1-10000 px"),
        ({"canvas": (800,)}, "canvas must be (width, height) in whole pixels"),
        ({"canvas": (800.5, 600)}, "canvas must be (width, height) in whole pixels"),
        ({"canvas": (True, 600)}, "canvas must be (width, height) in whole pixels"),
        ({"canvas": 800}, "canvas must be (width, height) in whole pixels"),
        ({"canvas": "800,600"}, "canvas must be WIDTHxHEIGHT in pixels"),  # text is read as the CLI reads it
        ({"roi": (10, 20, 300)}, "roi must be (x1, y1, x2, y2)"),
        ({"roi": (0.0, 0.0, 1.5, 1.0)}, "roi must be (x1, y1, x2, y2)"),  # a float is a share 0-1
        ({"roi": (-10, 0, 20, 20)}, "roi must be (x1, y1, x2, y2)"),
        ({"roi": (0, 0, None, 20)}, "roi must be (x1, y1, x2, y2)"),
        ({"roi": (300, 20, 10, 400)}, "roi must have x1 < x2 and y1 < y2, got (300, 20, 10, 400)"),
        ({"roi": "10,0,20,30"}, "roi must be x1,y1,x2,y2"),
    ],
)
def test_bad_python_forms_are_refused_as_their_text_is(given: dict[str, object], said: str) -> None:
    with pytest.raises(InvalidOptionError, match=re.escape(said)):
        Options(**given)  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError, match=re.escape(said)):
        engine.remove(b"not read", **given)
