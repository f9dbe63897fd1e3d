"""The memory ONNX Runtime's arena takes on a model's first run, as the manifest records it
(`memory.arena_mib`).

The engine does not run a model when it loads it (that run was a third of the cold start); until
the first photo has run, it counts this figure against the memory budget (engine/memory.py). It is
the growth of the resident memory over the first run of the engine's own session, in a fresh
interpreter per thread count (a second session in the same process reuses the first one's freed
pages and would read low), at most over THREADS, rounded up to a whole STEP_MIB so that a rebuild
writes the same manifest. Run as `python -m modelbuild.arena MODEL.onnx THREADS` it prints one
measurement.
"""

from __future__ import annotations

import math
import subprocess  # nosec B404  # our own module in a fresh interpreter
import sys
from pathlib import Path

from .errors import BuildError
from .paths import REPO

THREADS = (1, 2)
STEP_MIB = 16


def first_run_growth_mib(path: Path, threads: int) -> float:
    """Resident memory (MiB) the engine's session for `path` gains over its first run, in this process."""
    import numpy as np  # noqa: PLC0415 (only in the measuring interpreter)

    from engine.memory import resident_mb  # noqa: PLC0415
    from engine.model import create_session  # noqa: PLC0415

    session = create_session(path, threads)
    (tensor,) = session.get_inputs()
    feed = {tensor.name: np.zeros(tensor.shape, np.float32)}  # a fixed shape: arena_mib checks
    before = resident_mb()
    session.run(None, feed)
    return resident_mb() - before


def arena_mib(path: Path, input_shape: list[int], threads: tuple[int, ...] = THREADS) -> int | None:
    """The manifest's `memory.arena_mib` for the model at `path`: the largest first-run growth over
    `threads`, each measured in a fresh interpreter, rounded up to a multiple of STEP_MIB. None for
    a graph whose input shape is not fixed (the engine then runs it once when it loads it)."""
    if not input_shape or any(d <= 0 for d in input_shape):
        return None
    growths = []
    for count in threads:
        command = [sys.executable, "-m", "modelbuild.arena", str(path.resolve()), str(count)]
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)  # noqa: S603  # nosec B603
        if done.returncode != 0:
            raise BuildError(f"measuring the arena of {path.name} failed:\n{done.stderr[-2000:]}")
        growths.append(float(done.stdout.strip().splitlines()[-1]))
    return STEP_MIB * max(1, math.ceil(max(growths) / STEP_MIB))


if __name__ == "__main__":
    print(f"{first_run_growth_mib(Path(sys.argv[1]), int(sys.argv[2])):.1f}")
