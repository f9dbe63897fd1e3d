"""The Python entry point, in rembg's style: `remove(data, **options) -> bytes`, and `cut_out` for the
whole `Cutout` (timings, findings, size).

Options are keyword arguments with the names and spellings of the CLI and the HTTP API
(`background="#ffffff"`, `format="webp"`, `soft_edges=True`): each value is turned into the text the
CLI would pass and parsed by `Options.from_strings`, the one parser of all three entry points, so an
unknown name or a bad value raises the same `InvalidOptionError` with the same message.
"""

from __future__ import annotations

from .options import Options, _as_text
from .pipeline import remove_background
from .result import Cutout


def options_from(values: dict[str, object]) -> Options:
    """Keyword options (text, bool, int, float, an (r, g, b) tuple, None for unset) as `Options`."""
    return Options.from_strings({name: _as_text(value) for name, value in values.items()})


def cut_out(data: bytes, **options: object) -> Cutout:
    """Cut the subject out of encoded image bytes: the encoded result with its size, timings and findings."""
    return remove_background(data, options_from(options))


def remove(data: bytes, **options: object) -> bytes:
    """Cut the subject out of encoded image bytes and return the encoded cut-out (PNG unless `format=`)."""
    return cut_out(data, **options).data
