"""`python -m reliability.fuzz_decode [libFuzzer flags]`: coverage-guided fuzzing of
`engine.decode.decode_image` (atheris).

Seeds are the bad-input corpus (corpus.py: JPEG, PNG, WebP, GIF, truncations, a bomb, odd modes). A
finding is anything but pixels within the cap or one of the engine's typed `InputError`s, or the
process outgrowing `-rss_limit_mb` (a forged header must never buy a huge allocation). `make fuzz`
runs it for FUZZ_SECONDS on a corpus kept in .cache/fuzz; tests/offline/test_decode_atheris.py
runs a short, fixed-seed session.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["PIL", "engine"]):
    from engine.decode import decode_image
    from engine.errors import InputError

MAX_MEGAPIXELS = 4.0
DEFAULT_FLAGS = ("-rss_limit_mb=1024", "-timeout=20", "-max_len=16384")


def check(data: bytes) -> None:
    """The property: pixels within the cap, or a typed refusal that says why."""
    try:
        decoded = decode_image(data, MAX_MEGAPIXELS)
    except InputError as error:
        if not str(error):
            raise AssertionError(f"{type(error).__name__} without a message") from error
        return
    if decoded.bgr.dtype.name != "uint8" or decoded.bgr.ndim != 3 or decoded.bgr.shape[2] != 3:
        raise AssertionError(f"decoded to {decoded.bgr.dtype} {decoded.bgr.shape}")
    if decoded.width * decoded.height > MAX_MEGAPIXELS * 1e6:
        raise AssertionError(f"{decoded.width}x{decoded.height} passed a {MAX_MEGAPIXELS} MP cap")


def write_seeds(folder: Path) -> Path:
    from reliability.corpus import corpus  # noqa: PLC0415  # not instrumented: it only makes the seeds

    for index, case in enumerate(corpus()):
        (folder / f"{index:02d}{Path(case.key).suffix}").write_bytes(case.data)
    return folder


def main(argv: list[str]) -> None:
    """libFuzzer flags pass through; a corpus folder that is empty (or none: a temporary one) gets the seeds."""
    flags = [a for a in argv[1:] if a.startswith("-")]
    folders = [Path(a) for a in argv[1:] if not a.startswith("-")]
    given = {flag.split("=")[0] for flag in flags}
    flags += [flag for flag in DEFAULT_FLAGS if flag.split("=")[0] not in given]
    with tempfile.TemporaryDirectory(prefix="fuzz-seeds-") as scratch:
        folders = folders or [Path(scratch)]
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
            if not any(folder.iterdir()):
                write_seeds(folder)
        atheris.Setup([argv[0], *flags, *map(str, folders)], check)
        atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
