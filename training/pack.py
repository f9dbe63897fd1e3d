"""The GPU pack: a training run's inputs, small enough to travel to a machine that has neither the
data folders nor U²-Net's 176 MB weights, and the way its result travels back.

`pack` (here, after `teacher`) writes into one folder:
- `init.pt`: the run's initial weights (`train.initial_state`: for a pruned student, U²-Net pruned
  to the run's width) in float16;
- `shared/data/<folder>/images/*.jpg` (+ `masks/*.png`): each photo as the model sees it, i.e.
  `engine.model.model_input` at the run's input size (a square; JPEG), masks area-resized to it;
- `labels/<teacher>/<folder>/*.png`: the teacher's labels, area-resized to the same square;
- `<folder>/validation.txt`: the folder's validation photos as the full folder's rule splits them
  (`split.validation_stems` reads it), so the packed run validates on the same photos.
Photos go in by priority until `budget_mb` is reached: every validation photo, then the labelled
training photos, then the unlabelled ones, taken evenly over each folder. Training and validation
there use the squares (validation at the model's size: a proxy that chooses the checkpoint).

`send_back` (there) writes the chosen weights in float16, split in two files (a machine returns
files of at most 16 MiB), with the run's logs; `receive` (here) puts them back into the run as a
kept `step-N.pt`, from which `export`, `quantize` and `evaluate` go on as usual.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from engine.model import model_input
from modelbuild.photos import MEAN, STD

from .data import Example, find_examples, read_example
from .split import VALIDATION_LIST, folder_key, validation_stems

if TYPE_CHECKING:
    from .pipeline import Job

JPEG_QUALITY = 85  # 320x320: about 26 KB a photo
RUN_FILES = ("log.jsonl", "val.jsonl", "data.json")


def model_square(bgr: np.ndarray, size: int) -> np.ndarray:
    """The photo exactly as `model_input` feeds it (resampled to size x size, scaled by its max),
    back as 8-bit BGR: packed photos need no second resize."""
    rgb = model_input(bgr, (size, size), MEAN, STD)[0].transpose(1, 2, 0) * np.float32(STD) + np.float32(MEAN)
    return np.clip(rgb[:, :, ::-1] * 255 + 0.5, 0, 255).astype(np.uint8)


def by_priority(job: Job) -> list[tuple[Path, Example, bool]]:
    """(folder, example, is validation) in packing order: validation photos, then labelled
    training photos, then unlabelled ones, each part taken in turn from every folder."""
    parts: list[list[list[tuple[Path, Example, bool]]]] = [[], [], []]
    for folder in job.data:
        held = validation_stems(folder)
        examples = find_examples(folder, job.labels)
        parts[0].append([(folder, e, True) for e in examples if e.image.stem in held])
        parts[1].append([(folder, e, False) for e in examples if e.image.stem not in held and e.truth])
        parts[2].append([(folder, e, False) for e in examples if e.image.stem not in held and not e.truth])
    ordered = []
    for lists in parts:
        longest = max((len(items) for items in lists), default=0)
        ordered += [items[i] for i in range(longest) for items in lists if i < len(items)]
    return ordered


def pack(job: Job, target: Path, budget_mb: float) -> dict[str, int]:
    """Write the GPU pack of `job` into `target` (see the module docstring); returns the photos
    packed per folder. The teacher's labels must be made first (`python -m training teacher`)."""
    import torch  # noqa: PLC0415

    from .train import initial_state, student_shape  # noqa: PLC0415

    size = job.config.size
    target.mkdir(parents=True, exist_ok=True)
    state = initial_state(job.run_dir / "init.pt", job.config, job.init, [e.image for e in job.examples("train")])
    torch.save({"model": {k: v.half() for k, v in state["model"].items()}, **student_shape(state)}, target / "init.pt")
    used, packed = (target / "init.pt").stat().st_size, {}
    for folder, example, held in by_priority(job):
        if not example.teacher.is_file():
            raise FileNotFoundError(f"no teacher label for {example.image}: run `python -m training teacher` first")
        key = folder_key(folder)
        out = target / "shared" / "data" / key
        bgr, teacher, truth = read_example(example)
        files = {out / "images" / f"{example.image.stem}.jpg": model_square(bgr, size)}
        files[target / "labels" / job.teacher.name / key / f"{example.image.stem}.png"] = area(teacher, size)
        if truth is not None:
            files[out / "masks" / f"{example.image.stem}.png"] = area(truth, size)
        encoded = {path: encode(path, image) for path, image in files.items()}
        if used + sum(map(len, encoded.values())) > budget_mb * 1e6:
            break
        for path, data in encoded.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        used += sum(map(len, encoded.values()))
        packed[key] = packed.get(key, 0) + 1
        if held:
            with (out / VALIDATION_LIST).open("a") as listing:
                listing.write(example.image.stem + "\n")
    (target / "pack.json").write_text(json.dumps({"photos": packed, "bytes": used, "size": size}, indent=1) + "\n")
    return packed


def area(mask: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA)


def encode(path: Path, image: np.ndarray) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if path.suffix == ".jpg" else []
    ok, data = cv2.imencode(path.suffix, image, params)
    if not ok:
        raise ValueError(f"cannot encode {path}")
    return bytes(data)


def send_back(job: Job, out: Path, weights: Path) -> list[Path]:
    """The kept `weights` in float16, in two halves, and the run's logs, into `out`."""
    import torch  # noqa: PLC0415

    from .train import student_shape  # noqa: PLC0415

    state = torch.load(weights, weights_only=True, map_location="cpu")
    names = sorted(state["model"])
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for part, chosen in enumerate((names[: len(names) // 2], names[len(names) // 2 :]), 1):
        meta = {"step": state["step"], "part": part} | student_shape(state)
        half = {"model": {n: state["model"][n].half() for n in chosen}} | meta
        torch.save(half, out / f"weights-{part}.pt")
        written.append(out / f"weights-{part}.pt")
    for name in RUN_FILES:
        if (job.run_dir / name).is_file():
            written.append(Path(shutil.copyfile(job.run_dir / name, out / name)))
    return written


def receive(job: Job, folder: Path) -> Path:
    """Put what `send_back` wrote (in `folder`) into the job's run: `step-N.pt` in float32 and
    the logs (the run's own, if any, are replaced); returns the kept weights' path."""
    import torch  # noqa: PLC0415

    from .train import student_shape  # noqa: PLC0415

    parts = [torch.load(folder / f"weights-{i}.pt", weights_only=True) for i in (1, 2)]
    model = {name: value.float() for part in parts for name, value in part["model"].items()}
    job.run_dir.mkdir(parents=True, exist_ok=True)
    target = job.run_dir / f"step-{parts[0]['step']}.pt"
    torch.save({"model": model, "step": parts[0]["step"], **student_shape(parts[0])}, target)
    for name in RUN_FILES:
        if (folder / name).is_file():
            shutil.copyfile(folder / name, job.run_dir / name)
    return target
