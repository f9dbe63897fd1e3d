"""The validation split: photos carved out of the training pool, on which every choice is made.

Checkpoints, blends, input size, loss weights, the teacher and which model ships are chosen on
these photos, never on the dev sets (those are for reporting). The rule is fixed and by name, so
every run and every machine carves the same split:

- video frames (stems `<sequence>_<frame>`, e.g. DAVIS): whole sequences, every `every`-th by
  name, so no frame of a validation sequence is trained on;
- other photos: every `every`-th by name, starting at `offset`;
- a user's own folder: the photos whose name's hash falls in one of `every` buckets, so adding
  photos never moves one that was held out into training (a folder of 4 photos or more where the
  hash picks none holds out the photo of lowest hash; a smaller one holds out none);
- held-out domains: every photo whose stem starts with one of a folder's `domains` prefixes, so a
  whole kind of photo is never trained on. Scored as its own group (`domain_group`), it shows a
  loss on photos unlike the training data that an in-domain split cannot see; `validate.ranking`
  weighs these groups first.

Labelled folders are scored against their ground truth; unlabelled ones against the teacher.
A folder may name its validation photos itself, one stem a line in `validation.txt` (a GPU pack
does, so that a part of a folder keeps the whole folder's split: training/pack.py).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.decode import INPUT_SUFFIXES, UNREADABLE_SUFFIXES
from modelbuild.paths import DATA

# Photos: every input the engine takes (HEIC and AVIF too), read by its decoder (modelbuild.photos.
# read_photo); those of the image files it does not read (raw, Photoshop) are named, not trained on.
PHOTO_SUFFIXES = frozenset(INPUT_SUFFIXES)
LEFT_OUT_SUFFIXES = frozenset(UNREADABLE_SUFFIXES)
SMALLEST_SPLIT = 4  # a hashed folder of fewer photos holds none out (trains on them all)
VALIDATION_LIST = "validation.txt"  # a folder's own list of validation stems, where it has one
_FRAME = re.compile(r"^(?P<sequence>.+)_\d{5}$")


@dataclass(frozen=True)
class Rule:
    """Which photos of one folder are held out: every `every`-th (by name, from `offset`), every
    `every`-th whole sequence when `by_sequence`, or those whose name hashes to bucket `offset` of
    `every` when `hashed`."""

    every: int
    offset: int = 0
    by_sequence: bool = False
    hashed: bool = False
    domains: tuple[str, ...] = ()  # stem prefixes of whole domains held out (never trained on)

    def held_out(self, stems: Sequence[str]) -> set[str]:
        domain = self.domain_stems(stems)
        rest = [s for s in stems if s not in domain]
        if self.by_sequence:
            sequences = sorted({sequence_of(s) for s in rest})
            chosen = set(sequences[self.offset :: self.every])
            return domain | {s for s in rest if sequence_of(s) in chosen}
        if self.hashed:
            chosen = {s for s in rest if name_hash(s) % self.every == self.offset}
            if not chosen and len(rest) >= SMALLEST_SPLIT:  # a folder too small for the hash to pick one
                chosen = {min(rest, key=name_hash)}
            return domain | chosen
        return domain | set(sorted(rest)[self.offset :: self.every])

    def domain_stems(self, stems: Sequence[str]) -> set[str]:
        """The stems of the held-out domains."""
        return {s for s in stems if s.startswith(self.domains)} if self.domains else set()


def name_hash(stem: str) -> int:
    """A stem's place in the hashed split: the same on every machine and in every folder."""
    return int.from_bytes(hashlib.sha256(stem.encode("utf-8")).digest()[:8], "big")


def sequence_of(stem: str) -> str:
    match = _FRAME.match(stem)
    return match["sequence"] if match else stem


# The training pool and its rules. `train` uses offset 5: modelbuild calibrates INT8 on every
# 3rd photo (offset 0) and checks it on the next (offset 1), so validation photos are neither.
# unlabeled/objects holds one photo per ImageNet class, named by WordNet synset; synsets from n06 on
# are food, plants, fungi, landscapes and a few people (85 photos): no animal, no artefact. That
# domain is held out whole: extra/davis already holds out whole video sequences, but every other
# folder's held-out photos look like its training photos.
OBJECT_DOMAINS = tuple(f"n{group:02d}" for group in range(6, 16))
POOL: dict[str, Rule] = {
    "train": Rule(every=6, offset=5),
    "extra/davis": Rule(every=5, by_sequence=True),
    "extra/people": Rule(every=8),
    "unlabeled/people": Rule(every=10),
    "unlabeled/objects": Rule(every=10, domains=OBJECT_DOMAINS),
}
DEFAULT_RULE = Rule(every=8, hashed=True)  # a user's own folder (`--data`): catalogues grow
POOL_FOLDERS = [DATA / name for name in POOL]


def is_outside_data(folder: Path) -> bool:
    """Whether a folder lies outside the data root (a user's own catalogue, say)."""
    return not folder.resolve().is_relative_to(DATA.resolve())


def folder_key(folder: Path) -> str:
    """A folder's name in the split and the label cache: its path under the data root
    (`extra/people`), or its own name for a folder elsewhere."""
    return folder.name if is_outside_data(folder) else folder.resolve().relative_to(DATA.resolve()).as_posix()


def warn_left_out(folders: Sequence[Path]) -> None:
    """Say which image files of the folders training leaves out: those the engine does not read
    either (JPEG XL and 2000, camera raw, Photoshop, SVG); convert them to train on them."""
    for folder in folders:
        left = sorted(p.name for p in (folder / "images").iterdir() if p.suffix.lower() in LEFT_OUT_SUFFIXES)
        if left:
            shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
            print(f"left out of training, a format the engine does not read (convert to JPEG or PNG): {shown}")


def images_of(folder: Path) -> list[Path]:
    images = sorted(p for p in (folder / "images").iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    if not images:
        raise FileNotFoundError(f"no images in {folder / 'images'}")
    return images


def validation_stems(folder: Path) -> set[str]:
    """Stems of the folder's photos that belong to the validation split (held-out domains included):
    those its `validation.txt` lists, where it has one, else those of its rule."""
    if (folder / VALIDATION_LIST).is_file():
        return set((folder / VALIDATION_LIST).read_text().split())
    rule = POOL.get(folder_key(folder), DEFAULT_RULE)
    return rule.held_out([p.stem for p in images_of(folder)])


def domain_stems(folder: Path) -> set[str]:
    """Stems of the folder's photos in its held-out domains (a part of `validation_stems`)."""
    rule = POOL.get(folder_key(folder), DEFAULT_RULE)
    return rule.domain_stems([p.stem for p in images_of(folder)])


def domain_group(key: str) -> str:
    """The validation group of a folder's held-out domains."""
    return f"{key} (held-out domains)"


def held_out_domains() -> set[str]:
    """The validation groups that are whole held-out domains."""
    return {domain_group(key) for key, rule in POOL.items() if rule.domains}
