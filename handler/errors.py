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

    def details(self) -> dict[str, object]:
        """What a caller needs besides the message to do better (fields of the API's JSON error)."""
        return {}


class SourceMissingError(PermanentError):
    """The object was deleted (or never existed) before we could read it."""

    code = "source_missing"


class SourceTooLargeError(PermanentError):
    """The object is larger than MAX_INPUT_BYTES; it is not downloaded."""

    code = "source_too_large"


class SourceArchivedError(PermanentError):
    """The object is in an archive storage class or tier (S3 Glacier Flexible Retrieval, Deep Archive,
    Intelligent-Tiering's archive tiers) and not restored: S3 refuses to read it (InvalidObjectState)
    until someone restores it, which takes hours and is the user's choice and cost, not a retry's."""

    code = "source_archived"

    def __init__(self, url: str, storage_class: str | None, access_tier: str | None) -> None:
        where = ", ".join(filter(None, [storage_class, access_tier])) or "an archive"
        super().__init__(
            f"{url} is archived ({where}) and not restored, or its restore has not finished, so it cannot be "
            "read: restore it (S3 RestoreObject), then copy it over itself in a storage class that is not an "
            "archive (STANDARD), which processes it as a new upload, or name it in an S3 Batch Operations job"
        )


class SourceCustomerEncryptedError(PermanentError):
    """The object is encrypted with a key its uploader provided (SSE-C): S3 hands it over only to a
    request carrying that key, which this service never has, so no retry or setting can read it."""

    code = "source_customer_encrypted"

    def __init__(self, url: str) -> None:
        super().__init__(
            f"{url} is encrypted with a key its uploader provided (SSE-C), which this service is never given, "
            "so S3 will not hand it over: upload it again without SSE-C (the bucket encrypts it with its own keys)"
        )


class KeyTooLongError(PermanentError):
    """The result's key would exceed S3's 1024-byte limit: a permanent property of the source."""

    code = "key_too_long"


class PayloadTooLargeError(PermanentError):
    """The API request's body is larger than the function can receive: upload it instead."""

    code = "payload_too_large"

    def __init__(self, length: int, limit: int, image_length: int | None = None) -> None:
        """`length`: the request body's bytes; `image_length`: its image's, where the body is a form."""
        size = f"the image is {length} bytes" if image_length in (None, length) else (
            f"the request is {length} bytes (the image {image_length})"
        )  # fmt: skip
        super().__init__(
            f"{size}, over the {limit}-byte limit of this route (API Gateway sends it "
            "base64-encoded, a third larger, in a 6 MiB request); POST /uploads for an upload URL instead"
        )
        self.limit = limit

    def details(self) -> dict[str, object]:
        return {"limit_bytes": self.limit, "upload_route": "uploads"}


class ResultTooLargeError(PermanentError):
    """The result is too large for the reply and there is no output bucket to answer by URL."""

    code = "result_too_large"

    def __init__(self, length: int) -> None:
        super().__init__(
            f"the result is {length} bytes, too large for a synchronous reply, and this deployment has no "
            "OUTPUT_BUCKET to answer by URL; ask for crop=true or output=mask, or POST /uploads"
        )


class BadRequestError(PermanentError):
    """The request is not in a form the route reads (a form without the image, JSON that is not an object)."""

    code = "bad_request"


class UrlNotFetchedError(PermanentError):
    """The request names an image by URL: this service never fetches URLs (no server-side requests).
    `where` names where an S3 object's options gave it (its metadata, a Batch Operations job's
    arguments), whose fix is another than the API's."""

    code = "url_not_supported"

    def __init__(self, where: str = "") -> None:
        if where:
            read = "the object itself; leave image_url out"
        else:
            read = (
                "the image sent to it; send it as the body, as the image_file form field or as image_file_b64 "
                "in a JSON object"
            )
        super().__init__(f"image_url{where} is not fetched: this service reads only {read}")


class RouteNotFoundError(PermanentError):
    """No route of the API has this path."""

    code = "not_found"

    def __init__(self, path: str) -> None:
        super().__init__(f"no route {path}: the API serves GET /, POST /remove and POST /uploads")


class MethodNotAllowedError(PermanentError):
    """The path is a route of the API, but not for this method (the answer's Allow names those that are)."""

    code = "method_not_allowed"

    def __init__(self, method: str, path: str, allowed: list[str]) -> None:
        super().__init__(f"{path} does not take {method}; it takes {', '.join(allowed)}")
        self.allowed = allowed


class ConflictingValuesError(BadRequestError):
    """The request gives one thing twice, differently (`crop=true&crop=false`, two image_file parts,
    `channels=alpha` beside `output=cutout`): neither is taken silently."""

    code = "conflicting_values"
