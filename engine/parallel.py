"""`-j N`: the command line's jobs over N worker processes sharing one queue.

Each worker loads the model once (its initializer) and runs ENGINE_THREADS / N inference threads,
so N workers do not oversubscribe the cores. Workers ignore Ctrl-C: the parent stops handing out
jobs, lets the running ones finish (their outputs are written whole) and reports what was done.
Processes are spawned, not forked: a forked ONNX Runtime with live threads can deadlock. A worker
whose model does not load raises that error from its jobs, into the parent, as a run without -j
would (it must not end its process: that reads as a dead worker).

A worker that dies (killed by the system for lack of memory on a huge photo, a crash in a
decoder) takes the pool down with every image in flight; those are cut out again one at a time in
a fresh worker, so only the image that kills its worker again fails (WORKER_DIED), and the rest
go on in a fresh pool. That lone worker dying before it has started (while it loads the model,
before it takes an image) is no image's fault: every image would fail so, one fresh worker each, so
the run stops with WorkerStartError instead.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from multiprocessing.synchronize import Event

from .files import Job
from .options import Options
from .pipeline import load_model
from .settings import EngineSettings

Record = dict[str, object]
Runner = Callable[[Job, Options, EngineSettings], Record]
WORKER_DIED = "worker_died"  # a record's error: the process cutting the image out ended abruptly
_state: dict[str, object] = {}


class WorkerStartError(Exception):
    """A worker process ended abruptly while starting, before it took an image: no image can be cut
    out so (the command line's, not the API's: a deployment error of `-j` alone)."""


def worker_settings(config: EngineSettings, workers: int) -> EngineSettings:
    """A worker's settings: the inference threads shared out between the workers (at least 1 each)."""
    return replace(config, threads=max(1, config.threads // workers))


def _start_worker(runner: Runner, options: Options, config: EngineSettings, ready: Event) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    _state.update(runner=runner, options=options, config=config)
    try:
        load_model(config, options.model)
    except Exception as exc:  # raised by each job, into the parent: a worker ended here reads as a dead one
        _state["start_error"] = exc
    ready.set()


def _run(job: Job) -> Record:
    if "start_error" in _state:
        raise _state["start_error"]  # type: ignore[misc]
    runner: Runner = _state["runner"]  # type: ignore[assignment]
    return runner(job, _state["options"], _state["config"])  # type: ignore[arg-type]


def died_record(job: Job) -> Record:
    """The record of an image whose worker process died while cutting it out, twice."""
    reason = "the worker process cutting it out ended abruptly (killed for lack of memory, or a crash)"
    return {"input": str(job.source), "output": str(job.target), "ok": False, "error": WORKER_DIED, "reason": reason}


def run_parallel(
    todo: Sequence[Job], options: Options, config: EngineSettings, workers: int, runner: Runner
) -> Iterator[Record]:
    """Each job's record as it finishes (in the order they finish), `workers` at a time. On Ctrl-C
    the jobs not started are dropped, the running ones finish and are yielded, then
    KeyboardInterrupt is raised again: every output written is reported. A dead worker fails only
    the image that kills its worker again when cut out alone (module docstring)."""
    left, initargs = deque(todo), (runner, options, worker_settings(config, workers))
    while left:
        suspects = yield from _pooled(left, workers, 2 * workers, initargs)
        while suspects:  # one at a time, in one worker: the image in flight when it dies is the one
            yield from map(died_record, (yield from _pooled(suspects, 1, 1, initargs)))


def _pooled(
    left: deque[Job], workers: int, ahead: int, initargs: tuple[Runner, Options, EngineSettings]
) -> Generator[Record, None, deque[Job]]:
    """Yield the records of jobs taken from `left`, at most `ahead` handed out at a time (Ctrl-C
    drops the rest), until `left` is empty or a worker dies; return the jobs that were in flight
    when one died (empty when none did). WorkerStartError when the pool's one worker died before it
    had started."""
    context = multiprocessing.get_context("spawn")
    ready = context.Event()  # set by each worker once started (its model loaded, or the error kept)
    with ProcessPoolExecutor(workers, context, _start_worker, (*initargs, ready)) as pool:
        running: dict[Future[Record], Job] = {}
        broken: deque[Job] = deque()
        try:
            while (left or running) and not broken:
                if not _hand_out(pool, left, running, ahead) and not running:
                    break  # it broke with nothing in flight: the caller starts a fresh pool
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                broken += yield from _finished(done, running)
            broken += yield from _finished(wait(running).done, running)  # a broken pool fails all in flight
            if broken and workers == 1 and not ready.is_set():
                raise WorkerStartError(
                    "a worker process ended abruptly while starting (loading the model), before it took an "
                    "image: killed for lack of memory, or a crash. No image can be cut out so: run with a "
                    "smaller -j, or without -j"
                )
            return broken
        except KeyboardInterrupt:
            started = [future for future in running if not future.cancel()]
            yield from (future.result() for future in started if not _died(future))
            raise


def _finished(done: set[Future[Record]], running: dict[Future[Record], Job]) -> Generator[Record, None, list[Job]]:
    """Yield the records of the `done` jobs (taken out of `running`); return those whose worker died."""
    died = []
    for future in done:
        job = running.pop(future)
        if _died(future):
            died.append(job)
        else:
            yield future.result()
    return died


def _hand_out(pool: ProcessPoolExecutor, left: deque[Job], running: dict[Future[Record], Job], ahead: int) -> bool:
    """Submit jobs from `left` until `ahead` are in flight; False when the pool is broken (a job
    refused goes back to the front of `left`)."""
    while left and len(running) < ahead:
        job = left.popleft()
        try:
            running[pool.submit(_run, job)] = job
        except BrokenProcessPool:
            left.appendleft(job)
            return False
    return True


def _died(future: Future[Record]) -> bool:
    """Whether a finished job's worker process died (the pool is broken), not the job itself."""
    return isinstance(future.exception(), BrokenProcessPool)
