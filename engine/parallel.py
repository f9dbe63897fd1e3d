"""`-j N`: the command line's jobs over N worker processes sharing one queue.

Each worker loads the model once (its initializer) and runs ENGINE_THREADS / N inference threads,
so N workers do not oversubscribe the cores. Workers ignore Ctrl-C: the parent stops handing out
jobs, lets the running ones finish (their outputs are written whole) and reports what was done.
Processes are spawned, not forked: a forked ONNX Runtime with live threads can deadlock.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import replace

from .files import Job
from .options import Options
from .pipeline import load_model
from .settings import EngineSettings

Runner = Callable[[Job, Options, EngineSettings], dict[str, object]]
_state: dict[str, object] = {}


def worker_settings(config: EngineSettings, workers: int) -> EngineSettings:
    """A worker's settings: the inference threads shared out between the workers (at least 1 each)."""
    return replace(config, threads=max(1, config.threads // workers))


def _start_worker(runner: Runner, options: Options, config: EngineSettings) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    load_model(config, options.model)
    _state.update(runner=runner, options=options, config=config)


def _run(job: Job) -> dict[str, object]:
    runner: Runner = _state["runner"]  # type: ignore[assignment]
    return runner(job, _state["options"], _state["config"])  # type: ignore[arg-type]


def run_parallel(
    todo: Sequence[Job], options: Options, config: EngineSettings, workers: int, runner: Runner
) -> Iterator[dict[str, object]]:
    """Each job's record as it finishes (in the order they finish), `workers` at a time. On Ctrl-C
    the jobs not started are dropped, the running ones finish and are yielded, then
    KeyboardInterrupt is raised again: every output written is reported."""
    context = multiprocessing.get_context("spawn")
    settings = worker_settings(config, workers)
    with ProcessPoolExecutor(workers, context, _start_worker, (runner, options, settings)) as pool:
        running: set[Future[dict[str, object]]] = set()
        try:
            for job in todo:  # a few jobs ahead of the workers, no more: Ctrl-C drops the rest
                running.add(pool.submit(_run, job))
                while len(running) >= 2 * workers:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    yield from (future.result() for future in done)
            while running:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                yield from (future.result() for future in done)
        except KeyboardInterrupt:
            started = [future for future in running if not future.cancel()]
            yield from (future.result() for future in started)
            raise
