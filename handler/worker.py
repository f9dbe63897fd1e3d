"""One object from the input bucket to one cut-out in the output bucket, whatever event named it.

`Worker.process` returns a `Result` for everything that will never succeed on retry (ignored
objects, duplicate deliveries, and the engine's `InputError`s and our `PermanentError`s, errors.py:
bad images, vanished, archived, SSE-C or oversized objects, which leave a JSON failure record beside the outputs
with the error's `code` as its reason) and raises for everything that might (S3 throttling and outages, a
broken model deployment, too little time left), so that the caller's retry mechanism runs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol
from urllib.parse import parse_qsl, quote

from engine import InputError, InvalidOptionError, Options
from engine.pipeline import recorded_recipe

from .errors import PermanentError
from .keys import failure_key, output_key
from .observability import (
    logger,
    record_cutout,
    record_error,
    record_failure,
    record_skip,
    retry_reason,
    traced_removal,
    tracer,
)
from .requests import our_names
from .settings import HandlerSettings
from .storage import ObjectRef, Storage, findings_metadata

MAX_METADATA_BYTES = 2048  # S3's limit on an object's user metadata: names and values, UTF-8
_MAX_METADATA_KEY_CHARS = 1024  # of the source key in a failure record's metadata (its body has it whole)
_HEX = re.compile(r"[0-9A-Fa-f]+")  # an S3 sequencer


class Outcome(StrEnum):
    WRITTEN = "written"  # a new cut-out was stored
    DUPLICATE = "duplicate"  # the cut-out of this object version (and options) already exists
    IGNORED = "ignored"  # not ours to process: our own output, another bucket or prefix
    FAILED = "failed"  # permanent failure, recorded; retrying would not help


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    detail: str  # the output key, or the reason code of a skip or failure
    message: str = ""

    def describe(self) -> str:
        return f"{self.outcome.value}: {self.detail}" + (f" ({self.message})" if self.message else "")


class OutOfTimeError(Exception):
    """Too little of the invocation is left to start another image; it must be retried later."""


class LambdaContextLike(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


def ensure_time_left(context: LambdaContextLike | None, min_remaining_ms: int) -> None:
    """Raise OutOfTimeError when the invocation has less than `min_remaining_ms` left."""
    if context is not None and context.get_remaining_time_in_millis() < min_remaining_ms:
        raise OutOfTimeError(f"less than {min_remaining_ms} ms left in this invocation")


class Worker:
    """Processes objects named by S3, SQS, EventBridge or Batch Operations events."""

    def __init__(self, settings: HandlerSettings, storage: Storage) -> None:
        self.settings = settings
        self.output_bucket = settings.require_output_bucket()
        self.storage = storage

    def process(self, ref: ObjectRef, options: Options | None = None) -> Result:
        with logger.append_context_keys(bucket=ref.bucket, key=ref.key, version_id=ref.version_id):
            try:
                result = self._process(ref, options or self.settings.default_options)
            except Exception as error:  # not the object's fault: S3, permissions, a broken deployment
                reason = retry_reason(error)
                logger.exception("object not processed; it is handed back for retry", extra={"reason": reason})
                record_error(reason)
                raise
            else:
                logger.info("processed object", extra={"outcome": result.outcome.value, "detail": result.detail})
                return result
            finally:
                logger.remove_keys(["api_request_id"])  # set by _process for an upload of the API's

    def ignore_reason(self, ref: ObjectRef) -> str | None:
        """Why this object is not ours to process, or None when it is."""
        s = self.settings
        if ref.bucket == self.output_bucket and ref.key.startswith((s.output_prefix, s.failure_prefix)):
            return "own_output"
        if s.input_bucket and ref.bucket != s.input_bucket:
            return "other_bucket"
        if not ref.key.startswith(s.input_prefix):
            return "outside_input_prefix"
        if ref.key.endswith("/"):  # the S3 console's "Create folder": an empty object named like a folder
            return "folder_marker"
        return None

    def _process(self, ref: ObjectRef, options: Options) -> Result:
        reason = self.ignore_reason(ref)
        if reason:
            record_skip(reason)
            return Result(Outcome.IGNORED, reason)
        etag, written = ref.etag, None
        try:
            target, wanted, recorded = self._plan(ref.key, options)
            if _made_from(recorded, ref.etag, wanted) and _same_write(recorded, ref.sequencer):
                return self._duplicate(target)  # a redelivery: known without reading the object
            if _superseded(recorded, ref.sequencer):
                record_skip("superseded")
                return Result(Outcome.DUPLICATE, target, "a later write of this key was already processed")
            with tracer.provider.in_subsegment("## fetch"):
                source = self.storage.fetch(ref, self.settings.max_input_bytes)
            etag, written = source.etag, source.last_modified
            if source.request_id:  # uploaded through POST /uploads: this object's lines name its request
                logger.append_keys(api_request_id=source.request_id)
            if source.options:  # the uploader's own options (the API's upload route) come last
                options = options.merged(_query(source.options))
                target, wanted, recorded = self._plan(ref.key, options, target, recorded)
            if _made_from(recorded, etag, wanted):
                return self._duplicate(target)
            cutout = traced_removal(source.data, options, self.settings.engine)
        except (InputError, PermanentError) as error:  # the engine's and our own permanent failures
            return self._fail(ref, etag, error, written)
        metadata = _within_limit(
            {
                **_source_metadata(ref.bucket, ref.key, source.etag, source.version_id),
                **({"source-sequencer": ref.sequencer} if ref.sequencer else {}),
                "model": cutout.model_id,
                "options": wanted,
                "size": f"{cutout.width}x{cutout.height}",
                "timings": json.dumps(cutout.timings.as_dict(), separators=(",", ":")),
                **findings_metadata(cutout.findings()),
            }
        )
        with tracer.provider.in_subsegment("## store"):
            self.storage.put(self.output_bucket, target, cutout.data, cutout.media_type, metadata)
        record_cutout(cutout)
        return Result(Outcome.WRITTEN, target)

    def _plan(
        self, key: str, options: Options, known: str | None = None, recorded: dict[str, str] | None = None
    ) -> tuple[str, str, dict[str, str] | None]:
        """(output key, recipe, metadata of the output already there) for these options; the
        metadata is read again only when the key is not `known`. The recipe names the weights of
        the model the options ask for, which is loaded for it (once per process, as a cut-out would)."""
        target = output_key(key, self.settings.output_prefix, options.output_format.suffix)
        if target != known:
            with tracer.provider.in_subsegment("## check_output"):
                recorded = self.storage.metadata(self.output_bucket, target)
        return target, recorded_recipe(options, self.settings.engine), recorded

    def _duplicate(self, target: str) -> Result:
        record_skip("duplicate")
        return Result(Outcome.DUPLICATE, target, "already made from this object version")

    def _fail(
        self, ref: ObjectRef, etag: str | None, error: InputError | PermanentError, written: str | None = None
    ) -> Result:
        """Record a permanent failure beside the outputs and report it; a redelivery of the same
        failure (same object version, same write of the key, same reason) keeps the first record
        and is counted as a skip, not as a second failed image. `written` is the object's time of
        writing, when it was read: without S3's sequencer it tells a re-upload of the same bytes."""
        code = error.code
        key = failure_key(ref.key, self.settings.failure_prefix)
        metadata = {
            **_source_metadata(ref.bucket, ref.key, etag, ref.version_id),
            **({"source-sequencer": ref.sequencer} if ref.sequencer else {}),
            **({"source-last-modified": written} if written else {}),
            "reason": code,
        }
        with tracer.provider.in_subsegment("## check_failure"):
            recorded = self.storage.metadata(self.output_bucket, key)
        if _same_failure(recorded, metadata):
            logger.info("permanent failure already recorded", extra={"reason": code})
            record_skip("duplicate_failure")
            return Result(Outcome.FAILED, code, str(error))
        logger.warning("permanent failure", extra={"reason": code, "error": str(error)})
        record_failure(code)
        record = {
            "source": {"bucket": ref.bucket, "key": ref.key, "etag": etag, "version_id": ref.version_id},
            "reason": code,
            "message": str(error),
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        body = json.dumps(record, ensure_ascii=False, indent=2).encode()
        with tracer.provider.in_subsegment("## record_failure"):
            self.storage.put(self.output_bucket, key, body, "application/json", metadata)
        return Result(Outcome.FAILED, code, str(error))


def _query(text: str) -> dict[str, str]:
    """Options written as a query string (object metadata), or InvalidOptionError; read as the API's
    query is (`our_names`: remove.bg's names such as bg_color and channels too), and an option given
    twice with different values, by one name or two, is ConflictingValuesError, as there."""
    try:
        fields = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise InvalidOptionError(f"the object's options metadata is not a query string: {text[:100]!r}") from None
    return our_names(fields, " in the object's options metadata")


def _within_limit(metadata: dict[str, str]) -> dict[str, str]:
    """The output's metadata, with its source-key shortened (ending in "...") when the whole would
    pass S3's MAX_METADATA_BYTES: the output key holds the source key whole. Every other value is
    bounded (the recipe by Options.recorded_recipe)."""
    excess = sum(len(name.encode()) + len(value.encode()) for name, value in metadata.items()) - MAX_METADATA_BYTES
    if excess <= 0:
        return metadata
    key = metadata["source-key"]
    kept = re.sub(r"%[0-9A-Fa-f]?$", "", key[: max(0, len(key) - excess - 3)])  # no escape cut in two
    return {**metadata, "source-key": kept + "..."}


def _made_from(recorded: dict[str, str] | None, etag: str | None, wanted: str) -> bool:
    """Whether an existing output was made from this object version with these options."""
    return bool(recorded and etag and recorded.get("source-etag") == etag and recorded.get("options") == wanted)


def _same_write(recorded: dict[str, str] | None, sequencer: str | None) -> bool:
    """Whether an event names the write of the key an existing output was made from, as far as its
    sequencer tells: a new write of the same bytes has the same ETag but may carry other options in
    its metadata, so it must be read before it can be taken for done. Without a sequencer (Batch
    Operations, a replayed event) no write can be told from another."""
    return sequencer is None or (recorded or {}).get("source-sequencer") == sequencer


def _same_failure(recorded: dict[str, str] | None, metadata: dict[str, str]) -> bool:
    """Whether an existing failure record is this one's: the same object version (ETag, and the
    version id, S3's sequencer of the write and the object's time of writing where they are known)
    and the same reason. A record without an ETag to compare never is."""
    fields = ("source-etag", "source-version-id", "source-sequencer", "source-last-modified", "reason")
    return bool(recorded and metadata.get("source-etag") and all(recorded.get(f) == metadata.get(f) for f in fields))


def _superseded(recorded: dict[str, str] | None, sequencer: str | None) -> bool:
    """Whether the existing output came from a later write of the key than the event's. S3 does
    not deliver notifications in order; per key, the greater sequencer is the later event, its
    sequencers differ in length, and S3's rule is to right-pad the shorter with zeros and compare
    as strings (not as numbers: "0062E99A88DC40747" is later than "0062E99A88DC407460"). This
    matters when the input bucket is versioned (the event's version is fetched, and an older one
    must not replace a newer cut-out) and for a key written again (whose new picture is cut out)."""
    theirs = (recorded or {}).get("source-sequencer")
    if not (theirs and sequencer and _HEX.fullmatch(theirs) and _HEX.fullmatch(sequencer)):
        return False  # not hex: no order can be told, so process as usual
    width = max(len(theirs), len(sequencer))
    return theirs.upper().ljust(width, "0") > sequencer.upper().ljust(width, "0")


def _source_metadata(bucket: str, key: str, etag: str | None, version_id: str | None) -> dict[str, str]:
    """Where a result came from, as S3 user metadata (ASCII only: the key is percent-encoded)."""
    metadata = {"source-bucket": bucket, "source-key": quote(key, safe="/")[:_MAX_METADATA_KEY_CHARS]}
    if etag:
        metadata["source-etag"] = etag
    if version_id:
        metadata["source-version-id"] = version_id
    return metadata
