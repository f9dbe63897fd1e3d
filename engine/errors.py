"""Typed errors raised by the engine.

`InputError` and its subclasses mean the *input* is bad: retrying will not help, so callers
record them as permanent failures. `ModelError` means the deployment is broken (missing or
altered model file): it must fail loudly, never be swallowed per image.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""

    code = "engine_error"


class InputError(EngineError):
    """The input image (or an option) cannot be processed; retrying will not help."""

    code = "bad_input"


class EmptyInputError(InputError):
    code = "empty_input"


class UnsupportedFormatError(InputError):
    code = "unsupported_format"


class CorruptImageError(InputError):
    code = "corrupt_image"


class ImageTooLargeError(InputError):
    code = "image_too_large"


class InvalidOptionError(InputError):
    code = "invalid_option"


class ModelError(EngineError):
    """The model named by the settings cannot be loaded as its manifest describes."""

    code = "model_error"


class ModelNotFoundError(ModelError):
    code = "model_not_found"


class ModelIntegrityError(ModelError):
    code = "model_integrity"
