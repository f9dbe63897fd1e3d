"""How much CPU other processes used while we measured: timings on a shared machine need it."""

from __future__ import annotations

import time
from types import TracebackType

import psutil


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (idle, iowait and steal excluded)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)


def _own_seconds() -> float:
    """CPU seconds of this process and of the children it has waited for."""
    t = psutil.Process().cpu_times()
    return t.user + t.system + t.children_user + t.children_system


class OtherLoad:
    """Context manager: average cores used by everything but this process (and its children).

    with OtherLoad() as load: ...
    load.cores  # e.g. 0.02 of psutil.cpu_count() cores
    """

    def __init__(self) -> None:
        self.cores = 0.0
        self._start = (0.0, 0.0, 0.0)

    def __enter__(self) -> OtherLoad:
        self._start = (time.monotonic(), _busy_seconds(), _own_seconds())
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        wall0, busy0, own0 = self._start
        wall = max(time.monotonic() - wall0, 1e-9)
        other = (_busy_seconds() - busy0) - (_own_seconds() - own0)
        self.cores = max(0.0, other / wall)


def cpu_count() -> int:
    return psutil.cpu_count() or 1
