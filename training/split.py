"""The validation split: photos carved out of the training pool, on which every choice is made.

Checkpoints, blends, input size, loss weights, the teacher and which model ships are chosen on
these photos, never on the dev sets (those are for reporting). The rule is fixed and by name, so
every run and every machine carves the same split:

- video frames (stems `<sequence>_<frame>`, e.g. DAVIS): whole sequences, every `every`-th by
  name, so no frame of a validation sequence is trained on;
- other photos: every `every`-th by name, starting at `offset`.

Labelled folders are scored against their ground truth; unlabelled ones against the teacher.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from modelbuild.paths import DATA

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
_FRAME = re.compile(r"^(?P<sequence>.+)_\d{5}$")


@dataclass(frozen=True)
class Rule:
    """Which photos of one folder are held out: every `every`-th (by name, from `offset`), or
    every `every`-th whole sequence when `by_sequence`."""

    every: int
    offset: int = 0
    by_sequence: bool = False

    def held_out(self, stems: Sequence[str]) -> set[str]:
        if self.by_sequence:
            sequences = sorted({sequence_of(s) for s in stems})
            chosen = set(sequences[self.offset :: self.every])
            return {s for s in stems if sequence_of(s) in chosen}
        return set(sorted(stems)[self.offset :: self.every])


def sequence_of(stem: str) -> str:
    match = _FRAME.match(stem)
    return match["sequence"] if match else stem


# The training pool and its rules. `train` uses offset 5: modelbuild calibrates INT8 on every
# 3rd photo (offset 0) and checks it on the next (offset 1), so validation photos are neither.
POOL: dict[str, Rule] = {
    "train": Rule(every=6, offset=5),
    "extra/davis": Rule(every=5, by_sequence=True),
    "extra/people": Rule(every=8),
    "unlabeled/people": Rule(every=10),
    "unlabeled/objects": Rule(every=10),
}
DEFAULT_RULE = Rule(every=8, offset=3)  # a user's own folder (`--data`)
POOL_FOLDERS = [DATA / name for name in POOL]


def folder_key(folder: Path) -> str:
    """A folder's name in the split and the label cache: its path under the data root
    (`extra/people`), or its own name for a folder elsewhere."""
    try:
        return folder.resolve().relative_to(DATA.resolve()).as_posix()
    except ValueError:
        return folder.name


def images_of(folder: Path) -> list[Path]:
    images = sorted(p for p in (folder / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise FileNotFoundError(f"no images in {folder / 'images'}")
    return images


def validation_stems(folder: Path) -> set[str]:
    """Stems of the folder's photos that belong to the validation split."""
    rule = POOL.get(folder_key(folder), DEFAULT_RULE)
    return rule.held_out([p.stem for p in images_of(folder)])
