"""Typed errors raised by the engine.

`InputError` and its subclasses mean the *input* is bad (the image, or an option the caller
chose): retrying will not help, so callers record them as permanent failures. `DeploymentError`
and its subclasses mean the deployment is broken (a bad engine setting, a missing or altered model
file): it must fail loudly, at start-up where it can, never be swallowed per image.
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


class MemoryBudgetError(ImageTooLargeError):
    """Decoding and processing the image would need more memory than the budget allows."""

    code = "over_memory_budget"


class InvalidOptionError(InputError):
    code = "invalid_option"


class UnknownModelError(InvalidOptionError):
    """The caller asked for a model this deployment does not have."""

    code = "unknown_model"


class DeploymentError(EngineError):
    """The engine is set up wrongly: no image can be processed until the deployment is fixed."""

    code = "deployment_error"


class SettingError(DeploymentError):
    """An engine environment variable (ENGINE_*) has a value the engine cannot work with."""

    code = "invalid_setting"


class ModelError(DeploymentError):
    """The model named by the settings cannot be loaded as its manifest describes."""

    code = "model_error"


class ModelNotFoundError(ModelError):
    code = "model_not_found"


class ModelIntegrityError(ModelError):
    code = "model_integrity"
