"""`bgremove prep SRC --out DST`: a kohya-style folder made ready for training, captions beside their images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import EXIT_OK, EXIT_USAGE, main
from engine.prep import REPORT_NAME, SUMMARY_NAME
from tests.synthetic import encode, scene

PLACEMENT = ["--canvas", "256x256", "--scale", "0.8", "--background", "#ffffff"]


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    """10_cat/ with captions (.txt; .caption and .json), 5_dog/sub/ without, an empty and a tiny photo."""
    src = tmp_path / "src"
    (src / "10_cat").mkdir(parents=True)
    (src / "5_dog" / "sub").mkdir(parents=True)
    (src / "10_cat" / "a.jpg").write_bytes(encode(scene(200, 150, seed=0)[0]))
    (src / "10_cat" / "a.txt").write_text("a cat, sitting")
    (src / "10_cat" / "b.png").write_bytes(encode(scene(160, 200, seed=1)[0], ".png"))
    (src / "10_cat" / "b.caption").write_text("a cat, standing")
    (src / "10_cat" / "b.json").write_text('{"source": "b"}')
    (src / "5_dog" / "sub" / "c.jpg").write_bytes(encode(scene(180, 140, seed=2)[0]))
    (src / "10_cat" / "blank.png").write_bytes(encode(np.full((150, 200, 3), 128, np.uint8), ".png"))
    (src / "10_cat" / "blank.txt").write_text("nothing here")
    (src / "5_dog" / "tiny.jpg").write_bytes(encode(scene(48, 40, seed=3)[0]))
    (src / "5_dog" / "tiny.txt").write_text("too small to train on")
    return src


def test_prep_writes_each_output_with_its_captions_under_the_same_path(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["prep", str(dataset), "--out", str(out), "--min-size", "64", "--quiet", *PLACEMENT]) == EXIT_OK

    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.parent != out)
    assert written == [
        "10_cat/a.png", "10_cat/a.txt", "10_cat/b.caption", "10_cat/b.json", "10_cat/b.png", "5_dog/sub/c.png",
    ]  # fmt: skip
    assert (out / "10_cat" / "a.txt").read_text() == "a cat, sitting"
    for image in out.rglob("*.png"):
        assert Image.open(image).size == (256, 256)
    summary = capsys.readouterr().out
    assert "NO SUBJECT" in summary and "blank.png" in summary
    assert "tiny.jpg: too_small: 48x40" in summary
    assert "5 inputs: 3 written, 1 skipped" in summary
    assert (out / SUMMARY_NAME).read_text().strip() == summary.strip()
    records = [json.loads(line) for line in (out / REPORT_NAME).read_text().splitlines()]
    assert len(records) == 5
    assert next(r for r in records if r["input"].endswith("a.jpg"))["sidecars"] == [str(out / "10_cat" / "a.txt")]
    tiny = next(r for r in records if r["input"].endswith("tiny.jpg"))
    assert tiny["written"] is False and not Path(tiny["output"]).exists()  # said of a cut-out never made


def test_prep_defaults_to_a_1024_square_and_takes_the_clis_flags(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    photo = dataset / "5_dog" / "sub" / "c.jpg"
    assert main(["prep", str(photo), "--out", str(out), "--quiet", "--format", "webp"]) == EXIT_OK
    assert Image.open(out / "c.webp").size == (1024, 1024)


def test_prep_refuses_watch_and_stdin(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["prep", "-", "--out", str(tmp_path / "out")])
    assert exited.value.code == EXIT_USAGE
    with pytest.raises(SystemExit) as exited:
        main(["prep", str(dataset), "--out", str(tmp_path / "out"), "--watch", str(dataset)])
    assert exited.value.code == EXIT_USAGE


def test_prep_help_lists_only_the_flags_prep_takes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["prep", "--help"])
    assert exited.value.code == EXIT_OK
    shown = capsys.readouterr().out
    assert "--min-size" in shown and "--canvas" in shown and "--review" in shown
    assert "--watch" not in shown and "--settle" not in shown and "--interval" not in shown
    assert "- reads stdin" not in shown and "- writes stdout" not in shown


@pytest.mark.parametrize("sheet", ["sheet.html", "sheet.jpg"])
def test_the_review_sheet_shows_the_flagged_cut_outs_beside_their_originals(
    dataset: Path, tmp_path: Path, sheet: str
) -> None:
    out, review = tmp_path / "out", tmp_path / sheet
    assert main(["prep", str(dataset), "--out", str(out), "--quiet", "--review", str(review), *PLACEMENT]) == EXIT_OK
    if sheet.endswith(".html"):
        page = review.read_text()
        assert page.index("blank.png: no_subject") < page.index("a.jpg: no flag")  # flagged first
        assert page.count("<figure>") == 5 and page.count('src="data:image/jpeg;base64,') == 10  # each pair
    else:
        image = Image.open(review)
        assert image.format == "JPEG" and image.width == 3 * 2 * 256 and image.height == 2 * (256 + 36)


def test_a_rerun_with_skip_existing_brings_the_edited_captions_of_the_images_it_leaves(
    dataset: Path, tmp_path: Path
) -> None:
    """Captions fixed after a first prep, then `prep --skip-existing` to keep the cut-outs: the set
    kept the old captions (copied only beside cut-outs written in that run), and trained on them."""
    out, photo = tmp_path / "out", dataset / "5_dog" / "sub" / "c.jpg"
    assert main(["prep", str(dataset), "--out", str(out), "--min-size", "64", "-q", *PLACEMENT]) == EXIT_OK
    (dataset / "10_cat" / "a.txt").write_text("a tabby cat, sitting")
    photo.with_suffix(".txt").write_text("a dog")  # a caption added since
    again = ["prep", str(dataset), "--out", str(out), "--min-size", "64", "-q", "--skip-existing", *PLACEMENT]
    assert main(again) == EXIT_OK
    assert (out / "10_cat" / "a.txt").read_text() == "a tabby cat, sitting"
    assert (out / "5_dog" / "sub" / "c.txt").read_text() == "a dog"
    assert not (out / "5_dog" / "tiny.txt").exists()  # too small: still left out, captions too
    records = [json.loads(line) for line in (out / REPORT_NAME).read_text().splitlines()]
    assert next(r for r in records if r["input"].endswith("a.jpg"))["sidecars"] == [str(out / "10_cat" / "a.txt")]


def test_a_rerun_with_skip_existing_and_a_higher_min_size_leaves_out_the_smaller_images(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A first prep, then `prep --skip-existing --min-size 155` to drop the small photos: the cut-outs
    kept by --skip-existing were never measured, so the small ones stayed in the set, captions too."""
    out = tmp_path / "out"
    assert main(["prep", str(dataset), "--out", str(out), "-q", *PLACEMENT]) == EXIT_OK
    assert (out / "10_cat" / "a.png").exists()
    capsys.readouterr()
    again = ["prep", str(dataset), "--out", str(out), "--min-size", "155", "-q", "--skip-existing", *PLACEMENT]
    assert main(again) == EXIT_OK
    summary = capsys.readouterr().out
    assert "a.jpg: too_small: 200x150" in summary and "c.jpg: too_small: 180x140" in summary
    records = {Path(r["input"]).name: r for r in map(json.loads, (out / REPORT_NAME).read_text().splitlines())}
    assert records["a.jpg"]["written"] is False and "sidecars" not in records["a.jpg"]
    assert records["b.png"]["skipped"] is True and "written" not in records["b.png"]  # kept: 160x200 is not under 155


def test_a_rerun_with_a_higher_min_size_takes_the_smaller_images_out_of_the_set(dataset: Path, tmp_path: Path) -> None:
    """A first prep, then the same with --min-size 155 into the same folder: the report said a.jpg was
    not written, but its cut-out and caption from the first run stayed in the set and were trained on."""
    out = tmp_path / "out"
    assert main(["prep", str(dataset), "--out", str(out), "-q", *PLACEMENT]) == EXIT_OK
    assert (out / "10_cat" / "a.png").exists() and (out / "10_cat" / "a.txt").exists()
    (out / "10_cat" / "notes.md").write_text("mine")  # not prep's: left alone
    assert main(["prep", str(dataset), "--out", str(out), "--min-size", "155", "-q", *PLACEMENT]) == EXIT_OK
    assert not (out / "10_cat" / "a.png").exists() and not (out / "10_cat" / "a.txt").exists()
    assert not (out / "5_dog" / "sub" / "c.png").exists()
    assert (out / "10_cat" / "b.png").exists() and (out / "10_cat" / "b.caption").exists()
    assert (out / "10_cat" / "notes.md").read_text() == "mine"
    records = {Path(r["input"]).name: r for r in map(json.loads, (out / REPORT_NAME).read_text().splitlines())}
    assert records["a.jpg"]["removed"] == [str(out / "10_cat" / "a.png"), str(out / "10_cat" / "a.txt")]
