"""What both entry points do once, at cold start: the handler's settings read, the default model
loaded, the S3 client made.

What fails it is the deployment's (a bad variable, a model not baked in): logged as one JSON ERROR
line with its reason, then raised, so that the start fails and Lambda counts it as an error.
"""

from __future__ import annotations

from engine import load_model

from .observability import logger, retry_reason
from .settings import HandlerSettings, load_settings
from .storage import Storage


def start() -> tuple[HandlerSettings, Storage]:
    """The settings (a bad variable fails here) and the storage, with the default model loaded (a
    model not baked in fails here too)."""
    try:
        settings = load_settings()
        load_model(settings.engine, settings.default_options.model)
        return settings, Storage.from_env()
    except Exception as error:
        logger.exception("the function cannot start: the deployment is broken", extra={"reason": retry_reason(error)})
        raise
