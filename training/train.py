"""Student training with distillation: U²-Netp from its published weights, at a lower input size,
against the ground truth (where there is one) and the teacher's soft labels.

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
checkpoint that ships is chosen there.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .data import Example, batch
from .progress import Progress
from .u2netp import U2NetP, load_onnx_weights

OPTIMIZERS = ("adamw", "sgd")
AUGMENTATIONS = ("full", "no-paste", "none")


@dataclass(frozen=True)
class TrainConfig:
    # The defaults are the recipe that made the shipped student (README, Training): short, gentle,
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
    # whose batch norms are folded into small convolution weights (README, Training)
    optimizer: str = "adamw"
    # "full" (scale/crop, flip, colour, copy-paste), "no-paste" (all but copy-paste) or "none" (the
    # photos as they are, the default: the first to beat the published weights on validation)
    augment: str = "none"

    def __post_init__(self) -> None:
        """A bad setting fails when the settings are read, before any photo is loaded."""
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.augment not in AUGMENTATIONS:
            raise ValueError(f"augment must be one of {', '.join(AUGMENTATIONS)}, got {self.augment!r}")


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


def trainable(model: U2NetP, train_only: str) -> list[torch.nn.Parameter]:
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


Validator = Callable[["U2NetP"], dict[str, Any]]  # the model in eval mode -> validation table


def train(
    examples: Sequence[Example],
    init_onnx: Path,
    run_dir: Path,
    config: TrainConfig,
    donors: Sequence[Example] = (),
    validate: Validator | None = None,
) -> Path:
    """Train (or resume) the student in `run_dir`; returns the checkpoint path. `donors` are the
    labelled photos copy-paste takes subjects from; `validate` scores kept weights."""
    if config.threads:
        torch.set_num_threads(config.threads)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = run_dir / "checkpoint.pt"
    model = U2NetP()
    fast = config.mixed_precision and bf16_is_fast()
    if fast:
        model = model.to(memory_format=torch.channels_last)
    trained = trainable(model, config.train_only)
    optimiser = make_optimiser(trained, config)
    rng = np.random.default_rng(config.seed)
    step = resume(checkpoint, model, optimiser, rng, config, init_onnx)
    model.train()
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
        arrays = batch([examples[i] for i in picks], config.size, augment_rng, paste_donors)
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(config, step)
        recent = [*recent, optimise(model, optimiser, arrays, config, fast)][-20:]
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
        if step % config.checkpoint_every == 0 or step == config.steps:
            save_checkpoint(checkpoint, model, optimiser, rng, step, config)
            log.flush()
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
    model: U2NetP,
    optimiser: torch.optim.Optimizer,
    rng: np.random.Generator,
    config: TrainConfig,
    init_onnx: Path,
) -> int:
    """Load the run's checkpoint into model, optimiser and rng and return its step; or, for a new
    run, the published weights (step 0)."""
    if not checkpoint.is_file():
        load_onnx_weights(model, init_onnx)
        return 0
    state = torch.load(checkpoint, weights_only=True)
    saved = asdict(TrainConfig()) | state["config"]  # settings added since the run began had their defaults
    if saved != asdict(config):
        raise ValueError(f"{checkpoint} was made with other settings {state['config']}; use a new run name")
    model.load_state_dict(state["model"])
    optimiser.load_state_dict(state["optimiser"])
    rng.bit_generator.state = state["rng"]
    print(f"resuming {checkpoint.parent.name} at step {state['step']}/{config.steps}", flush=True)
    return int(state["step"])


def optimise(
    model: U2NetP, optimiser: torch.optim.Optimizer, arrays: tuple[np.ndarray, ...], config: TrainConfig, fast: bool
) -> float:
    """One optimiser step on a batch (images, teacher, truth, labelled); returns the loss."""
    images, teacher, truth, labelled = (torch.from_numpy(a) for a in arrays)
    if fast:
        images = images.contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast):
        outputs = model(images)
    loss = distillation_loss([o.float() for o in outputs], teacher, truth, labelled, config.alpha, config.side_weight)
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    return float(loss.item())


def bf16_is_fast() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX); elsewhere autocast would
    emulate it, slower than float32."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def keep_and_validate(run_dir: Path, model: U2NetP, step: int, validate: Validator) -> None:
    """Keep the weights as `step-N.pt` and append their validation table to `val.jsonl`."""
    torch.save({"model": model.state_dict(), "step": step}, run_dir / f"step-{step}.pt")
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


def torch_predictor(model: U2NetP, size: int) -> Callable[[Path], np.ndarray]:
    """The fp32 student as a validation predictor: fused map, min-max normalised as the engine
    does, bilinearly upsampled to the photo (no refinement: a fast proxy for choosing weights)."""
    import cv2  # noqa: PLC0415

    from engine.model import model_input  # noqa: PLC0415
    from modelbuild.photos import MEAN, STD  # noqa: PLC0415

    def predict(image: Path) -> np.ndarray:
        bgr = cv2.imread(str(image), cv2.IMREAD_COLOR)
        pred = model(torch.from_numpy(model_input(bgr, (size, size), MEAN, STD)))[0][0, 0].numpy()
        pred = (pred - pred.min()) / max(float(pred.max() - pred.min()), 1e-6)
        full = cv2.resize(pred, (bgr.shape[1], bgr.shape[0]), interpolation=cv2.INTER_LINEAR)
        return np.clip(full * 255 + 0.5, 0, 255).astype(np.uint8)

    return predict


def save_checkpoint(
    path: Path,
    model: U2NetP,
    optimiser: torch.optim.Optimizer,
    rng: np.random.Generator,
    step: int,
    config: TrainConfig,
) -> None:
    state = {
        "model": model.state_dict(),
        "optimiser": optimiser.state_dict(),
        "rng": rng.bit_generator.state,
        "step": step,
        "config": asdict(config),
    }
    temporary = path.with_suffix(".tmp")
    torch.save(state, temporary)
    temporary.replace(path)  # never a half-written checkpoint


def load_student(checkpoint: Path) -> tuple[U2NetP, dict]:
    """The student from a checkpoint (or kept `step-N.pt` weights), in eval mode."""
    state = torch.load(checkpoint, weights_only=True)
    model = U2NetP()
    model.load_state_dict(state["model"])
    return model.eval(), state


class FusedOnly(torch.nn.Module):
    """The fused map alone (the side maps are for training)."""

    def __init__(self, model: U2NetP) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[0]


def interpolate_weights(model: U2NetP, init_onnx: Path, weight: float) -> U2NetP:
    """Move the trained weights back toward the initial ones: init + weight * (trained - init).
    Weight-space ensembling (WiSE-FT, Wortsman et al. 2022) keeps what fine-tuning gained on the
    training distribution while losing less elsewhere; 1.0 is the trained model as it is."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"interpolation weight must be in [0, 1], got {weight}")
    init = load_onnx_weights(U2NetP(), init_onnx).state_dict()
    trained = model.state_dict()
    model.load_state_dict({name: init[name] + weight * (value - init[name]) for name, value in trained.items()})
    return model


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
    dummy = torch.zeros(1, 3, size, size)
    with warnings.catch_warnings():  # the TorchScript exporter warns that it is the legacy one
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            FusedOnly(model),
            (dummy,),
            str(target),
            opset_version=opset,
            input_names=["input"],
            output_names=["alpha"],
            dynamo=False,
        )
    return target
