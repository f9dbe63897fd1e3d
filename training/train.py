"""Student training with distillation: U²-Netp from its published weights, or a narrower U²-Net
pruned from U²-Net's (`arch`, `width`: training/prune.py), against the ground truth (where there
is one) and the teacher's soft labels.

loss = L(fused) + side_weight * sum of L(side map) over the six side maps, where
L(map) = alpha * |map - truth| + (1 - alpha) * |map - teacher|   for labelled photos
         |map - teacher|                                         for unlabelled ones
L1, not BCE: measured on a fixed batch, BCE against soft labels fell while the very photos it was
trained on got a worse MAE (0.0745 -> 0.0863 in 8 steps): it is dominated by the few pixels the
student gets confidently wrong and softens everything else to fix them. L1 lowered the same
photos' MAE (0.0745 -> 0.0669) and, over 20 steps, the teacher MAE of held-out photos.
Resumable: a checkpoint (weights, optimiser, step, random state) is written every
`checkpoint_every` steps and at the end; running again continues from it. Every `validate_every`
steps the weights are kept (`step-N.pt`) and scored on the validation split (`val.jsonl`), so the
checkpoint that ships is chosen there. A run's initial weights are kept as `init.pt` (for a pruned
student: measured once, then fixed). On a CUDA device the run trains there (bfloat16 autocast),
loading its photos with several threads; `max_seconds` stops it at a checkpoint, to go on later.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .data import AUGMENTS, Example, batch
from .lowrank import low_rank
from .online_teacher import FeatureTap, OnlineTeacher, feature_loss
from .progress import Progress
from .prune import calibrate_heads, input_means, prune
from .u2net import (
    U2NET_WIDTHS,
    U2NETP_WIDTHS,
    U2Net,
    Widths,
    export_fused,
    load_onnx_weights,
    narrower_middles,
    scaled_widths,
)

OPTIMIZERS = ("adamw", "sgd")
AUGMENTATIONS = (*AUGMENTS, "none")  # "none": the photos as they are
DISTILLATIONS = ("labels", "features")
ARCHITECTURES: dict[str, Widths] = {"u2netp": U2NETP_WIDTHS, "u2net": U2NET_WIDTHS}  # published widths
PRUNING_PHOTOS = 8  # training photos whose mean activations go into a pruned student's biases (prune.py)
LOW_RANK_PHOTOS = 24  # training photos, spread over the pool, whose outputs shape a factored student (lowrank.py)


@dataclass(frozen=True)
class TrainConfig:
    # The defaults are the recipe that made the shipped student (docs/training.md): short, gentle,
    # unaugmented; at lr 3e-5 with full augmentation the published weights drift away (they forget)
    size: int = 320  # student input side (the model is fully convolutional)
    steps: int = 160
    batch_size: int = 8
    lr: float = 5e-6
    warmup: int = 5
    alpha: float = 0.5  # weight of the ground truth against the teacher, for labelled photos
    side_weight: float = 0.0  # weight of each side map's loss against the fused map's
    seed: int = 0
    checkpoint_every: int = 20
    validate_every: int = 20  # keep the weights and score them on the validation split
    threads: int = 0  # torch intra-op threads; 0 = torch's default (all usable cores)
    # bfloat16 autocast with channels-last tensors where the CPU has bf16 units (AVX512-BF16/AMX):
    # 4.5 s instead of 15 s per step of 8 at 320 on this machine's 2 cores; weights, optimiser and
    # loss stay float32 (mixed precision; bf16 keeps float32's range, so no loss scaling)
    mixed_precision: bool = True
    # Parameter-name prefixes to train ("" = everything, e.g. "sides,fuse" for the heads alone).
    # With the L1 loss the whole network fine-tunes well (held-out teacher MAE 0.0371 -> 0.0342 in
    # 20 steps); with BCE it drifted away from the teacher, which is why heads-only was once the default.
    train_only: str = ""
    # "adamw", or "sgd" (Nesterov momentum 0.9): AdamW moves every weight by about the learning rate
    # whatever its size; SGD's step follows the gradient's scale, which may suit the published weights,
    # whose batch norms are folded into small convolution weights (docs/training.md)
    optimizer: str = "adamw"
    # "full" (scale/crop, flip, colour, copy-paste), "no-paste" (all but copy-paste) or "none" (the
    # photos as they are, the default: the first to beat the published weights on validation)
    augment: str = "none"
    # the student: a published architecture ("u2netp", "u2net") and a factor on its channels (< 1:
    # the published weights pruned to it, training/prune.py; see training/cost.py for the cost)
    arch: str = "u2netp"
    width: float = 1.0
    # a factor on the middle channels of the six outer stages alone (at least 16; outputs kept), and
    # a budget in millions of parameters for the whole student, met by factoring the convolutions of
    # its five deepest stages to low rank (training/lowrank.py; 0: none)
    middle: float = 1.0
    low_rank: float = 0.0
    # "labels": the cached soft labels of `python -m training teacher`; "features": the published
    # U²-Net runs beside a student made from it (--arch u2net, smaller) and teaches its map and
    # its kept channels of every stage (training/online_teacher.py), on whatever crop augmentation made
    distill: str = "labels"
    feature_weight: float = 0.25  # weight of the stage features' loss against the maps' (distill "features")
    # a kept `step-N.pt` (or a run's checkpoint) to start from instead of the published weights: a
    # new schedule that goes on from an earlier run (its widths must be the student's)
    init_weights: str = ""

    def __post_init__(self) -> None:
        """A bad setting fails when the settings are read, before any photo is loaded."""
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"arch must be one of {', '.join(ARCHITECTURES)}, got {self.arch!r}")
        narrower_middles(scaled_widths(self.width), self.middle)  # checks the factors
        if self.low_rank < 0 or (self.low_rank and self.arch != "u2net"):
            raise ValueError(f"low_rank is a budget in millions of parameters for --arch u2net, got {self.low_rank}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.augment not in AUGMENTATIONS:
            raise ValueError(f"augment must be one of {', '.join(AUGMENTATIONS)}, got {self.augment!r}")
        if self.distill not in DISTILLATIONS:
            raise ValueError(f"distill must be one of {', '.join(DISTILLATIONS)}, got {self.distill!r}")
        smaller = self.width < 1.0 or self.middle < 1.0 or self.low_rank > 0
        if self.distill == "features" and (self.arch != "u2net" or not smaller):
            raise ValueError(
                "distill 'features' teaches a student made from U²-Net: --arch u2net with --width, --middle "
                "below 1 or --low-rank"
            )


def distillation_loss(
    outputs: Sequence[torch.Tensor],
    teacher: torch.Tensor,
    truth: torch.Tensor,
    labelled: torch.Tensor,
    alpha: float,
    side_weight: float = 0.0,
) -> torch.Tensor:
    """L1 to the teacher (and to the truth, by `alpha`, where there is one) on the fused map, plus
    `side_weight` times the same on each side map."""
    weight_truth = (alpha * labelled).view(-1, 1, 1, 1)

    def term(out: torch.Tensor) -> torch.Tensor:
        return ((1 - weight_truth) * (out - teacher).abs() + weight_truth * (out - truth).abs()).mean()

    fused, *sides = outputs
    total = term(fused)
    if side_weight:
        total = total + side_weight * sum(term(side) for side in sides)
    return total


def student_widths(config: TrainConfig) -> Widths:
    """The student's (middle, output) channels per stage: its architecture's, times `width`, with
    the outer stages' middles times `middle`."""
    base = ARCHITECTURES[config.arch]
    widths = base if config.width == 1.0 else scaled_widths(config.width, base)
    return widths if config.middle == 1.0 else narrower_middles(widths, config.middle)


def initial_model(config: TrainConfig, init_onnx: Path, photos: Sequence[Path] = ()) -> U2Net:
    """The student's starting point: `config.init_weights` where given, else the published
    weights, pruned to `width` and `middle` (their dropped channels' mean activations on `photos`
    moved into the biases), then factored to `low_rank` million parameters on a spread of `photos`,
    and their heads fitted to the published ones'."""
    from modelbuild.photos import photo_tensor  # noqa: PLC0415

    if config.init_weights:
        earlier, _ = load_student(Path(config.init_weights))
        if earlier.widths != student_widths(config):
            raise ValueError(f"{config.init_weights} has other widths than --arch {config.arch} --width {config.width}")
        return earlier

    published = load_onnx_weights(U2Net(ARCHITECTURES[config.arch]), init_onnx).eval()
    widths = student_widths(config)
    if widths == published.widths and not config.low_rank:
        return published
    tensors = [torch.from_numpy(photo_tensor(p, config.size)) for p in photos[:PRUNING_PHOTOS]]
    student = published
    if widths != published.widths:
        student = prune(published, widths, input_means(published, tensors) if tensors else None)
    if config.low_rank:
        student = low_rank_student(student, photos, config.size, config.low_rank)
    return calibrate_heads(student, published, tensors) if tensors else student


def low_rank_student(model: U2Net, photos: Sequence[Path], size: int, millions: float) -> U2Net:
    """`model` with its deepest stages factored for `millions` M parameters in all (lowrank.py), on
    the outputs of LOW_RANK_PHOTOS of `photos` spread over the list (the deepest stage sees 10x10
    positions a photo at 320: a few photos cannot estimate its 512 directions)."""
    from modelbuild.photos import photo_tensor  # noqa: PLC0415

    spread = photos[:: max(1, len(photos) // LOW_RANK_PHOTOS)][:LOW_RANK_PHOTOS]
    if not spread:
        raise ValueError("a low-rank student is made from photos' outputs: none given")
    inputs = [torch.from_numpy(photo_tensor(p, size)) for p in spread]
    return low_rank(model.eval(), inputs, round(millions * 1e6))


def trainable(model: U2Net, train_only: str) -> list[torch.nn.Parameter]:
    """Freeze every parameter whose name starts with none of the comma-separated prefixes."""
    prefixes = tuple(p.strip() for p in train_only.split(",") if p.strip())
    chosen = []
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(not prefixes or name.startswith(prefixes))
        if parameter.requires_grad:
            chosen.append(parameter)
    if not chosen:
        raise ValueError(f"no parameter matches {train_only!r}")
    return chosen


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to zero at the last step."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


Validator = Callable[[U2Net], dict[str, Any]]  # the model in eval mode -> validation table


def train(
    examples: Sequence[Example],
    init_onnx: Path,
    run_dir: Path,
    config: TrainConfig,
    donors: Sequence[Example] = (),
    validate: Validator | None = None,
    max_seconds: float = 0.0,
) -> Path:
    """Train (or resume) the student in `run_dir`; returns the checkpoint path. `donors` are the
    labelled photos copy-paste takes subjects from; `validate` scores kept weights; `max_seconds`
    (0: no limit) stops the run at a checkpoint after that long."""
    if config.threads:
        torch.set_num_threads(config.threads)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = run_dir / "checkpoint.pt"
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick its fastest convolutions
    model = student_from_state(initial_state(run_dir / "init.pt", config, init_onnx, [e.image for e in examples]))
    fast = config.mixed_precision and (device.type == "cuda" or bf16_is_fast())
    model = model.to(device, memory_format=torch.channels_last if fast else torch.contiguous_format)
    trained = trainable(model, config.train_only)
    optimiser = make_optimiser(trained, config)
    rng = np.random.default_rng(config.seed)
    step = resume(checkpoint, model, optimiser, rng, config)
    model.train()
    teacher = None
    if config.distill == "features":
        layout = torch.channels_last if fast else torch.contiguous_format
        published = load_onnx_weights(U2Net(ARCHITECTURES[config.arch]), init_onnx)
        teacher = OnlineTeacher(published, model.widths).to(device, layout)
    loader_threads = min(8, os.cpu_count() or 1) if device.type == "cuda" else 1
    stop_at = time.monotonic() + max_seconds if max_seconds else math.inf
    progress = Progress(f"train {run_dir.name}", config.steps - step)
    log = (run_dir / "log.jsonl").open("a")
    order: list[int] = []
    recent: list[float] = []
    augment_rng = None if config.augment == "none" else rng  # no generator: the photos as they are
    paste_donors = donors if config.augment == "full" else ()
    while step < config.steps:
        if len(order) < config.batch_size:
            order.extend(rng.permutation(len(examples)).tolist())
        picks, order = order[: config.batch_size], order[config.batch_size :]
        arrays = batch(
            [examples[i] for i in picks],
            config.size,
            augment_rng,
            paste_donors,
            loader_threads,
            teacher is None,
            AUGMENTS.get(config.augment, AUGMENTS["full"]),
        )
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(config, step)
        recent = [*recent, optimise(model, optimiser, arrays, config, fast, teacher)][-20:]
        step += 1
        log.write(
            json.dumps(
                {"step": step, "loss": round(recent[-1], 5), "lr": learning_rate(config, step - 1), "t": time.time()}
            )
            + "\n"
        )
        progress.step(f"loss {np.mean(recent):.4f}")
        if validate is not None and (step % config.validate_every == 0 or step == config.steps):
            keep_and_validate(run_dir, model, step, validate)
        out_of_time = time.monotonic() > stop_at
        if step % config.checkpoint_every == 0 or step == config.steps or out_of_time:
            save_checkpoint(checkpoint, model, optimiser, rng, step, config)
            log.flush()
        if out_of_time and step < config.steps:
            print(f"stopping at step {step}/{config.steps} after {max_seconds:.0f} s; run again to go on", flush=True)
            break
    log.close()
    progress.done()
    return checkpoint


def make_optimiser(params: list[torch.nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """The run's optimiser over `params` (see TrainConfig.optimizer)."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=0.9, nesterov=True)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=1e-4)


def resume(
    checkpoint: Path,
    model: U2Net,
    optimiser: torch.optim.Optimizer,
    rng: np.random.Generator,
    config: TrainConfig,
) -> int:
    """Load the run's checkpoint into model, optimiser and rng and return its step; step 0 for a
    new run (`model` holds its initial weights already: `initial_state`)."""
    device = next(model.parameters()).device
    if not checkpoint.is_file():
        return 0
    state = torch.load(checkpoint, weights_only=True, map_location=device)
    saved = asdict(TrainConfig()) | state["config"]  # settings added since the run began had their defaults
    if saved != asdict(config):
        raise ValueError(f"{checkpoint} was made with other settings {state['config']}; use a new run name")
    model.load_state_dict(state["model"])
    optimiser.load_state_dict(state["optimiser"])
    rng.bit_generator.state = state["rng"]
    print(f"resuming {checkpoint.parent.name} at step {state['step']}/{config.steps}", flush=True)
    return int(state["step"])


def initial_state(path: Path, config: TrainConfig, init_onnx: Path, photos: Sequence[Path] = ()) -> dict[str, Any]:
    """The run's initial weights as kept at `path` (`kept_state`: made from `initial_model` the
    first time)."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        model = initial_model(config, init_onnx, photos)
        torch.save(kept_state(model), temporary)
        temporary.replace(path)
    state: dict[str, Any] = torch.load(path, weights_only=True, map_location="cpu")
    return state


def optimise(
    model: U2Net,
    optimiser: torch.optim.Optimizer,
    arrays: tuple[np.ndarray, ...],
    config: TrainConfig,
    fast: bool,
    online: OnlineTeacher | None = None,
) -> float:
    """One optimiser step on a batch (images, teacher, truth, labelled); returns the loss. With an
    `online` teacher its map replaces the batch's blank labels and its features are taught too."""
    device = next(model.parameters()).device
    images, teacher, truth, labelled = (torch.from_numpy(a).to(device, non_blocking=True) for a in arrays)
    if fast:
        images = images.contiguous(memory_format=torch.channels_last)
    tap = FeatureTap(model) if online is not None else nullcontext()  # hooks only when features are taught
    with tap, torch.autocast(device.type, dtype=torch.bfloat16, enabled=fast):
        if online is not None:
            teacher, teacher_features = online(images)
        outputs = model(images)
    loss = distillation_loss([o.float() for o in outputs], teacher, truth, labelled, config.alpha, config.side_weight)
    if isinstance(tap, FeatureTap):
        loss = loss + config.feature_weight * feature_loss(tap.take(), teacher_features)
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    return float(loss.item())


def bf16_is_fast() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX); elsewhere autocast would
    emulate it, slower than float32."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def keep_and_validate(run_dir: Path, model: U2Net, step: int, validate: Validator) -> None:
    """Keep the weights as `step-N.pt` and append their validation table to `val.jsonl`."""
    torch.save(kept_state(model, step=step), run_dir / f"step-{step}.pt")
    model.eval()
    with torch.no_grad():
        table = validate(model)
    model.train()
    with (run_dir / "val.jsonl").open("a") as out:
        out.write(json.dumps({"step": step, "t": time.time(), "table": table}) + "\n")
    print(
        f"step {step}: validation mean MAE {table['mean']['mae']:.4f}, max F-beta {table['mean']['max_fbeta']:.4f}",
        flush=True,
    )


def torch_predictor(model: U2Net, size: int) -> Callable[[Path], np.ndarray]:
    """The fp32 student as a validation predictor: fused map, min-max normalised as the engine
    does, bilinearly upsampled to the photo (no refinement: a fast proxy for choosing weights)."""
    import cv2  # noqa: PLC0415

    from engine.model import model_input  # noqa: PLC0415
    from modelbuild.photos import MEAN, STD, read_photo  # noqa: PLC0415

    device = next(model.parameters()).device

    def predict(image: Path) -> np.ndarray:
        bgr = read_photo(image)
        tensor = torch.from_numpy(model_input(bgr, (size, size), MEAN, STD)).to(device)
        pred = model(tensor)[0][0, 0].float().cpu().numpy()
        pred = (pred - pred.min()) / max(float(pred.max() - pred.min()), 1e-6)
        full = cv2.resize(pred, (bgr.shape[1], bgr.shape[0]), interpolation=cv2.INTER_LINEAR)
        return np.clip(full * 255 + 0.5, 0, 255).astype(np.uint8)

    return predict


def save_checkpoint(
    path: Path,
    model: U2Net,
    optimiser: torch.optim.Optimizer,
    rng: np.random.Generator,
    step: int,
    config: TrainConfig,
) -> None:
    state = kept_state(
        model, optimiser=optimiser.state_dict(), rng=rng.bit_generator.state, step=step, config=asdict(config)
    )
    temporary = path.with_suffix(".tmp")
    torch.save(state, temporary)
    temporary.replace(path)  # never a half-written checkpoint


def kept_state(model: U2Net, **extra: Any) -> dict[str, Any]:
    """What a kept-weights file holds: the weights and what shapes them (widths, factored ranks)."""
    return {"model": model.state_dict(), "widths": model.widths, "ranks": model.ranks, **extra}


def student_shape(state: dict[str, Any]) -> dict[str, Any]:
    """What shapes the student of a kept-weights `state`: its widths (U²-Netp's for runs from
    before widths were kept) and its factored ranks (none before low rank)."""
    return {"widths": state.get("widths", U2NETP_WIDTHS), "ranks": state.get("ranks", {})}


def load_student(checkpoint: Path) -> tuple[U2Net, dict]:
    """The student from a checkpoint (or kept `step-N.pt` weights), in eval mode."""
    state = torch.load(checkpoint, weights_only=True, map_location="cpu")
    return student_from_state(state), state


def student_from_state(state: dict[str, Any]) -> U2Net:
    """The student a checkpoint's state describes, in eval mode."""
    shape = student_shape(state)
    model = U2Net(tuple(tuple(w) for w in shape["widths"]), shape["ranks"])
    model.load_state_dict(state["model"])
    return model.eval()


def interpolate_weights(model: U2Net, init: Path, weight: float) -> U2Net:
    """Move the trained weights back toward the initial ones (`init`: the published ONNX file, or
    a run's `init.pt`): init + weight * (trained - init). Weight-space ensembling (WiSE-FT,
    Wortsman et al. 2022) keeps what fine-tuning gained on the training distribution while losing
    less elsewhere; 1.0 is the trained model as it is."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"interpolation weight must be in [0, 1], got {weight}")
    if init.suffix == ".pt":
        init_state = torch.load(init, weights_only=True, map_location="cpu")["model"]
    else:
        init_state = load_onnx_weights(U2Net(model.widths), init).state_dict()
    trained = model.state_dict()
    model.load_state_dict(
        {name: init_state[name] + weight * (value - init_state[name]) for name, value in trained.items()}
    )
    return model


def average_weights(kept: Sequence[Path]) -> dict[str, Any]:
    """The mean of kept weights of one student (stochastic weight averaging, Izmailov et al. 2018),
    as a kept-weights file holds it: the members' float tensors averaged, any other tensor taken
    from the last. Late checkpoints of a run lie around a minimum; their mean sits nearer its middle
    than any one of them. The students have no batch norm (the published graphs have it folded into
    their convolutions), so the mean needs no statistics recomputed. ValueError for fewer than two
    members, or members of other widths or ranks."""
    if len(kept) < 2:
        raise ValueError(f"averaging needs at least two kept weights, got {len(kept)}")
    states = [torch.load(path, weights_only=True, map_location="cpu") for path in kept]
    if len({json.dumps(student_shape(state)) for state in states}) > 1:
        raise ValueError(f"kept weights of other widths or ranks cannot be averaged: {', '.join(map(str, kept))}")
    models = [state["model"] for state in states]
    mean = {
        name: (sum(m[name].double() for m in models) / len(models)).to(value.dtype)
        if value.is_floating_point()
        else models[-1][name]
        for name, value in models[0].items()
    }
    step = max(int(state.get("step", 0)) for state in states)
    return {"model": mean, "step": step, **student_shape(states[0])}


def export_onnx(
    checkpoint: Path, target: Path, size: int, opset: int = 13, init_onnx: Path | None = None, interpolate: float = 1.0
) -> Path:
    """The student's fused output as ONNX, fixed input 1x3xSxS; `interpolate` < 1 blends the
    trained weights with the initial ones (`init_onnx`) first."""
    model, _ = load_student(checkpoint)
    if interpolate != 1.0:
        if init_onnx is None:
            raise ValueError("interpolating needs the initial weights (init_onnx)")
        model = interpolate_weights(model, init_onnx, interpolate)
    export_fused(model, target, size, opset)
    return target
