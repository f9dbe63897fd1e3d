"""Student training with distillation: U²-Netp from its published weights, at a lower input size,
against the ground truth (where there is one) and the teacher's soft labels, on every output.

loss = sum over the fused and six side maps of
       alpha * BCE(map, truth) + (1 - alpha) * BCE(map, teacher)   for labelled photos
       BCE(map, teacher)                                           for unlabelled ones
Resumable: a checkpoint (weights, optimiser, step, random state) is written every
`checkpoint_every` steps and at the end; running again continues from it.
"""

from __future__ import annotations

import json
import warnings
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .data import Example, batch
from .progress import Progress
from .u2netp import U2NetP, load_onnx_weights


@dataclass(frozen=True)
class TrainConfig:
    size: int = 256  # student input side (the model is fully convolutional)
    steps: int = 300
    batch_size: int = 8
    lr: float = 1e-4
    warmup: int = 50
    alpha: float = 0.2  # weight of the ground truth against the teacher, for labelled photos
    seed: int = 0
    checkpoint_every: int = 50
    threads: int = 0  # torch intra-op threads; 0 = torch's default (all usable cores)
    # Parameter-name prefixes to train ("" = everything). The published U²-Netp has its batch norms
    # folded (biases up to ~200), so small weight changes deep inside swing the output; measured:
    # fine-tuning all of it moved it *away* from the teacher on unseen photos.
    train_only: str = "sides,fuse"


def distillation_loss(outputs: Sequence[torch.Tensor], teacher: torch.Tensor, truth: torch.Tensor,
                      labelled: torch.Tensor, alpha: float) -> torch.Tensor:
    weight_truth = (alpha * labelled).view(-1, 1, 1, 1)
    total = torch.zeros(())
    for out in outputs:
        out = out.clamp(1e-6, 1 - 1e-6)
        soft = F.binary_cross_entropy(out, teacher, reduction="none")
        hard = F.binary_cross_entropy(out, truth, reduction="none")
        total = total + ((1 - weight_truth) * soft + weight_truth * hard).mean()
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


def train(examples: Sequence[Example], init_onnx: Path, run_dir: Path, config: TrainConfig) -> Path:
    """Train (or resume) the student in `run_dir`; returns the checkpoint path."""
    if config.threads:
        torch.set_num_threads(config.threads)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = run_dir / "checkpoint.pt"
    model = U2NetP()
    trained = trainable(model, config.train_only)
    optimiser = torch.optim.AdamW(trained, lr=config.lr, weight_decay=1e-4)
    rng = np.random.default_rng(config.seed)
    step = 0
    if checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=True)
        if state["config"] != asdict(config):
            raise ValueError(f"{checkpoint} was made with other settings {state['config']}; use a new run name")
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        rng.bit_generator.state = state["rng"]
        step = state["step"]
        print(f"resuming {run_dir.name} at step {step}/{config.steps}", flush=True)
    else:
        load_onnx_weights(model, init_onnx)
    model.train()
    progress = Progress(f"train {run_dir.name}", config.steps - step)
    log = (run_dir / "log.jsonl").open("a")
    order: list[int] = []
    recent: list[float] = []
    while step < config.steps:
        if len(order) < config.batch_size:
            order.extend(rng.permutation(len(examples)).tolist())
        picks, order = order[: config.batch_size], order[config.batch_size :]
        images, teacher, truth, labelled = (torch.from_numpy(a) for a in batch([examples[i] for i in picks], config.size, rng))
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(config, step)
        loss = distillation_loss(model(images), teacher, truth, labelled, config.alpha)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        step += 1
        recent = (recent + [loss.item()])[-20:]
        log.write(json.dumps({"step": step, "loss": round(recent[-1], 5), "lr": learning_rate(config, step - 1), "t": time.time()}) + "\n")
        progress.step(f"loss {np.mean(recent):.4f}")
        if step % config.checkpoint_every == 0 or step == config.steps:
            save_checkpoint(checkpoint, model, optimiser, rng, step, config)
            log.flush()
    log.close()
    progress.done()
    return checkpoint


def save_checkpoint(path: Path, model: U2NetP, optimiser: torch.optim.Optimizer, rng: np.random.Generator,
                    step: int, config: TrainConfig) -> None:
    state = {"model": model.state_dict(), "optimiser": optimiser.state_dict(), "rng": rng.bit_generator.state,
             "step": step, "config": asdict(config)}
    temporary = path.with_suffix(".tmp")
    torch.save(state, temporary)
    temporary.replace(path)  # never a half-written checkpoint


def load_student(checkpoint: Path) -> tuple[U2NetP, dict]:
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


def export_onnx(checkpoint: Path, target: Path, size: int, opset: int = 13) -> Path:
    """The student's fused output as ONNX, fixed input 1x3xSxS."""
    model, _ = load_student(checkpoint)
    dummy = torch.zeros(1, 3, size, size)
    with warnings.catch_warnings():  # the TorchScript exporter warns that it is the legacy one
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(FusedOnly(model), (dummy,), str(target), opset_version=opset, input_names=["input"],
                          output_names=["alpha"], dynamo=False)
    return target
