"""`python -m studies.triage_features`: can a second look see the cut-outs the error estimate misses?

The error estimate (engine/quality.py) is fitted from one pass of the model. On salient-object
photos (the pool's `train`, `dev/sod`) it misses the triage goal, because there the map can be
confident and wrong: it picked another object. This study asks whether anything the model, or a
second one, could also say carries that to photos of another kind:

- `side1` ... `side6`: mean |side output k - fused map|, each of U²-Net's side outputs through a
  sigmoid, finest first (`side1` is the engine's `side`; the deeper ones see coarser, more global
  evidence of what the subject is);
- `mirrored`: mean |the mirrored photo's map, mirrored back - the map| (the same model, a second pass);
- `other`: mean |a second model's map - the map| (`--other`, by default rembg's u2netp weights in
  INT8, which err differently from the distilled default).

Each is scored as `python -m training error-model` scores a subset of features: fitted on all
validation groups but one and judged on the one left out (catch rate, the triage goal, and
Spearman), alone and beside the model's shipped features; the dev sets are reported only. The
validation photos without ground truth are scored against ISNet's labels (made first on a fresh
machine: `python -m training fetch`). Writes `studies/results/triage_features.md` (about 12
minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import onnx

from bench.data import DEV_DIR, discover_sets, load_set
from engine.cpus import usable_cpus
from engine.manifest import Manifest, load_manifest
from engine.model import Model, create_session, get_model
from engine.settings import MODELS_DIR
from modelbuild.graph import expose_sides, side_logits
from modelbuild.teachers import TEACHERS
from training import error_model as em
from training.paths import TEACHER_LABELS
from training.split import POOL_FOLDERS
from training.validate import label_unlabelled, validation_groups

RESULTS = Path(__file__).parent / "results" / "triage_features.md"
TEACHER = "isnet"  # the labels the shipped estimate was fitted against
EXPOSED = "study_side"  # graph outputs study_side1 ... (the candidates side1 ...)

Maps = Callable[[np.ndarray], dict[str, np.ndarray]]


def with_every_side(source: Path, target: Path) -> list[str]:
    """A copy of a U²-Net-family graph with each side output exposed beside its own outputs, finest
    first; returns their names."""
    model = onnx.load(str(source))
    names = {f"{EXPOSED}{k}": logit for k, logit in enumerate(side_logits(model), 1)}
    expose_sides(model, names)
    onnx.save(model, str(target))
    return list(names)


def model_maps(manifest: Manifest, path: Path, names: list[str], other: Model | None, threads: int) -> Maps:
    """photo (BGR) -> the model's map ("map"), each side exposed under `names` in the graph at `path`
    ("side1" ...), the map of the mirrored photo mirrored back ("mirrored") and, with `other`, that
    model's map ("other"): all as the engine makes its map (engine.model)."""
    sides = {f"side{k}": name for k, name in enumerate(names, 1)}
    model = Model(replace(manifest, path=path, sides=sides), create_session(path, threads))

    def maps(bgr: np.ndarray) -> dict[str, np.ndarray]:
        seen = model.infer(bgr)
        found = {"map": seen.map, **seen.sides}
        found["mirrored"] = model.predict(np.ascontiguousarray(bgr[:, ::-1]))[:, ::-1]
        if other is not None:
            found["other"] = cv2.resize(other.predict(bgr), seen.map.shape[::-1], interpolation=cv2.INTER_LINEAR)
        return found

    return maps


def candidate_features(maps: dict[str, np.ndarray]) -> dict[str, float]:
    """Each map's mean absolute difference from the model's own map ("map")."""
    own = maps["map"]
    return {name: float(cv2.absdiff(other, own).mean()) for name, other in maps.items() if name != "map"}


def candidates_of(maps: Maps) -> Callable[[bytes], dict[str, float]]:
    """An encoded photo -> its candidate features (`error_model.cutout_rows` adds them to its row)."""
    return lambda data: candidate_features(maps(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)))


def variants(shipped: tuple[str, ...], candidates: list[str]) -> dict[str, tuple[str, ...]]:
    """The feature sets compared: the shipped ones, each candidate beside them, each candidate alone."""
    found = {"shipped: " + ", ".join(shipped): shipped}
    found |= {f"shipped + {c}": (*shipped, c) for c in candidates if c not in shipped}
    return found | {f"{c} alone": (c,) for c in candidates}


def table(validation: list[em.Row], dev: list[em.Row], sets: dict[str, tuple[str, ...]]) -> str:
    """Held-out catch / Spearman per validation group, the worst group's catch and the mean that
    error-model maximises; then the dev sets' catch / Spearman from the fit on all validation rows."""
    groups = sorted({r.group for r in validation})
    dev_sets = [*sorted({r.group for r in dev}), "all"]  # dev/all: the dev sets' photos together
    head = [
        "features",
        *groups,
        "worst catch",
        "carried",
        *(f"dev/{d}" for d in dev_sets),
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, features in sets.items():
        held = em.held_out_triage(validation, features)
        reported = em.triage(em.fit(validation, features), dev)
        cells = [cell(held.get(g)) for g in groups]  # a constant estimate has no order: no figures
        cells += [f"{min((h['catch'] for h in held.values()), default=0.0):.3f}", f"{em.carried(held):.3f}"]
        cells += [cell(reported.get(d)) for d in dev_sets]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cell(figures: dict[str, float] | None) -> str:
    return "-" if figures is None else f"{figures['catch']:.3f} / {figures['spearman']:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="u2netp-distilled-int8", help="engine model id (its manifest's fit)")
    parser.add_argument("--other", default="u2netp-int8", help="the second model's engine id ('' for none)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many photos per group and dev set")
    args = parser.parse_args()
    manifest, threads = load_manifest(args.model, MODELS_DIR), usable_cpus()
    other = get_model(args.other, MODELS_DIR, threads) if args.other else None
    shipped = tuple(manifest.error_model.weights)
    groups = {name: e[: args.limit] for name, e in validation_groups(POOL_FOLDERS, TEACHER_LABELS / TEACHER).items()}
    label_unlabelled(groups, TEACHERS[TEACHER], TEACHER_LABELS / TEACHER)
    dev = {name: load_set(name, DEV_DIR, args.limit) for name in discover_sets(DEV_DIR)}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / manifest.path.name
        more = candidates_of(model_maps(manifest, path, with_every_side(manifest.path, path), other, threads))
        validation_photos = em.validation_photos(groups)
        validation = em.cutout_rows(args.model, MODELS_DIR, validation_photos, sum(map(len, groups.values())), more)
        dev_photos = ((name, s.image_bytes(), s.truth()) for name, samples in dev.items() for s in samples)
        dev_rows = em.cutout_rows(args.model, MODELS_DIR, dev_photos, sum(map(len, dev.values())), more)
    candidates = [f for f in validation[0].features if f not in em.FEATURES]  # side1 ... sideN, mirrored, other
    report = (
        f"# Triage features beyond one pass ({args.model}; second model {args.other or 'none'})\n\n"
        f"`python -m studies.triage_features{' --limit ' + str(args.limit) if args.limit else ''}`: "
        f"{len(validation)} validation photos (unlabelled ones against {TEACHER}'s labels), "
        f"{len(dev_rows)} dev photos. Each cell: catch rate / Spearman; validation groups held out "
        "(fitted on the others), dev sets from the fit on all validation photos.\n\n"
        + table(validation, dev_rows, variants(shipped, candidates))
        + "\n"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
