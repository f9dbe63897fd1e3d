"""`python -m studies.modnet_matte`: can MODNet, a matting model trained on real alpha, give the edges?

MODNet (photographic portrait matting, MIT; `python -m training fetch --teacher modnet`) predicts an
alpha, not a segmentation map, at up to 512 px on the shorter side. The edge issue names it as a
teacher or a gate for people's hair and asks that it be measured first. Candidates, per photo:

- `default`: the engine's cut-out with its defaults (the model, the gated edge, its colours);
- `MODNet`: MODNet's alpha as it is, colours unmixed with it (`engine.foreground.decontaminate`);
- `MODNet, default edge` / `MODNet, soft edge`: MODNet's alpha through the engine's refinement in
  place of the model's map (`engine.refine.refine_matte`), colours unmixed with its coverage;
- `MODNet, <edge> where it agrees (IoU t)`: that MODNet cut-out where its subject (alpha >= 128) and
  the default's overlap by at least t, the default's elsewhere. MODNet is a portrait model: on other
  photos it cuts out something else, and the agreement is what tells the two cases apart.

`--reference` sets MODNet's reference side (its authors' 512 by default; smaller is cheaper), and
`--int8` runs it quantized by ONNX Runtime (static QDQ, per-channel weights, calibrated on 16 photos of
modelbuild's calibration split at 512 x 512; built once into .cache/studies/).

Scored on the validation split (every group; truth where there is one, ISNet's labels elsewhere: MAE,
max F-beta and haze, `bench.metrics`), on every dev set (reported only) and on the matting photos
(composite error on white and black against the true alpha's composite, `bench.composite`, over the
band on the bench's edge photos and on all 9, and SAD; reported only). Writes
studies/results/modnet_matte[-int8][-REF].{json,md} (about 10 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.composite import score_composite, subject_iou, true_foreground
from bench.contenders import decode_gray, make_contender
from bench.data import DEV_DIR, MATTING_DIR, ROOT, discover_sets, load_set
from bench.matting_metrics import score_matte
from bench.metrics import score_image, summarise
from bench.report import publish, table
from engine.foreground import decontaminate
from engine.refine import refine_matte
from modelbuild.graph import convert_opset, pre_process
from modelbuild.photos import PhotoReader, PhotoSplit
from modelbuild.quantize import quantize_qdq
from modelbuild.teachers import MODNET, Labeller, Member, Teacher, combine, matte_input

from .edge_gates import validation_photos

OUT = ROOT / "studies" / "results" / "modnet_matte"
BENCH_MATTING = ROOT / "bench" / "results" / "matting.json"  # its edge photos: every bench contender's subject right
AGREEMENT = (0.90, 0.95, 0.98)
DEFAULT = "default"
GATED = ("MODNet, default edge", "MODNet, soft edge")  # the MODNet cut-outs the gates may take
INT8 = ROOT / ".cache" / "studies" / "modnet-int8.onnx"
CALIBRATION_PHOTOS = 16
CALIBRATION_SIDE = 512

Cutouts = dict[str, np.ndarray]  # candidate -> BGRA cut-out


class Photos:
    """The engine's default and MODNet, loaded once: a photo's bytes -> every candidate's cut-out."""

    def __init__(self, reference: int = MODNET.size, int8: bool = False) -> None:
        self.engine = make_contender("engine")
        self.engine.import_library()
        self.engine.load_model()
        if not MODNET.path.is_file():
            raise SystemExit(f"{MODNET.path} is missing: run `python -m training fetch --teacher modnet`")
        member = replace(MODNET, size=reference, path=quantized(MODNET) if int8 else MODNET.path)
        self.modnet = Labeller(Teacher((member,)))
        self.modnet_seconds: list[float] = []

    def cutouts(self, data: bytes) -> Cutouts:
        default = decoded(self.engine.cutout(data).png, cv2.IMREAD_UNCHANGED)
        bgr = decoded(data)
        start = time.perf_counter()
        (alpha_map,) = self.modnet.maps(bgr)
        self.modnet_seconds.append(time.perf_counter() - start)
        raw = combine([alpha_map], bgr.shape[:2])  # MODNet's alpha at the photo's size, as its label
        out = {DEFAULT: default, "MODNet": np.dstack([decontaminate(bgr, raw), raw])}
        for name, soft in (("MODNet, default edge", False), ("MODNet, soft edge", True)):
            matte = refine_matte(alpha_map, bgr, soft=soft)
            out[name] = np.dstack([decontaminate(bgr, matte.coverage), matte.alpha])
        return with_gates(out, subject_iou(raw, default[..., 3]))


def with_gates(cutouts: Cutouts, agreement: float) -> Cutouts:
    """`cutouts` and, per GATED cut-out and AGREEMENT threshold, that cut-out where MODNet's subject
    agrees with the default's at least that much (`agreement`: their IoU), the default's elsewhere."""
    gates = {gate_name(b, t): cutouts[b] if agreement >= t else cutouts[DEFAULT] for b in GATED for t in AGREEMENT}
    return cutouts | gates


def decoded(data: bytes, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """An encoded image as OpenCV reads it (BGR, or BGRA with IMREAD_UNCHANGED)."""
    image: np.ndarray | None = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if image is None:
        raise ValueError("not an image OpenCV can read")
    return image


def gate_name(base: str, t: float) -> str:
    return f"{base} where it agrees (IoU {t:.2f})"


def quantized(member: Member) -> Path:
    """MODNet in INT8 (`INT8`, made once) by modelbuild's steps: opset 13, ONNX Runtime's
    pre-processing, then static QDQ (`modelbuild.quantize.quantize_qdq`), its input shape left free."""
    if INT8.is_file():
        return INT8
    INT8.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        opset13, prepared = Path(folder) / "opset13.onnx", Path(folder) / "prepared.onnx"
        convert_opset(member.path, opset13)
        pre_process(opset13, prepared, Path(folder))
        square = (CALIBRATION_SIDE, CALIBRATION_SIDE)
        tensors = [
            matte_input(cv2.resize(cv2.imread(str(p)), square), CALIBRATION_SIDE, member.mean, member.std)
            for p in PhotoSplit().calibration()[:CALIBRATION_PHOTOS]
        ]
        quantize_qdq(prepared, INT8, Path(folder) / "ranges.json", calibration=PhotoReader("input", tensors))
    return INT8


def score_sets(photos: Photos, sets: Sequence[tuple[str, bytes, np.ndarray]]) -> dict[str, Any]:
    """Per candidate and set: MAE, max F-beta, haze (`summarise`), and how often the gates chose MODNet."""
    scores: dict[str, dict[str, list[Any]]] = {}
    chose: dict[str, dict[str, list[bool]]] = {}
    for group, data, truth in sets:
        cut = photos.cutouts(data)
        for name, bgra in cut.items():
            scores.setdefault(name, {}).setdefault(group, []).append(score_image(bgra[..., 3], truth))
        for base in GATED:
            for t in AGREEMENT:
                gate = gate_name(base, t)
                chose.setdefault(gate, {}).setdefault(group, []).append(cut[gate] is not cut[DEFAULT])
    return {
        "scores": {n: {g: summarise(s).as_dict() for g, s in groups.items()} for n, groups in scores.items()},
        "chose_modnet": {n: {g: round(float(np.mean(c)), 3) for g, c in groups.items()} for n, groups in chose.items()},
    }


def score_matting(photos: Photos) -> dict[str, dict[str, dict[str, float]]]:
    """Candidate -> photo -> composite errors, SAD and subject IoU against the true alpha."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for sample in load_set(MATTING_DIR.name, MATTING_DIR.parent, truth="alphas"):
        truth, data = sample.truth(), sample.image_bytes()
        cut = photos.cutouts(data)
        colours = true_foreground(decoded(data), truth)
        for name, bgra in cut.items():
            alpha = np.ascontiguousarray(bgra[..., 3])
            out.setdefault(name, {})[sample.stem] = {
                **score_composite(bgra, colours, truth).as_dict(),
                "sad": round(score_matte(alpha, truth).whole.sad, 4),
                "subject_iou": round(subject_iou(alpha, truth), 4),
            }
    return out


def bench_edge_photos() -> list[str]:
    """The bench's edge photos (its last matting run): only there does its edge bar compare edges."""
    photos: list[str] = json.loads(BENCH_MATTING.read_text())["matting"]["edge_photos"]
    return photos


def markdown(results: dict[str, Any]) -> str:
    validation, dev, matting = results["validation"], results["dev"], results["matting"]
    names = list(validation["scores"])
    modnet = f"reference side {results['reference']}, {'INT8' if results['int8'] else 'fp32'}"
    seconds = f"MODNet: {results['modnet_s']:.2f} s per photo (median, 2 threads)."
    parts = [f"# MODNet as the matte ({modnet})\n\n{seconds}\n"]
    for title, part in (("Validation split", validation), ("Dev sets (reported only)", dev)):
        groups = list(part["scores"][DEFAULT])
        rows = []
        for name in names:
            cells = []
            for g in groups:
                s, base = part["scores"][name][g], part["scores"][DEFAULT][g]
                cells.append(f"{s['mae']:.4f} / {s['max_fbeta']:.4f} / {s['haze'] / max(base['haze'], 1e-9):.2f}")
            chosen = part["chose_modnet"].get(name)
            share = " ".join(f"{chosen[g]:.2f}" for g in groups) if chosen else ""
            rows.append([name, *cells, share])
        parts.append(f"## {title}: MAE / max Fβ / haze (× the default's)\n")
        parts.append(table(["candidate", *groups, "share that took MODNet, per group"], rows) + "\n")
    edge = results["edge_photos"]
    rows = []
    for name in names:
        per = matting[name]
        rows.append(
            [
                name,
                f"{np.mean([per[s]['composite_band'] for s in edge]):.2f}",
                f"{np.mean([r['composite_band'] for r in per.values()]):.2f}",
                f"{np.mean([r['composite_whole'] for r in per.values()]):.2f}",
                f"{np.mean([r['sad'] for r in per.values()]):.1f}",
            ]
        )
    parts.append("## Matting photos (reported only): composite error in 8-bit levels, SAD\n")
    header = ["candidate", f"band, edge photos ({', '.join(edge)})", "band, all 9", "whole, all 9", "SAD, all 9"]
    parts.append(table(header, rows) + "\n")
    stems = list(matting[DEFAULT])
    per_photo = [[name, *(f"{matting[name][s]['composite_band']:.2f}" for s in stems)] for name in names]
    parts.append("Per photo, band composite error:\n\n" + table(["candidate", *stems], per_photo) + "\n")
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studies.modnet_matte", description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="at most this many photos per set (a quick look)")
    parser.add_argument("--reference", type=int, default=MODNET.size, help="MODNet's reference side (default 512)")
    parser.add_argument("--int8", action="store_true", help="MODNet quantized to INT8 (made once)")
    args = parser.parse_args(argv)
    photos = Photos(args.reference, args.int8)
    reader: Callable[[Path], np.ndarray] = lambda p: decode_gray(p.read_bytes())  # noqa: E731
    validation = [(g, image.read_bytes(), reader(ref)) for g, image, ref in validation_photos()]
    if args.limit:
        validation = [v for i, v in enumerate(validation) if i % max(1, len(validation) // args.limit) == 0]
    sets = discover_sets(DEV_DIR)
    dev = [(name, s.image_bytes(), s.truth()) for name in sets for s in load_set(name, limit=args.limit)]
    results: dict[str, Any] = {"validation": score_sets(photos, validation), "dev": score_sets(photos, dev)}
    results["matting"] = score_matting(photos)
    results["edge_photos"] = bench_edge_photos()
    results.update(modnet_s=float(np.median(photos.modnet_seconds)), reference=args.reference, int8=args.int8)
    variant = ("-int8" if args.int8 else "") + (f"-{args.reference}" if args.reference != MODNET.size else "")
    return publish(results, OUT.with_name(OUT.name + variant), markdown(results))


if __name__ == "__main__":
    raise SystemExit(main())
