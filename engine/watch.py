"""`--watch DIR`: cut out the images that land in a folder, as they land, until Ctrl-C or SIGTERM.

A file is taken once it has stopped changing: the same size and modification time on two polls
and no change for `settle` seconds, so a photo still being copied in is not read half-written.
Hidden files (an uploader's `.partial`) are passed over. A file that then fails as empty or corrupt
while it is younger than `QUIET_S` is not reported yet: a writer may only have paused, so it is
taken again when it changes, or reported once it has been quiet that long. Outputs are named as in
a batch run (files.py: `a.jpg` -> `a.png`), and one already newer than its input and made with the
same options and model weights (files.is_done) is not made again, so a restarted watcher picks up
where it stopped.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .files import Image, Job, find_images, is_done, target_of

Signature = tuple[int, int]  # size, modification time (ns)
SETTLE_S = 2.0  # default quiet time before a file is taken: copies that stall for less are waited out
QUIET_S = 30.0  # an empty or corrupt file younger than this may still be being written: wait for it


def _signature(path: Path) -> Signature | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


class Watcher:
    """The jobs of the images landing in a folder (and already there): each once it has settled,
    once per version of the file."""

    def __init__(
        self,
        folder: Path,
        out_dir: Path,
        suffix: str,
        interval: float,
        settle: float = SETTLE_S,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        recipe: str | None = None,
    ) -> None:
        self.folder, self.out_dir, self.suffix, self.recipe = folder, out_dir, suffix, recipe
        self.interval, self.settle, self.sleep, self.clock = interval, settle, sleep, clock
        self.seen: dict[Path, Signature] = {}  # the version of each file last handed out
        self.settling: dict[Path, Signature] = {}  # what each file looked like on the previous poll
        self.waiting: dict[Path, Signature] = {}  # failed while young: retried when quiet or changed
        self.gone = False  # the folder was missing on the last poll
        self.targets: set[Path] = set()  # the outputs of the files seen (their dead partials are swept at the end)

    def jobs(self) -> Iterator[Job]:
        while True:
            for image in self._images():
                now = _signature(image.source)
                if now is None or self.seen.get(image.source) == now or not self._settled(image.source, now):
                    continue
                self.seen[image.source] = now
                job = Job(image.source, target_of(image, self.out_dir, self.suffix))
                self.targets.add(job.target)
                if not is_done(job, self.recipe):
                    yield job
            self.sleep(self.interval)

    def _images(self) -> list[Image]:
        """The folder's images now; none while the folder is gone (removed and made again by a sync
        tool, a share remounted), said once on stderr, and watching goes on."""
        try:
            images = find_images([self.folder], skip=self.out_dir).images
        except FileNotFoundError as exc:
            if not self.gone:
                print(f"warning: {exc}: waiting for it to come back", file=sys.stderr)
            self.gone = True
            return []
        self.gone = False
        return images

    def _settled(self, source: Path, now: Signature) -> bool:
        if self.settling.get(source) != now:
            self.settling[source] = now  # changed since the last poll: look again next time
            return False
        quiet = QUIET_S if self.waiting.get(source) == now else self.settle
        return self.clock() - now[1] / 1e9 >= quiet

    def retry_later(self, source: Path) -> bool:
        """Hold back a failure of `source` while it may still be being written (younger than
        QUIET_S); True when it was held back (it is taken again later), False to report it now."""
        now = _signature(source)
        if now is None or self.clock() - now[1] / 1e9 >= QUIET_S:
            return False
        self.seen.pop(source, None)
        self.waiting[source] = now
        return True


def landed_jobs(
    folder: Path,
    out_dir: Path,
    suffix: str,
    interval: float,
    sleep: Callable[[float], None] = time.sleep,
    settle: float = SETTLE_S,
    recipe: str | None = None,
) -> Iterator[Job]:
    """The jobs of a `Watcher` of `folder` (its outputs made with the options of `recipe`), forever."""
    return Watcher(folder, out_dir, suffix, interval, settle, sleep, recipe=recipe).jobs()
