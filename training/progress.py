"""A progress line with rate and ETA for long CPU steps."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, what: str, total: int, every: float = 10.0) -> None:
        self.what, self.total, self.every = what, total, every
        self.count, self.start, self.last = 0, time.monotonic(), 0.0

    def step(self, note: str = "") -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.last >= self.every or self.count == self.total:
            self.last = now
            elapsed = now - self.start
            eta = elapsed / self.count * (self.total - self.count)
            print(
                f"{self.what}: {self.count}/{self.total} {elapsed:.0f}s elapsed, ETA {eta:.0f}s {note}",
                file=sys.stderr,
                flush=True,
            )

    def done(self) -> None:
        print(f"{self.what}: {self.count} done in {time.monotonic() - self.start:.0f}s", file=sys.stderr, flush=True)
