"""Speed pass: warm end-to-end times in-process, cold start and peak RSS in fresh interpreters.

Contenders are interleaved (every warm repeat, every cold run), so background load that drifts
during the pass hits them alike; ratios against the baseline are then comparable. The warm rounds
follow `round_order`, so no contender always runs right after the same other one.
"""

from __future__ import annotations

import json
import statistics
import subprocess  # fixed argument lists built here, never a shell  # nosec B404
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .contenders import Contender
from .data import ROOT
from .load import OtherLoad


def _median_stages(runs: list[dict[str, float]]) -> dict[str, float]:
    keys = runs[0].keys() if runs else []
    return {k: round(statistics.median(r[k] for r in runs), 1) for k in keys}


def summarise_times(seconds: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(seconds), 4),
        "min_s": round(min(seconds), 4),
        "max_s": round(max(seconds), 4),
    }


def round_order(count: int, round_number: int) -> list[int]:
    """The contenders' order in one round of the warm pass: a Williams design (the row-complete
    Latin square of crossover trials, balanced for carry-over). Each round shifts the sequence
    0, 1, n-1, 2, n-2, ..., so what runs just before a contender changes from round to round: a
    contender that ran every round right after rembg (measured: the first row paid 12 MP decode
    77 ms against 43 ms for the same decoder in the next row, and 88 ms compose against 38-46)
    pays for it in at most two of five rounds (with six or more contenders, as in the default run),
    which the median drops."""
    sequence = [0]
    for step in range(1, count):
        sequence.append((step + 1) // 2 if step % 2 else count - step // 2)
    return [(round_number + s) % count for s in sequence]


def warm_pass(
    contenders: Sequence[Contender], images: dict[str, bytes], repeats: int
) -> tuple[dict[str, dict[str, dict]], float]:
    """label -> key -> wall times, stage medians and model-only time; and the other processes' load.
    After one warm-up call each, `repeats` rounds in `round_order`."""
    results: dict[str, dict[str, dict]] = {}
    with OtherLoad() as load:
        for label, data in images.items():
            walls: dict[str, list[float]] = {c.key: [] for c in contenders}
            stages: dict[str, list[dict[str, float]]] = {c.key: [] for c in contenders}
            predicts: dict[str, list[float]] = {c.key: [] for c in contenders}
            for contender in contenders:  # warm-up
                contender.cutout(data)
            for round_number in range(repeats):
                for contender in (contenders[i] for i in round_order(len(contenders), round_number)):
                    start = time.perf_counter()
                    run = contender.cutout(data)
                    walls[contender.key].append(time.perf_counter() - start)
                    stages[contender.key].append(run.stages_ms)
                    predict = contender.predict_seconds(data)
                    if predict is not None:
                        predicts[contender.key].append(predict)
            results[label] = {}
            for contender in contenders:
                row: dict = summarise_times(walls[contender.key])
                if stages[contender.key][0]:
                    row["stages_ms"] = _median_stages(stages[contender.key])
                if predicts[contender.key]:
                    row["predict_s"] = round(statistics.median(predicts[contender.key]), 4)
                results[label][contender.key] = row
    return results, round(load.cores, 3)


def run_probe(key: str, image: Path, u2net_home: Path) -> tuple[float, dict]:
    """Wall time of a fresh interpreter doing the contender's cold path, and what it reported."""
    command = [sys.executable, "-m", "bench.probe", key, str(image), str(u2net_home)]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)  # noqa: S603  # our probe  # nosec B603
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"probe {key} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return wall, json.loads(done.stdout.strip().splitlines()[-1])


def cold_pass(
    keys: Sequence[str],
    small: Path,
    large: Path,
    runs: int,
    u2net_home: Path,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, dict], dict[str, dict], float]:
    """Cold start on `small` (median of `runs`, round-robin) and peak RSS on `large` per key."""
    walls: dict[str, list[float]] = {k: [] for k in keys}
    reports: dict[str, list[dict]] = {k: [] for k in keys}
    rss: dict[str, dict] = {}
    with OtherLoad() as load:
        for _ in range(runs):
            for key in keys:
                wall, report = run_probe(key, small, u2net_home)
                walls[key].append(wall)
                reports[key].append(report)
                log(f"cold   {key:<20} {wall:.2f}s")
        for key in keys:
            _, report = run_probe(key, large, u2net_home)
            rss[key] = {k: report[k] for k in ("peak_rss_mib", "rss_import_mib", "rss_session_mib")}
            log(f"rss    {key:<20} {report['peak_rss_mib']:.0f} MiB")
    cold = {}
    for key in keys:
        cold[key] = {
            "median_s": round(statistics.median(walls[key]), 3),
            "runs_s": [round(w, 3) for w in walls[key]],
            **{
                step: round(statistics.median(r[step] for r in reports[key]), 3)
                for step in ("import_s", "session_s", "first_s")
            },
        }
    return cold, rss, round(load.cores, 3)
