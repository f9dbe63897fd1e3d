"""Quality pass: every contender's mask on every labelled image, scored at full resolution."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from .contenders import Contender
from .data import Sample
from .load import OtherLoad
from .metrics import score_image, summarise


def evaluate(contender: Contender, samples: Sequence[Sample]) -> dict[str, float | int]:
    """Score one (loaded) contender on one set: the metrics, seconds per image and other load."""
    scores = []
    seconds = 0.0
    with OtherLoad() as load:
        for sample in samples:
            data = sample.image_bytes()
            start = time.perf_counter()
            pred = contender.mask(data)
            seconds += time.perf_counter() - start
            scores.append(score_image(pred, sample.truth()))
    return {
        **summarise(scores).as_dict(),
        "s_per_img": round(seconds / len(samples), 4),
        "other_cpu_cores": round(load.cores, 3),
    }


def quality_pass(
    contenders: Sequence[Contender],
    sets: dict[str, Sequence[Sample]],
    log: Callable[[str], None] = print,
) -> dict[str, dict[str, dict[str, float | int]]]:
    """set name -> contender key -> metrics, for loaded contenders."""
    results: dict[str, dict[str, dict[str, float | int]]] = {}
    for name, samples in sets.items():
        results[name] = {}
        for contender in contenders:
            row = evaluate(contender, samples)
            results[name][contender.key] = row
            log(
                f"quality {name:>6} {contender.key:<20} n={row['n']} MAE {row['mae']:.4f} "
                f"maxFb {row['max_fbeta']:.4f} mIoU {row['miou']:.4f} haze {row['haze']:.4f} "
                f"{row['s_per_img']:.3f} s/img"
            )
    return results
