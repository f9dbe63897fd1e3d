"""Which objects an event names: S3 notifications, EventBridge "Object Created" events, and
either of them as the body of an SQS message. Parsing is Powertools' event source data classes
(notification keys arrive URL-encoded: '+' is a space, %XX an escaped byte, so they are decoded
here; EventBridge keys arrive as stored)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event, S3EventBridgeNotificationEvent

from .storage import ObjectRef, clean_etag


class UnsupportedEventError(ValueError):
    """The event (or SQS message body) is not one this function was deployed to receive."""


def is_sqs_batch(event: dict[str, Any]) -> bool:
    records = event.get("Records") or [{}]
    return bool(records[0].get("eventSource") == "aws:sqs")


def is_batch_operations_job(event: dict[str, Any]) -> bool:
    return "invocationSchemaVersion" in event and "tasks" in event


def object_refs(event: dict[str, Any]) -> list[ObjectRef]:
    """The objects created according to an S3 notification or EventBridge event.

    The `s3:TestEvent` S3 sends when a notification is configured names none. Other record types
    (deletions, restores) name none either: the buckets only subscribe to object creation.
    """
    if event.get("Event") == "s3:TestEvent":
        return []
    if "Records" in event:
        return [
            ObjectRef(
                bucket=record.s3.bucket.name,
                key=unquote_plus(record.s3.get_object.key),  # this property does not decode
                version_id=record.s3.get_object.version_id or None,
                etag=clean_etag(record.s3.get_object.etag),
                sequencer=record.s3.get_object.get("sequencer") or None,
            )
            for record in S3Event(event).records
            if record.event_source == "aws:s3" and record.event_name.startswith("ObjectCreated:")
        ]
    if event.get("source") == "aws.s3" and "detail" in event:
        notification = S3EventBridgeNotificationEvent(event)
        if notification.detail_type != "Object Created":
            return []
        detail = notification.detail
        return [
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
    raise UnsupportedEventError(f"not an S3 or EventBridge object event (keys: {sorted(event)[:8]})")


def message_object_refs(body: str) -> list[ObjectRef]:
    """The objects named by an SQS message whose body is an S3 or EventBridge event."""
    try:
        event = json.loads(body)
    except json.JSONDecodeError:
        raise UnsupportedEventError("the SQS message body is not JSON") from None
    if not isinstance(event, dict):
        raise UnsupportedEventError("the SQS message body is not a JSON object")
    return object_refs(event)
