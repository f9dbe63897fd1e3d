"""Fine-tuning reads a catalogue's photos as the engine reads them at inference.

Training decoded photos with cv2.imread while the engine decodes uploads with engine/decode.py: an
iPhone catalogue's HEIC photos (and AVIF, GIF) were left out, and a CMYK JPEG or a photo with a gray
profile trained in other colours than the model is then given. Every reader of a training,
validation, teacher or calibration photo now takes the engine's pixels.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import training.data
import training.teacher
from engine.decode import decode_image
from engine.model import model_input
from engine.settings import DEFAULT_MAX_MEGAPIXELS
from modelbuild.photos import MEAN, STD, photo_tensor
from modelbuild.teachers import Member, Teacher
from tests.icc import cmyk_profile, gray_profile
from tests.synthetic import scene
from training.data import Example, check_examples, find_examples, read_example
from training.split import images_of, warn_left_out
from training.validate import close_up_group

DATA = Path(__file__).resolve().parents[1] / "data"  # rotated-6.heic / .avif: red over blue, EXIF 6


FORMATS = {".jpg": "JPEG", ".png": "PNG", ".gif": "GIF", ".webp": "WEBP"}


def _save(image: Image.Image, path: Path, **kwargs: object) -> None:
    buffer = io.BytesIO()
    image.save(buffer, FORMATS[path.suffix], **kwargs)
    path.write_bytes(buffer.getvalue())


def _top_half(width: int, height: int) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    mask[: height // 2] = 255
    return mask


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's catalogue in every format the engine takes, with the modes where cv2 and the engine
    part ways; the turned photos' masks are drawn upright, as their author sees the photo."""
    folder = tmp_path_factory.mktemp("catalogue")
    images, masks = folder / "images", folder / "masks"
    images.mkdir()
    masks.mkdir()
    # A phone's photos: stored 48x32 with EXIF orientation 6, upright 32x48, red over blue.
    shutil.copyfile(DATA / "rotated-6.heic", images / "iphone.heic")
    shutil.copyfile(DATA / "rotated-6.avif", images / "pixel.avif")
    for stem in ("iphone", "pixel"):
        cv2.imwrite(str(masks / f"{stem}.png"), _top_half(32, 48))  # the red half is the subject
    # A camera JPEG stored on its side (EXIF 6): upright 160x240, white over dark.
    upright = np.full((240, 160, 3), 40, np.uint8)
    upright[:120] = 230
    exif = Image.Exif()
    exif[0x0112] = 6  # turn 90° clockwise to show: stored as the upright photo turned anticlockwise
    _save(Image.fromarray(np.rot90(upright).copy()), images / "camera.jpg", exif=exif.tobytes(), quality=95)
    cv2.imwrite(str(masks / "camera.png"), _top_half(160, 240))
    # A print shop's CMYK JPEG with its profile, and a scan with a linear gray profile.
    bgr, subject = scene(480, 400, seed=4)
    rgb = Image.fromarray(bgr[:, :, ::-1].copy())
    _save(rgb.convert("CMYK"), images / "print.jpg", icc_profile=cmyk_profile(), quality=95)
    cv2.imwrite(str(masks / "print.png"), subject)
    _save(rgb.convert("L"), images / "scan.jpg", icc_profile=gray_profile(1.0), quality=95)
    # 16-bit gray PNG, palette PNG with a transparent entry, a GIF, a WebP.
    gray16 = (np.tile(np.linspace(0, 65535, 96), (64, 1)) + 128).clip(0, 65535).astype(np.uint16)
    cv2.imwrite(str(images / "deep.png"), gray16)
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    _save(palette, images / "palette.png", transparency=palette.getpixel((0, 0)))
    _save(rgb, images / "loop.gif")
    _save(rgb, images / "web.webp", quality=90)
    (images / "raw.dng").write_bytes(b"II*\x00 a camera raw file")  # neither the engine nor training reads it
    return folder


ENGINE_READS = ["camera.jpg", "deep.png", "iphone.heic", "loop.gif", "palette.png", "pixel.avif", "print.jpg",
                "scan.jpg", "web.webp"]  # fmt: skip


def _engine(path: Path) -> np.ndarray:
    return decode_image(path.read_bytes(), DEFAULT_MAX_MEGAPIXELS).bgr


def test_every_photo_the_engine_takes_is_a_training_photo(catalogue: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An iPhone catalogue (HEIC) trained on nothing of its own: its photos were left out."""
    assert [p.name for p in images_of(catalogue)] == ENGINE_READS
    examples = find_examples(catalogue, catalogue / "labels")
    assert len(examples) == 9 and sum(e.truth is not None for e in examples) == 4
    check_examples(examples)  # every photo reads whole and every mask fits its photo, turned or not
    warn_left_out([catalogue])
    said = capsys.readouterr().out
    assert "raw.dng" in said and "heic" not in said and "avif" not in said


@pytest.mark.parametrize("name", ENGINE_READS)
def test_training_reads_the_pixels_the_engine_gives_the_model(catalogue: Path, name: str) -> None:
    example = next(e for e in find_examples(catalogue, catalogue / "labels") if e.image.name == name)
    bgr, _, truth = read_example(example, with_teacher=False)
    np.testing.assert_array_equal(bgr, _engine(example.image))
    assert truth is None or truth.shape == bgr.shape[:2]
    np.testing.assert_array_equal(photo_tensor(example.image, 64), model_input(bgr, (64, 64), MEAN, STD))


@pytest.mark.parametrize("name", ["print.jpg", "scan.jpg", "deep.png"])
def test_cv2_read_these_in_other_colours_than_the_engine(catalogue: Path, name: str) -> None:
    """Why training may not read photos itself: a CMYK or gray profile is applied by the engine
    alone, and 16-bit samples are rounded by it, truncated by cv2."""
    photo = catalogue / "images" / name
    assert not np.array_equal(cv2.imread(str(photo), cv2.IMREAD_COLOR), _engine(photo))


@pytest.mark.parametrize("name", ["camera.jpg", "iphone.heic", "pixel.avif"])
def test_a_photo_turned_by_exif_pairs_with_its_upright_mask(catalogue: Path, name: str) -> None:
    """A mask PNG carries no orientation: it is drawn on the photo as shown, which both the engine
    and training turn by its EXIF tag. The subject half of the mask lies on the photo's subject."""
    example = next(e for e in find_examples(catalogue, catalogue / "labels") if e.image.name == name)
    bgr, _, truth = read_example(example, with_teacher=False)
    assert truth is not None and bgr.shape[:2] == truth.shape == ((240, 160) if name == "camera.jpg" else (48, 32))
    inside, outside = bgr[truth == 255].astype(int), bgr[truth == 0].astype(int)
    if name == "camera.jpg":
        assert inside.mean() > 200 and outside.mean() < 70, "white over dark, as the mask says"
    else:
        assert inside[:, 2].mean() > 200 and inside[:, 0].mean() < 60, "the red half is the mask's subject"
        assert outside[:, 0].mean() > 200 and outside[:, 2].mean() < 60


@pytest.mark.parametrize(("name", "stored"), [("camera.jpg", (240, 160)), ("pixel.avif", (48, 32))])
def test_a_mask_drawn_on_the_photo_as_stored_not_as_shown_is_refused(
    catalogue: Path, tmp_path: Path, name: str, stored: tuple[int, int]
) -> None:
    """The check measures a photo as training reads it, turned by EXIF: a mask of the unturned
    photo's size is named before any work (it would stop training at its first step)."""
    folder = tmp_path / "set"
    shutil.copytree(catalogue / "images", folder / "images", ignore=shutil.ignore_patterns("*.dng"))
    (folder / "masks").mkdir()
    cv2.imwrite(str(folder / "masks" / f"{Path(name).stem}.png"), _top_half(*stored))  # width, height as stored
    with pytest.raises(ValueError, match=rf"{Path(name).stem}\.png: {stored[0]}x{stored[1]}, where its photo is"):
        check_examples(find_examples(folder, folder / "labels"))


def test_a_photo_over_the_engine_s_megapixel_limit_is_named_before_any_work(
    catalogue: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine refuses it at inference; training names it with the engine's reason."""
    monkeypatch.setattr(training.data, "DEFAULT_MAX_MEGAPIXELS", 0.1)  # the 64 MP limit, scaled to these photos
    with pytest.raises(ValueError, match=r"print\.jpg: .*480x400 \(0\.2 MP\), over the 0\.1 MP limit") as refused:
        check_examples(find_examples(catalogue, catalogue / "labels"))
    assert "camera.jpg" not in str(refused.value)


def test_the_teacher_labels_the_engine_s_pixels_at_their_upright_size(
    catalogue: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[np.ndarray] = []

    class Recording:
        def __init__(self, *_: object) -> None:
            pass

        def label(self, bgr: np.ndarray) -> np.ndarray:
            seen.append(bgr)
            return np.zeros(bgr.shape[:2], np.uint8)

    monkeypatch.setattr(training.teacher, "Labeller", Recording)
    photos = [catalogue / "images" / name for name in ("iphone.heic", "print.jpg", "scan.jpg")]
    teacher = Teacher((Member("u2netp", tmp_path / "unused.onnx", 320),))
    assert training.teacher.make_labels(photos, teacher, tmp_path / "labels") == 3
    for photo, bgr in zip(photos, seen, strict=True):
        np.testing.assert_array_equal(bgr, _engine(photo))
        label = cv2.imread(str(training.teacher.label_path(tmp_path / "labels", photo)), cv2.IMREAD_GRAYSCALE)
        assert label.shape == bgr.shape[:2]


def test_validation_close_ups_are_cut_from_the_engine_s_pixels(catalogue: Path, tmp_path: Path) -> None:
    """A close-up of the CMYK photo is a window of the engine's pixels (found where it was cut)."""
    example = next(e for e in find_examples(catalogue, catalogue / "labels") if e.image.name == "print.jpg")
    [close_up] = close_up_group({"catalogue": [Example(example.image, example.truth, tmp_path / "none.png")]}, tmp_path)
    window = cv2.imread(str(close_up.image), cv2.IMREAD_COLOR)
    reference = cv2.imread(str(close_up.truth), cv2.IMREAD_GRAYSCALE)
    photo = _engine(example.image)
    _, _, (x, y), _ = cv2.minMaxLoc(cv2.matchTemplate(photo, window, cv2.TM_SQDIFF))
    np.testing.assert_array_equal(window, photo[y : y + window.shape[0], x : x + window.shape[1]])
    assert reference.shape == window.shape[:2]


class _Blank:
    """A labeller that costs nothing: a blank label of the photo's size."""

    def __init__(self, *_: object) -> None:
        pass

    def label(self, bgr: np.ndarray) -> np.ndarray:
        return np.zeros(bgr.shape[:2], np.uint8)


@pytest.fixture
def labelled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Teacher, Path]:
    """One photo (catalogue/images/a.png), its teacher and label folder, labelled a minute ago."""
    monkeypatch.setattr(training.teacher, "Labeller", _Blank)
    images = tmp_path / "catalogue" / "images"
    images.mkdir(parents=True)
    photo = images / "a.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(photo)
    teacher, labels = Teacher((Member("u2netp", tmp_path / "unused.onnx", 320),)), tmp_path / "labels"
    assert training.teacher.make_labels([photo], teacher, labels) == 1
    _made_a_minute_ago(training.teacher.label_path(labels, photo))
    return photo, teacher, labels


def _made_a_minute_ago(path: Path) -> float:
    made = path.stat().st_mtime - 60
    os.utime(path, (made, made))
    return made


def _copied_in(source: Path, photo: Path) -> None:
    """`source` put in place of `photo` by a fresh copy (`cp`, a re-download): a new mtime and ctime."""
    copy = photo.with_name("copying")
    shutil.copyfile(source, copy)
    os.replace(copy, photo)


def test_a_photo_replaced_by_an_older_file_is_labelled_again(labelled: tuple[Path, Teacher, Path]) -> None:
    """docs/training.md: 'A photo replaced under its name is labelled again.' A label counted as
    fresh when it was newer than its photo's mtime, so a photo replaced by `mv`, `cp -p` or `rsync -a`
    with a file made before the label (an older mtime) kept the other photo's label and trained on it."""
    photo, teacher, labels = labelled
    other = photo.parent.parent / "other.png"
    Image.new("RGB", (40, 30), (10, 10, 200)).save(other)
    made = training.teacher.label_path(labels, photo).stat().st_mtime
    os.utime(other, (made - 3600, made - 3600))  # a photo an hour older than the label
    os.replace(other, photo)
    assert training.teacher.make_labels([photo], teacher, labels) == 1
    assert training.teacher.make_labels([photo], teacher, labels) == 0  # then cached


def test_a_photo_copied_again_with_the_same_bytes_keeps_its_label(
    labelled: tuple[Path, Teacher, Path], tmp_path: Path
) -> None:
    """The data folders are copied afresh (each session's ../shared, a catalogue downloaded again,
    `cp -r`): every photo newer than its label, so the whole pool was labelled again, for hours."""
    photo, teacher, labels = labelled
    shutil.copyfile(photo, tmp_path / "same.png")
    _copied_in(tmp_path / "same.png", photo)
    label = training.teacher.label_path(labels, photo)
    assert label.stat().st_mtime < photo.stat().st_ctime
    assert training.teacher.make_labels([photo], teacher, labels) == 0
    assert label.stat().st_mtime >= photo.stat().st_ctime  # touched: the next run need not read the photo


def test_a_changed_photo_of_the_same_name_is_labelled_again(
    labelled: tuple[Path, Teacher, Path], tmp_path: Path
) -> None:
    photo, teacher, labels = labelled
    first = tmp_path / "first.png"
    shutil.copyfile(photo, first)
    Image.new("RGB", (40, 30), (10, 10, 200)).save(tmp_path / "changed.png")
    _copied_in(tmp_path / "changed.png", photo)
    assert training.teacher.make_labels([photo], teacher, labels) == 1
    _made_a_minute_ago(training.teacher.label_path(labels, photo))
    _copied_in(first, photo)  # and back: the label is of the changed photo now
    assert training.teacher.make_labels([photo], teacher, labels) == 1


def test_a_label_older_than_its_photo_with_no_digest_is_labelled_again(
    labelled: tuple[Path, Teacher, Path], tmp_path: Path
) -> None:
    """A label cached before digests were recorded, or one whose digest a crash did not write."""
    photo, teacher, labels = labelled
    label = training.teacher.label_path(labels, photo)
    recorded = [p for p in label.parent.iterdir() if p not in (label, label.parent / training.teacher.SOURCE_MARKER)]
    assert len(recorded) == 1  # the digest, beside its label
    recorded[0].unlink()
    shutil.copyfile(photo, tmp_path / "same.png")
    _copied_in(tmp_path / "same.png", photo)
    assert training.teacher.make_labels([photo], teacher, labels) == 1
    assert training.teacher.make_labels([photo], teacher, labels) == 0


def test_a_stop_between_label_and_digest_never_keeps_a_wrong_label(
    labelled: tuple[Path, Teacher, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run stopped after a photo's new label was written but before its digest: the old photo's
    digest, left beside the new label, would take the old photo back for the label's."""
    photo, teacher, labels = labelled
    first = tmp_path / "first.png"
    shutil.copyfile(photo, first)
    Image.new("RGB", (40, 30), (10, 10, 200)).save(tmp_path / "changed.png")
    _copied_in(tmp_path / "changed.png", photo)

    def stopped(*_: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(training.teacher, "_record_digest", stopped)
        with pytest.raises(KeyboardInterrupt):
            training.teacher.make_labels([photo], teacher, labels)
    _made_a_minute_ago(training.teacher.label_path(labels, photo))
    _copied_in(first, photo)
    assert training.teacher.make_labels([photo], teacher, labels) == 1
