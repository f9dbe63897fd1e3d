"""Background removal engine: image bytes in, a cut-out (RGBA PNG) out. Pure Python, no AWS."""

from .decode import INPUT_SUFFIXES
from .errors import (
    CorruptImageError,
    EmptyInputError,
    EngineError,
    ImageTooLargeError,
    InputError,
    InvalidOptionError,
    ModelError,
    ModelIntegrityError,
    ModelNotFoundError,
    UnsupportedFormatError,
)
from .formats import FORMATS, OutputFormat
from .options import Options, OutputMode
from .pipeline import remove_background
from .result import Cutout, StageTimings
from .settings import EngineSettings, settings

__all__ = [
    "FORMATS",
    "INPUT_SUFFIXES",
    "CorruptImageError",
    "Cutout",
    "EmptyInputError",
    "EngineError",
    "EngineSettings",
    "ImageTooLargeError",
    "InputError",
    "InvalidOptionError",
    "ModelError",
    "ModelIntegrityError",
    "ModelNotFoundError",
    "Options",
    "OutputFormat",
    "OutputMode",
    "StageTimings",
    "UnsupportedFormatError",
    "remove_background",
    "settings",
]
