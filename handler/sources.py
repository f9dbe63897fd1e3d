"""Which objects an event names: S3 notifications, EventBridge "Object Created" events, and
either of them as the body of an SQS message. Parsing is Powertools' event source data classes
(notification keys arrive URL-encoded: '+' is a space, %XX an escaped byte, so they are decoded
here; EventBridge keys arrive as stored)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord

from .storage import ObjectRef, clean_etag


class UnsupportedEventError(ValueError):
    """The event (or SQS message body) is not one this function was deployed to receive."""


class MalformedRecordError(UnsupportedEventError):
    """Records of a notification name no object that can be read (a hand-made or cut event)."""


@dataclass(frozen=True)
class NamedObjects:
    """The objects an event names, and what is wrong with each of its records that names none."""

    refs: list[ObjectRef]
    malformed: list[str] = field(default_factory=list)  # "record 2 lacks 'key'"

    def check(self) -> None:
        """MalformedRecordError naming the malformed records, if there are any (raised after the
        others are processed, so that none of them is lost)."""
        if self.malformed:
            raise MalformedRecordError(f"malformed S3 notification record(s): {'; '.join(self.malformed)}")


def is_sqs_batch(event: dict[str, Any]) -> bool:
    records = event.get("Records") or [{}]
    return bool(records[0].get("eventSource") == "aws:sqs")


def is_batch_operations_job(event: dict[str, Any]) -> bool:
    return "invocationSchemaVersion" in event and "tasks" in event


def object_refs(event: dict[str, Any]) -> NamedObjects:
    """The objects created according to an S3 notification or EventBridge event, or the one a
    Lambda on-failure record holds as its `requestPayload`.

    The `s3:TestEvent` S3 sends when a notification is configured names none. Other record types
    (deletions, restores) name none either: the buckets only subscribe to object creation. A
    record without what names an object is listed as malformed; the other records still count.
    """
    if event.get("Event") == "s3:TestEvent":
        return NamedObjects([])
    if isinstance(event.get("requestPayload"), dict) and "requestContext" in event:
        # Lambda's on-failure record of an invocation that failed every attempt, redriven from the
        # failed-events queue (docs/operations.md): the event it wraps is the work.
        return object_refs(event["requestPayload"])
    if "Records" in event:
        named = NamedObjects([])
        for number, record in enumerate(event["Records"], start=1):
            try:
                ref = _record_ref(S3EventRecord(record))
            except KeyError as missing:
                named.malformed.append(f"record {number} lacks {missing}")
            except (TypeError, AttributeError, ValueError) as error:
                named.malformed.append(f"record {number} is not an S3 event record ({error})")
            else:
                named.refs.extend([ref] if ref else [])
        return named
    if event.get("source") == "aws.s3" and "detail" in event:
        notification = S3EventBridgeNotificationEvent(event)
        if notification.detail_type != "Object Created":
            return NamedObjects([])
        detail = notification.detail
        return NamedObjects(
            [
                ObjectRef(
                    bucket=detail.bucket.name,
                    # As stored: S3 URL-encodes keys in its notifications, not in EventBridge events (a
                    # real one carries "2023-08-08T14:03:40.zip"); Powertools' `key` decodes, so a "+"
                    # would become a space.
                    key=str(detail.object["key"]),
                    version_id=detail.object.get("version-id") or None,
                    etag=clean_etag(detail.object.etag),
                    sequencer=detail.object.get("sequencer") or None,
                )
            ]
        )
    raise UnsupportedEventError(f"not an S3 or EventBridge object event (keys: {sorted(event)[:8]})")


def _record_ref(record: S3EventRecord) -> ObjectRef | None:
    """The object an S3 notification record says was created (None for other record types);
    KeyError, TypeError or AttributeError when the record lacks a part of its shape."""
    if not (record.event_source == "aws:s3" and record.event_name.startswith("ObjectCreated:")):
        return None
    return ObjectRef(
        bucket=record.s3.bucket.name,
        key=unquote_plus(record.s3.get_object.key),  # this property does not decode
        version_id=record.s3.get_object.version_id or None,
        etag=clean_etag(record.s3.get_object.etag),
        sequencer=record.s3.get_object.get("sequencer") or None,
    )


def message_object_refs(body: str) -> NamedObjects:
    """The objects named by an SQS message whose body is an S3 or EventBridge event."""
    try:
        event = json.loads(body)
    except json.JSONDecodeError:
        raise UnsupportedEventError("the SQS message body is not JSON") from None
    if not isinstance(event, dict):
        raise UnsupportedEventError("the SQS message body is not a JSON object")
    return object_refs(event)
