"""Typed errors of the handlers, as engine/errors.py has them for the engine.

`PermanentError` and its subclasses are facts about the request or the object that no retry will
change: the worker leaves a failure record whose `reason` is the error's `code`, the API answers
with a 4xx (the table in api_entry.py) and the same code. Together with the engine's `InputError`
they are everything a caller is told as a failure of its own; any other exception (S3 throttling
and outages, a broken deployment, too little time left) propagates, so that the caller's retry
mechanism runs.
"""

from __future__ import annotations


class PermanentError(Exception):
    """The request or the object cannot be processed, now or later."""

    code = "permanent_failure"


class SourceMissingError(PermanentError):
    """The object was deleted (or never existed) before we could read it."""

    code = "source_missing"


class SourceTooLargeError(PermanentError):
    """The object is larger than MAX_INPUT_BYTES; it is not downloaded."""

    code = "source_too_large"


class KeyTooLongError(PermanentError):
    """The result's key would exceed S3's 1024-byte limit: a permanent property of the source."""

    code = "key_too_long"


class PayloadTooLargeError(PermanentError):
    """The API request's body is larger than the function can receive: upload it instead."""

    code = "payload_too_large"
