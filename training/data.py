"""Training samples: photo, optional ground-truth mask and teacher label, with augmentation.

Augmentation broadens the photos into many scenes: random scale and crop (zooming in), horizontal
flip, colour jitter (brightness, contrast, saturation, hue, sometimes gray), and copy-paste: a
labelled subject cut out by its ground truth and pasted, large or small, onto another photo, the
target being the union of the pasted subject and that photo's own subject.

Close-ups (`CLOSE_UPS`) teach a subject that fills the frame: a window inside the subject's own box,
so that it runs off every edge, labelled by cropping the labels of the whole photo. The teacher saw
the whole subject there, so its label of the window is right where a model given the window alone
keeps only a few salient parts (a cat's eyes and nose).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from engine.decode import decode_opened, open_image, upright_size
from engine.errors import InputError
from engine.model import model_input
from engine.settings import DEFAULT_MAX_MEGAPIXELS
from modelbuild.photos import MEAN, STD, read_photo

from .split import images_of, validation_stems
from .teacher import label_path

__all__ = [
    "AUGMENTS",
    "MASK_SUFFIXES",
    "Augment",
    "Example",
    "batch",
    "check_examples",
    "find_examples",
    "load_example",
    "warn_unmatched_masks",
]


@dataclass(frozen=True)
class Example:
    image: Path
    truth: Path | None  # ground-truth mask (same stem), None for unlabelled photos
    teacher: Path  # cached teacher soft label


def find_examples(folder: Path, labels_dir: Path, part: str = "all") -> list[Example]:
    """`folder/images/*` with `folder/masks/<stem>.*` (a MASK_SUFFIXES suffix) where present (a folder without masks/
    is unlabelled: the teacher's labels alone). `part`: "all", "train" (without the validation
    split) or "validation" (the split alone, `split.validation_stems`)."""
    images = images_of(folder)
    if part != "all":
        held = validation_stems(folder)
        images = [p for p in images if (p.stem in held) == (part == "validation")]
    masks = mask_files(folder / "masks")
    return [Example(image, masks.get(image.stem), label_path(labels_dir, image)) for image in images]


# What a mask is read from (cv2.imread, as 8-bit gray); its photo may be in any format the engine takes.
MASK_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".webp", ".bmp", ".tif", ".tiff"})
MAX_LISTED = 10  # problems named in check_examples' error
TAIL_BYTES = 64  # a photo's last bytes, read to tell a whole file from one cut short
MASK_FORMAT = "a mask is one gray channel (8-bit, 255 = subject)"


def check_examples(examples: Sequence[Example]) -> None:
    """Before any work (teacher, train): every photo reads whole (not cut short) through the
    engine's decoder, as training reads it, and so does every mask (through cv2), which is one gray
    channel the photo's size (both EXIF-turned, as they are read) that training reads as its author
    meant (`_misread`); no two photos of a folder share a name (their mask and teacher label go by
    it). ValueError naming the faults otherwise."""
    problems = _shared_names(examples) + [problem for e in examples if (problem := _fault(e))]
    if problems:
        more = f" (and {len(problems) - MAX_LISTED} more)" if len(problems) > MAX_LISTED else ""
        raise ValueError(f"fix these before training{more}:\n  " + "\n  ".join(problems[:MAX_LISTED]))


def _shared_names(examples: Sequence[Example]) -> list[str]:
    """The photos of one folder that share a stem (`a.jpg`, `a.png`), one line per stem."""
    by_name: dict[tuple[Path, str], list[str]] = {}
    for e in examples:
        by_name.setdefault((e.image.parent, e.image.stem), []).append(e.image.name)
    return [
        f"{folder}: {', '.join(sorted(names))} share the name {stem!r}, which their mask and label go by: rename one"
        for (folder, stem), names in by_name.items()
        if len(names) > 1
    ]


def _fault(example: Example) -> str | None:
    try:
        photo = photo_size(example.image)
    except ValueError as refused:
        return f"{example.image}: not a photo that can be read whole ({refused})"
    if example.truth is None:
        return None
    mask = cv2.imread(str(example.truth), cv2.IMREAD_UNCHANGED)
    if mask is None or not _mask_reads_whole(example.truth):  # (a JPEG cut short reads, with grey rows)
        return f"{example.truth}: not a mask that can be read whole (not an image, or cut short)"
    if mask.ndim == 3 and not all(np.array_equal(mask[..., 0], mask[..., c]) for c in range(1, min(3, mask.shape[2]))):
        return f"{example.truth}: a colour image; {MASK_FORMAT}"
    if (mask.shape[1], mask.shape[0]) != photo:
        return f"{example.truth}: {mask.shape[1]}x{mask.shape[0]}, where its photo is {photo[0]}x{photo[1]}"
    return _misread(example.truth, mask)


def _misread(path: Path, mask: np.ndarray) -> str | None:
    """Why training (`read_gray`: the gray channels, as 8 bits) would read another subject than the
    mask's author meant, or None: the subject in the alpha channel alone, or values too small
    to be a subject (0/1, or a 16-bit mask of 0/255)."""
    gray = mask[..., 0] if mask.ndim == 3 else mask
    if mask.ndim == 3 and mask.shape[2] == 4:
        alpha = mask[..., 3]
        if alpha.min() < np.iinfo(alpha.dtype).max and not np.array_equal(alpha, gray):
            return f"{path}: the subject is in its transparency, which training ignores; {MASK_FORMAT}"
    peak, read = int(gray.max(initial=0)), int(read_gray(path).max(initial=0))
    if peak and read < 128:
        return (
            f"{path}: its largest value, {peak} ({gray.dtype.itemsize * 8}-bit), reads as {read} of 255, no subject; "
            f"{MASK_FORMAT}"
        )
    return None


def photo_size(path: Path) -> tuple[int, int]:
    """(width, height) of a photo as `read_photo` (the engine's decoder) gives it, EXIF orientation
    applied; from its header when it ends as a whole JPEG or PNG does, else decoded whole, so that a
    copy cut short is refused (libjpeg would fill its missing rows with grey, and training would
    learn them). ValueError with the engine's reason when it cannot be read."""
    data = path.read_bytes()
    try:
        header = open_image(data, DEFAULT_MAX_MEGAPIXELS)
        if _ends_whole(data[-TAIL_BYTES:], header.format):
            return upright_size(header)
        decoded = decode_opened(header, data)
    except InputError as refused:
        raise ValueError(str(refused)) from None
    return decoded.width, decoded.height


def _mask_reads_whole(path: Path) -> bool:
    """Whether a mask file is an image that is not cut short (decoded whole unless it ends as a
    whole JPEG or PNG does, as in `photo_size`); its size is cv2's array's."""
    try:
        with Image.open(path) as image:
            if not _ends_whole(_tail(path), image.format):
                image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False
    return True


def _tail(path: Path) -> bytes:
    """The file's last TAIL_BYTES."""
    with path.open("rb") as file:
        file.seek(max(0, path.stat().st_size - TAIL_BYTES))
        return file.read()


def _ends_whole(tail: bytes, image_format: str | None) -> bool:
    """Whether a file whose last bytes are `tail` ends as a whole JPEG (its end-of-image marker) or
    PNG (its IEND chunk) does."""
    tail = tail.rstrip(b"\0")  # some writers pad with zeros
    if image_format in ("JPEG", "MPO"):
        return tail.endswith(b"\xff\xd9")
    return image_format == "PNG" and b"IEND" in tail[-12:]


def mask_files(folder: Path) -> dict[str, Path]:
    """The masks of a masks/ folder by stem, whatever image suffix they were saved with (.png first)."""
    if not folder.is_dir():
        return {}
    found = sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in MASK_SUFFIXES),
        key=lambda p: p.suffix.lower() != ".png",
    )
    masks: dict[str, Path] = {}
    for path in found:
        masks.setdefault(path.stem, path)
    return masks


def warn_unmatched_masks(folders: Sequence[Path]) -> None:
    """Say which masks of the folders match no photo's stem (`s1_mask.png` for `s1.jpg`): their
    photos train on the teacher's labels alone."""
    for folder in folders:
        stems = {p.stem for p in images_of(folder)}
        unmatched = sorted(p.name for stem, p in mask_files(folder / "masks").items() if stem not in stems)
        if unmatched:
            shown = ", ".join(unmatched[:5]) + (f" and {len(unmatched) - 5} more" if len(unmatched) > 5 else "")
            print(
                f"masks of no photo in {folder / 'masks'} (a mask is named as its photo: a.jpg, masks/a.png), "
                f"left out; photos without a mask learn from the teacher alone: {shown}"
            )


@dataclass(frozen=True)
class Augment:
    """Random scale/crop, flip, colour jitter and copy-paste (see the module docstring)."""

    min_area: float = 0.35  # a crop keeps at least this share of the photo
    max_aspect_change: float = 1.33
    jitter: float = 0.25  # brightness, contrast and saturation factors in 1 +- jitter
    hue: float = 8.0  # hue shift in degrees (OpenCV's 0..180 scale), +- this
    gray: float = 0.05  # probability of a grayscale photo
    paste: float = 0.3  # probability of pasting a labelled subject onto the photo
    close_up: float = 0.0  # probability of a close-up (`close_up_box`) instead of the random crop

    @property
    def colours(self) -> bool:
        return bool(self.jitter or self.hue or self.gray)

    def close_up_box(self, rng: np.random.Generator, subject: np.ndarray) -> tuple[int, int, int, int] | None:
        """A window of CLOSE_UP_SHARE of the subject's box (the target >= 128) in each dimension,
        centred anywhere inside the box: the subject fills it and runs off its edges. None when
        there is no subject, or the window would be under CLOSE_UP_MIN_SIDE px."""
        ys, xs = np.nonzero(subject >= 128)
        if len(xs) == 0:
            return None
        bx0, bx1, by0, by1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
        share = rng.uniform(*CLOSE_UP_SHARE)
        w, h = round((bx1 - bx0) * share), round((by1 - by0) * share)
        if min(w, h) < CLOSE_UP_MIN_SIDE:
            return None
        cx, cy = rng.uniform(bx0 + w / 2, bx1 - w / 2), rng.uniform(by0 + h / 2, by1 - h / 2)
        x0, y0 = round(cx - w / 2), round(cy - h / 2)
        return x0, y0, x0 + w, y0 + h

    def crop_box(self, rng: np.random.Generator, height: int, width: int) -> tuple[int, int, int, int]:
        area = rng.uniform(self.min_area, 1.0)
        aspect = np.exp(rng.uniform(-np.log(self.max_aspect_change), np.log(self.max_aspect_change)))
        w = max(1, round(min(width, width * np.sqrt(area * aspect))))
        h = max(1, round(min(height, height * np.sqrt(area / aspect))))
        x0, y0 = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        return x0, y0, x0 + w, y0 + h

    def colour(self, rng: np.random.Generator, bgr: np.ndarray) -> np.ndarray:
        if not self.colours:
            return bgr
        if rng.random() < self.gray:
            return cv2.cvtColor(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        if self.hue:
            hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
            shift = round(rng.uniform(-self.hue, self.hue))
            hsv[:, :, 0] = ((hsv[:, :, 0].astype(np.int16) + shift) % 180).astype(np.uint8)
            bgr = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
        f = bgr.astype(np.float32)
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)[:, :, None]
        saturation, contrast, brightness = (1 + rng.uniform(-self.jitter, self.jitter, 3)).tolist()
        f = gray + (f - gray) * saturation
        f = (f - gray.mean()) * contrast + gray.mean()
        return np.clip(f * brightness, 0, 255).astype(np.uint8)


CLOSE_UP_SHARE = (0.45, 0.85)  # a close-up's side, as a share of the subject's box
CLOSE_UP_MIN_SIDE = 64  # px: smaller subjects get the ordinary crop
# Close-ups of the photos as they are: no random crop, jitter or paste; flips and close-ups only.
CLOSE_UPS = Augment(min_area=1.0, max_aspect_change=1.0, jitter=0.0, hue=0.0, gray=0.0, paste=0.0, close_up=0.3)
AUGMENTS = {"full": Augment(), "no-paste": Augment(paste=0.0), "close-ups": CLOSE_UPS}  # by --augment


def read_gray(path: Path) -> np.ndarray:
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ValueError(f"cannot read mask {path}")
    return mask


def read_example(example: Example, with_teacher: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(photo BGR as the engine decodes it, teacher label, truth or None), all at the photo's size;
    without `with_teacher` (the teacher runs beside the student) the label is left blank."""
    bgr = read_photo(example.image)
    teacher = read_gray(example.teacher) if with_teacher else np.zeros(bgr.shape[:2], np.uint8)
    truth = read_gray(example.truth) if example.truth else None
    if teacher.shape != bgr.shape[:2] or (truth is not None and truth.shape != bgr.shape[:2]):
        raise ValueError(f"{example.image}: mask size differs from the photo's")
    return bgr, teacher, truth


def paste_subject(
    rng: np.random.Generator, bgr: np.ndarray, targets: list[np.ndarray], donor: np.ndarray, donor_mask: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Paste the donor's subject (cut out by its mask, edges feathered by about a pixel) onto
    `bgr` at a random place and scale (15-80 % of the photo's side: small subjects too); every
    target becomes the union with the pasted alpha."""
    ys, xs = np.nonzero(donor_mask >= 128)
    if len(xs) == 0:
        return bgr, targets
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    subject, alpha = donor[y0:y1, x0:x1], donor_mask[y0:y1, x0:x1]
    height, width = bgr.shape[:2]
    scale = rng.uniform(0.15, 0.8) * min(height / subject.shape[0], width / subject.shape[1])
    w, h = max(2, int(subject.shape[1] * scale)), max(2, int(subject.shape[0] * scale))
    subject = cv2.resize(subject, (w, h), interpolation=cv2.INTER_AREA)
    alpha = cv2.GaussianBlur(cv2.resize(alpha, (w, h), interpolation=cv2.INTER_AREA), (3, 3), 0.8)
    px, py = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
    a = alpha.astype(np.float32)[:, :, None] / 255
    region = bgr[py : py + h, px : px + w].astype(np.float32)
    bgr = bgr.copy()
    bgr[py : py + h, px : px + w] = np.clip(subject * a + region * (1 - a) + 0.5, 0, 255).astype(np.uint8)
    out = []
    for target in targets:
        target = target.copy()
        below = target[py : py + h, px : px + w]
        target[py : py + h, px : px + w] = np.maximum(below, alpha)
        out.append(target)
    return bgr, out


def load_example(
    example: Example,
    size: int,
    rng: np.random.Generator | None,
    augment: Augment = Augment(),
    donor: Example | None = None,
    with_teacher: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(input 3xSxS, teacher 1xSxS, truth 1xSxS, has_truth) as float32; no augmentation when rng is
    None. A `donor` (a labelled example) is pasted in with probability `augment.paste`."""
    bgr, teacher, truth = read_example(example, with_teacher)
    labelled = truth is not None
    targets = [teacher, truth if truth is not None else np.zeros_like(teacher)]
    if rng is not None:
        if donor is not None and donor.truth is not None and rng.random() < augment.paste:
            donor_bgr, _, donor_truth = read_example(donor, with_teacher)
            bgr, targets = paste_subject(rng, bgr, targets, donor_bgr, donor_truth)  # type: ignore[arg-type]
        box = None
        if augment.close_up and rng.random() < augment.close_up:  # of the subject as the labels see it
            box = augment.close_up_box(rng, targets[1] if labelled else targets[0])
        x0, y0, x1, y1 = box or augment.crop_box(rng, *bgr.shape[:2])
        layers = [a[y0:y1, x0:x1] for a in (bgr, *targets)]
        if rng.random() < 0.5:
            layers = [a[:, ::-1] for a in layers]
        layers = [np.ascontiguousarray(a) for a in layers]
        bgr, targets = augment.colour(rng, layers[0]), layers[1:]
    tensor = model_input(np.ascontiguousarray(bgr), (size, size), MEAN, STD)[0]
    maps = [
        cv2.resize(np.ascontiguousarray(a), (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)[None] / 255
        for a in targets
    ]
    return tensor, maps[0], maps[1], float(labelled)


def batch(
    examples: Sequence[Example],
    size: int,
    rng: np.random.Generator | None,
    donors: Sequence[Example] = (),
    threads: int = 1,
    with_teacher: bool = True,
    augment: Augment = Augment(),
) -> tuple[np.ndarray, ...]:
    """A batch of `load_example` results; with `rng`, each may get a random donor from `donors`.
    Without augmentation (no `rng`) the photos are read by `threads` threads (the decoders release
    the GIL): a GPU step is shorter than reading a batch one photo after another."""
    items = []
    if rng is None and threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            items = list(pool.map(lambda e: load_example(e, size, None, with_teacher=with_teacher), examples))
    for e in examples if not items else ():
        donor = donors[int(rng.integers(len(donors)))] if rng is not None and donors else None
        items.append(load_example(e, size, rng, augment, donor, with_teacher))
    return tuple(np.stack([item[i] for item in items]).astype(np.float32) for i in range(4))
