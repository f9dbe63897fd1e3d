"""Background removal engine: image bytes in, a cut-out (PNG, WebP, JPEG or AVIF) out. Pure Python, no AWS."""

from .decode import INPUT_SUFFIXES
from .errors import (
    CorruptImageError,
    DeploymentError,
    EmptyInputError,
    EngineError,
    ImageTooLargeError,
    InputError,
    InvalidOptionError,
    MemoryBudgetError,
    ModelError,
    ModelIntegrityError,
    ModelNotFoundError,
    SettingError,
    UnknownModelError,
    UnsupportedFormatError,
)
from .formats import FORMATS, OutputFormat
from .library import cut_out, remove
from .options import Options, OutputMode, Size
from .pipeline import check_model, load_model, remove_background
from .result import Cutout, StageTimings, finding_text
from .settings import EngineSettings, settings
from .version import __version__

__all__ = [
    "FORMATS",
    "INPUT_SUFFIXES",
    "CorruptImageError",
    "Cutout",
    "DeploymentError",
    "EmptyInputError",
    "EngineError",
    "EngineSettings",
    "ImageTooLargeError",
    "InputError",
    "InvalidOptionError",
    "MemoryBudgetError",
    "ModelError",
    "ModelIntegrityError",
    "ModelNotFoundError",
    "Options",
    "OutputFormat",
    "OutputMode",
    "SettingError",
    "Size",
    "StageTimings",
    "UnknownModelError",
    "UnsupportedFormatError",
    "__version__",
    "check_model",
    "cut_out",
    "finding_text",
    "load_model",
    "remove",
    "remove_background",
    "settings",
]
