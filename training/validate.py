"""Quality on the validation split: where every training choice is made (see `split`).

Each folder of the pool contributes one group: labelled photos are scored against their ground
truth, unlabelled ones against the teacher's label. Scores are at full resolution, with the
benchmark's metrics (MAE, max F-beta). A candidate's summary is the mean over groups, so a big
folder does not drown a small one.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from bench.contenders import decode_gray
from bench.metrics import score_image, summarise
from modelbuild.photos import read_photo
from modelbuild.teachers import Teacher

from .data import CLOSE_UPS, Example, find_examples, read_gray
from .progress import Progress
from .split import domain_group, domain_stems, folder_key, held_out_domains
from .teacher import make_labels

if TYPE_CHECKING:
    from engine.result import Cutout

Predictor = Callable[[Path], np.ndarray]  # photo file -> uint8 mask at the photo's size


def validation_groups(folders: Sequence[Path], labels_dir: Path) -> dict[str, list[Example]]:
    """Folder key -> its validation photos, and the folder's held-out domains as a group of their own."""
    groups: dict[str, list[Example]] = {}
    for folder in folders:
        examples, domain = find_examples(folder, labels_dir, part="validation"), domain_stems(folder)
        groups[folder_key(folder)] = [e for e in examples if e.image.stem not in domain]
        groups[domain_group(folder_key(folder))] = [e for e in examples if e.image.stem in domain]
    return {name: examples for name, examples in groups.items() if examples}


CLOSE_UP_GROUP = "close-ups"


def close_up_group(groups: dict[str, list[Example]], folder: Path) -> list[Example]:
    """Close-ups of the validation photos, a frame-filling group of its own: one window each, as the
    `close-ups` augmentation makes them (data.CLOSE_UPS, seeded by the photo's folder and name),
    with its reference (truth, else the teacher's label) cropped alike. Written once under `folder`
    (one per teacher: the references differ); photos whose subject is too small are left out."""
    close_ups = []
    for example in (e for examples in groups.values() for e in examples):
        name = f"{folder_key(example.image.parent.parent).replace('/', '-')}-{example.image.stem}.png"
        image, mask = folder / "images" / name, folder / "masks" / name
        if not mask.is_file():
            reference = read_gray(example.truth or example.teacher)
            box = CLOSE_UPS.close_up_box(np.random.default_rng(zlib.crc32(name.encode())), reference)
            if box is None:
                continue
            x0, y0, x1, y1 = box
            bgr = read_photo(example.image)
            image.parent.mkdir(parents=True, exist_ok=True)
            mask.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(image), bgr[y0:y1, x0:x1])
            cv2.imwrite(str(mask), reference[y0:y1, x0:x1])
        close_ups.append(Example(image, mask, mask))
    return close_ups


def label_unlabelled(groups: dict[str, list[Example]], teacher: Teacher, labels_dir: Path) -> int:
    """The teacher's labels for the photos scored against them (those without truth) that have none
    cached, so that a fresh machine can score the split without labelling the whole pool; returns
    how many were made."""
    images = [e.image for examples in groups.values() for e in examples if e.truth is None and not e.teacher.is_file()]
    if images and teacher.absent():
        raise FileNotFoundError(
            f"{len(images)} validation photos need {teacher.name}'s labels, and its weights "
            f"({', '.join(map(str, teacher.absent()))}) are not installed: run `python -m training fetch`"
        )
    return make_labels(images, teacher, labels_dir)


def score(predict: Predictor, groups: dict[str, list[Example]], what: str = "validation") -> dict[str, Any]:
    """MAE and max F-beta per group (against truth where there is one, else the teacher), and
    their means over groups under "mean"."""
    progress = Progress(what, sum(len(v) for v in groups.values()), every=30)
    table: dict[str, Any] = {}
    for name, examples in groups.items():
        scores = []
        for example in examples:
            reference = read_gray(example.truth or example.teacher)
            scores.append(score_image(predict(example.image), reference))
            progress.step()
        summary = summarise(scores).as_dict()
        summary["reference"] = "truth" if examples[0].truth else "teacher"
        table[name] = summary
    table["mean"] = {key: round(float(np.mean([table[g][key] for g in groups])), 6) for key in ("mae", "max_fbeta")}
    return table


def engine_cutter(model_id: str, model_dir: Path | None = None, threads: int = 0) -> Callable[[bytes], Cutout]:
    """The engine's mask cut-out with the CLI's defaults (refinement on), for the model `model_id`."""
    from engine import Options, OutputMode, remove_background  # noqa: PLC0415
    from engine.cpus import usable_cpus  # noqa: PLC0415
    from engine.settings import MODELS_DIR, EngineSettings  # noqa: PLC0415

    settings = EngineSettings(model=model_id, model_dir=model_dir or MODELS_DIR, threads=threads or usable_cpus())
    options = Options(output=OutputMode.MASK)
    return lambda data: remove_background(data, options, settings)


def engine_predictor(model_id: str, model_dir: Path | None = None, threads: int = 0) -> Predictor:
    """The engine's mask (`engine_cutter`) as a validation predictor."""
    cut = engine_cutter(model_id, model_dir, threads)
    return lambda image: decode_gray(cut(image.read_bytes()).data)


METRICS = (("mae", -1), ("max_fbeta", +1))  # (key, sign): lower MAE and higher max F-beta are better


def wins(a: dict[str, Any], b: dict[str, Any], skip: set[str] = frozenset()) -> int:  # type: ignore[assignment]
    """In how many (group, metric) cells table `a` beats table `b`, over the groups of both but `skip`."""
    groups = [g for g in a if g != "mean" and g in b and g not in skip]
    return sum(sign * (a[g][key] - b[g][key]) > 0 for g in groups for key, sign in METRICS)


def ranking(rows: dict[str, dict[str, Any]], trained_on: dict[str, set[str]] | None = None) -> list[tuple[str, int]]:
    """Candidates from best to worst, with their score: the sum over every other candidate of the
    cells won minus the cells lost (`wins`), each pair compared only on the groups neither was
    trained on. One rule for checkpoints, blends and the default: a candidate must be better on
    most groups and on both metrics, not on an average alone. The held-out domains are weighed
    first: a candidate that gains in-domain and loses on photos unlike its training data ranks
    below one that does not; then the in-domain score, then the lower mean MAE."""
    trained_on = trained_on or {}
    domains = held_out_domains()
    score, outside = {}, {}
    for a, table_a in rows.items():
        total = away = 0
        for b, table_b in rows.items():
            if a != b:
                skip = trained_on.get(a, set()) | trained_on.get(b, set())
                total += wins(table_a, table_b, skip) - wins(table_b, table_a, skip)
                only = set(table_a) - domains | skip
                away += wins(table_a, table_b, only) - wins(table_b, table_a, only)
        score[a], outside[a] = total, away
    return sorted(score.items(), key=lambda item: (-outside[item[0]], -item[1], rows[item[0]]["mean"]["mae"]))


def trained_groups(model_id: str, model_dir: Path) -> set[str]:
    """The validation groups a shipped model was trained on, photos included (from its manifest's
    provenance): they say nothing about how it generalises, so comparisons leave them out. A run
    that records its validation photos held the split out, so it is compared on every group."""
    manifest = model_dir / f"{model_id}.json"
    data = json.loads(manifest.read_text()) if manifest.is_file() else {}
    training = data.get("provenance", {}).get("training", {})
    keys = {
        folder_key(Path(f)) if Path(f).is_absolute() else f.removeprefix("../shared/data/")
        for f in training.get("folders", [])
    }
    if "validation_photos" not in training:
        return keys
    # held out, except the domains the split holds out since: the run trained on their photos
    return {
        domain_group(key) for key in keys if domain_group(key) not in training["validation_photos"]
    } & held_out_domains()


def format_table(rows: dict[str, dict[str, Any]]) -> str:
    """A markdown table: one row per candidate, MAE / max F-beta per group and their means."""
    groups = [g for g in next(iter(rows.values())) if g != "mean"]
    head = "| candidate | " + " | ".join(groups) + " | mean |"
    lines = [head, "|" + "---|" * (len(groups) + 2)]
    for name, table in rows.items():
        cells = [f"{table[g]['mae']:.4f} / {table[g]['max_fbeta']:.4f}" for g in groups]
        cells.append(f"**{table['mean']['mae']:.4f} / {table['mean']['max_fbeta']:.4f}**")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def record(path: Path, name: str, table: dict[str, Any]) -> None:
    """Add (or replace) one candidate's table in the JSON record at `path`."""
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[name] = table
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")
