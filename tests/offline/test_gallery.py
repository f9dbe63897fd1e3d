"""`make gallery` on two photos, into a temporary folder: every file it writes is there, of the
right kind, and the cut-outs have a real alpha channel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("matplotlib", reason="gallery/requirements.txt is installed by make test")
pytest.importorskip("skimage", reason="gallery/requirements.txt is installed by make test")

from gallery.__main__ import main
from gallery.matting import matting_strip


def test_gallery_writes_strips_edges_cutouts_and_plots(tmp_path: Path):
    assert (
        main(
            [
                "--photos",
                "chelsea,camera",
                "--out",
                str(tmp_path),
                "--no-screenshot",
                "--no-matting",
                "--u2net-home",
                str(tmp_path / "none"),
            ]
        )
        == 0
    )

    for name in ("chelsea", "camera"):
        with Image.open(tmp_path / "gallery" / f"{name}.jpg") as strip:
            assert strip.format == "JPEG" and strip.width > 3 * strip.height  # four tiles side by side
        with Image.open(tmp_path / "gallery" / f"{name}-edge.jpg") as edge:
            assert edge.format == "JPEG" and edge.width > 2 * edge.height
        with Image.open(tmp_path / "gallery" / f"{name}-cutout.png") as cutout:
            assert cutout.mode == "RGBA" and max(cutout.size) == 320
            alpha = np.asarray(cutout.getchannel("A"))
            assert 0.05 < (alpha > 128).mean() < 0.95  # a subject, and background removed around it
    with Image.open(tmp_path / "gallery" / "prep-lora.jpg") as prep:  # two rows: the folder, then prep's output
        assert prep.format == "JPEG" and prep.height > 400
        outputs = np.asarray(prep.convert("L"))[prep.height // 2 :]
        assert (outputs > 250).mean() > 0.3  # the prepared images are on white
    with Image.open(tmp_path / "gallery" / "placement.jpg") as placement:  # the photo and five placements
        assert placement.format == "JPEG" and placement.width > 5 * placement.height
    for plot in ("quality-vs-speed.png", "stages.png"):
        with Image.open(tmp_path / "plots" / plot) as image:
            assert image.format == "PNG" and image.width >= 600
            assert image.info["Source"].startswith("benchmark run 20")  # the run it shows (test_bench_pages)
    licences = (tmp_path / "LICENSES.md").read_text()
    assert "chelsea" in licences and "CC0" in licences
    assert sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file()) < 1_000_000


def test_matting_strip_shows_photo_truth_ours_twice(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "alphas").mkdir()
    truth = np.zeros((120, 160), np.uint8)
    truth[30:90, 40:120] = 255
    photo = np.where(truth[:, :, None] > 0, np.uint8([200, 60, 40]), np.uint8([40, 90, 200]))
    Image.fromarray(photo).save(tmp_path / "images" / "a.png")
    Image.fromarray(truth).save(tmp_path / "alphas" / "a.png")

    strip = matting_strip("a", tmp_path / "no-rembg", tmp_path)

    # photo, true alpha, ours, ours with soft edges: four tiles of 160 x 120 shown 200 px high
    assert strip.height == 218 and strip.width == 4 * round(160 * 200 / 120) + 3 * 4
