"""Background removal engine: image bytes in, RGBA PNG out. Pure Python, no AWS."""

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
from .options import Options, OutputMode
from .pipeline import remove_background
from .result import Cutout, StageTimings
from .settings import EngineSettings, settings

__all__ = [
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
    "OutputMode",
    "StageTimings",
    "UnsupportedFormatError",
    "remove_background",
    "settings",
]
