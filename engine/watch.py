"""`--watch DIR`: cut out the images that land in a folder, as they land, until Ctrl-C.

A file is taken once it has stopped changing (the same size and modification time on two polls
`interval` apart), so a photo still being copied in is not read half-written; hidden files (an
uploader's `.partial`) are passed over. Each cut-out is named as the S3 worker names them, the
whole input name plus the format's suffix (`a.jpg` -> `a.jpg.png`), so files arriving later can
never take an earlier one's output; one already newer than its input is not made again, so a
restarted watcher picks up where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .files import Job, find_images

Signature = tuple[int, int]  # size, modification time (ns)


def _signature(path: Path) -> Signature | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def target_of(source: Path, relative: Path, out_dir: Path, suffix: str) -> Path:
    return out_dir / relative.with_name(relative.name + suffix)


def _up_to_date(source: Path, target: Path) -> bool:
    try:
        return target.stat().st_size > 0 and target.stat().st_mtime_ns >= source.stat().st_mtime_ns
    except OSError:
        return False


def landed_jobs(
    folder: Path, out_dir: Path, suffix: str, interval: float, sleep: Callable[[float], None] = time.sleep
) -> Iterator[Job]:
    """The jobs of the images landing in `folder` (and already there), forever: each once it has
    settled, once per version of the file."""
    seen: dict[Path, Signature] = {}  # the version of each file last handed out
    settling: dict[Path, Signature] = {}  # what each file looked like on the previous poll
    while True:
        for source, relative in find_images([folder], skip=out_dir).images:
            if any(part.startswith(".") for part in relative.parts):
                continue
            now = _signature(source)
            if now is None or now[0] == 0 or seen.get(source) == now:
                continue
            if settling.get(source) != now:
                settling[source] = now  # changed since the last poll: look again next time
                continue
            seen[source] = now
            target = target_of(source, relative, out_dir, suffix)
            if not _up_to_date(source, target):
                yield Job(source, target)
        sleep(interval)
