"""ICC profiles: a PNG only carries a profile of its own colour space. A CMYK JPEG's profile used to
land on an RGBA PNG, a gray one on an RGB PNG, an RGB one on a grayscale mask (libpng: "invalid
ICC profile color space"); where the colour space changes the pixels are converted to sRGB instead."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

import engine
from engine import Options, OutputMode
from tests.icc import adobe_rgb_profile, cmyk_profile, gray_profile, space_of
from tests.synthetic import scene

SRGB = ImageCms.createProfile("sRGB")


def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _cut(data: bytes, **options: object) -> Image.Image:
    image = Image.open(io.BytesIO(engine.remove_background(data, Options(**options)).data))  # type: ignore[arg-type]
    image.load()
    return image


def _profile_matches(image: Image.Image) -> bool:
    """What libpng checks: a profile, when there is one, describes the PNG's own colour space."""
    space = space_of(image.info.get("icc_profile"))
    return space is None or space == ("GRAY" if image.mode in ("L", "LA") else "RGB")


def _subject(rgb: np.ndarray) -> tuple[int, int]:
    return rgb.shape[0] // 2, rgb.shape[1] // 2


def test_a_cmyk_jpegs_colours_are_converted_through_its_profile() -> None:
    rgb = scene(160, 120, seed=1)[0][:, :, ::-1]
    profile = cmyk_profile()
    data = _save(Image.fromarray(np.ascontiguousarray(rgb)).convert("CMYK"), "JPEG", icc_profile=profile, quality=95)
    with Image.open(io.BytesIO(data)) as cmyk:
        expected = np.asarray(ImageCms.profileToProfile(cmyk, io.BytesIO(profile), SRGB, outputMode="RGB"))

    cutout = _cut(data)

    assert cutout.mode == "RGBA" and _profile_matches(cutout)
    y, x = _subject(rgb)
    assert np.abs(np.asarray(cutout)[y, x, :3].astype(int) - expected[y, x]).max() <= 3


@pytest.mark.parametrize("mode", ["L", "I;16"])
def test_a_gray_profile_is_applied_to_the_colour_output_not_copied(mode: str) -> None:
    """Gray 30 in a linear-light profile is sRGB 96 (128 is 188): the profile is honoured, then not needed."""
    gray = np.full((120, 160), 128, np.uint8)
    gray[30:90, 40:120] = 30  # a dark subject on the gray
    image = Image.fromarray(gray) if mode == "L" else Image.fromarray(gray.astype(np.uint16) * 257)
    data = _save(image, "PNG" if mode == "I;16" else "JPEG", icc_profile=gray_profile(1.0))

    cutout = _cut(data, background=(0, 0, 255))

    assert cutout.mode == "RGB" and _profile_matches(cutout)
    y, x = _subject(gray)
    assert np.abs(np.asarray(cutout)[y, x].astype(int) - 96).max() <= 2


def test_an_rgb_profile_stays_on_colour_outputs_and_never_reaches_a_mask() -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = _save(
        Image.fromarray(np.ascontiguousarray(scene(160, 120, seed=2)[0][:, :, ::-1])), "JPEG", icc_profile=profile
    )

    assert _cut(data).info.get("icc_profile") == profile
    mask = _cut(data, output=OutputMode.MASK)
    assert mask.mode == "L" and "icc_profile" not in mask.info


def test_a_profile_that_does_not_match_its_image_or_cannot_be_read_is_dropped() -> None:
    rgb = Image.fromarray(np.ascontiguousarray(scene(160, 120, seed=3)[0][:, :, ::-1]))
    for profile in (cmyk_profile(), gray_profile(2.2), b"not an icc profile at all" * 8):
        assert _profile_matches(_cut(_save(rgb, "PNG", icc_profile=profile)))


def _as_srgb(image: Image.Image) -> np.ndarray:
    """An RGB output's colours as sRGB, through the profile it carries (as a colour-managed viewer shows them)."""
    profile = ImageCms.ImageCmsProfile(io.BytesIO(image.info["icc_profile"]))
    return np.asarray(ImageCms.profileToProfile(image, profile, SRGB, outputMode="RGB"))


@pytest.mark.parametrize("placed", [{}, {"canvas": "240x200"}])
def test_a_background_colour_is_the_srgb_colour_asked_for_on_a_wide_gamut_photo(placed: dict[str, str]) -> None:
    """remove.bg's light blue 81d4fa on an Adobe RGB photo: it was written as Adobe RGB's (129, 212, 250)
    into the Adobe RGB output, which a viewer shows as sRGB (61, 213, 252), a much deeper blue."""
    rgb = Image.fromarray(np.ascontiguousarray(scene(160, 120, seed=2)[0][:, :, ::-1]))
    data = _save(rgb, "PNG", icc_profile=adobe_rgb_profile())

    shown = _as_srgb(Image.open(io.BytesIO(engine.remove(data, background="81d4fa", **placed))))
    white = np.asarray(Image.open(io.BytesIO(engine.remove(data, background="ffffff", **placed))))

    assert np.abs(shown[2, 2].astype(int) - (129, 212, 250)).max() <= 1  # a corner: the background alone
    assert (white[2, 2] == 255).all()  # white stays exactly white
