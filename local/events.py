"""Events for local runs: which objects an event names, and S3 put events for given objects.

Parsing reuses the handler's own readers (`handler.sources`) and Powertools' Batch Operations
data class, so the local tools seed exactly the objects the function will look for. New S3 put
events are made from the shape of `events/s3-put.json`, with keys URL-encoded as S3 does
(space as `+`).
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from aws_lambda_powertools.utilities.data_classes import S3BatchOperationEvent

from handler.sources import is_batch_operations_job, is_sqs_batch, message_object_refs, object_refs
from handler.storage import ObjectRef

EVENTS_DIR = Path(__file__).resolve().parent.parent / "events"
S3_PUT_EVENT = EVENTS_DIR / "s3-put.json"


@dataclass(frozen=True)
class NewObject:
    """An object just written, as an S3 notification announces it."""

    bucket: str
    key: str
    size: int
    etag: str


def load_event(path: Path) -> dict[str, Any]:
    """A JSON event file."""
    return json.loads(path.read_text(encoding="utf-8"))


def is_api_event(event: dict[str, Any]) -> bool:
    """Whether the event is an API Gateway proxy request."""
    return "httpMethod" in event or "routeKey" in event


def named_objects(event: dict[str, Any]) -> list[ObjectRef]:
    """Objects the event asks the function to process (none for API requests and test events)."""
    if is_api_event(event):
        return []
    if is_batch_operations_job(event):
        return [ObjectRef(t.s3_bucket, t.s3_key, t.s3_version_id) for t in S3BatchOperationEvent(event).tasks]
    if is_sqs_batch(event):
        return [ref for record in event["Records"] for ref in _message_refs(record.get("body", ""))]
    return object_refs(event).refs


def _message_refs(body: str) -> list[ObjectRef]:
    try:
        return message_object_refs(body).refs
    except ValueError:  # a malformed message names nothing; the function reports it
        return []


def s3_put_event(objects: Iterable[NewObject], template: Path = S3_PUT_EVENT) -> dict[str, Any]:
    """An S3 `ObjectCreated:Put` notification with one record per object."""
    shape = load_event(template)["Records"][0]
    records = []
    for index, obj in enumerate(objects):
        record = copy.deepcopy(shape)
        record["s3"]["bucket"].update({"name": obj.bucket, "arn": f"arn:aws:s3:::{obj.bucket}"})
        record["s3"]["object"].update(
            {"key": quote_plus(obj.key, safe="/"), "size": obj.size, "eTag": obj.etag, "sequencer": f"{index:018X}"}
        )
        records.append(record)
    return {"Records": records}


class NoImageRoute(ValueError):
    """A file was given for an event that takes no image."""


def with_body(event: dict[str, Any], body: bytes, content_type: str) -> dict[str, Any]:
    """A copy of an API Gateway POST /remove request with this image as its body (base64, as with
    binary media type `*/*`); NoImageRoute for any other request."""
    route = f"{event.get('httpMethod')} {event.get('path')}"
    if route != "POST /remove":
        raise NoImageRoute(f"{route} takes no image: a file goes to POST /remove or to an event naming S3 objects")
    headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
    headers["Content-Type"] = content_type
    return {
        **event,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def sqs_event(bodies: Iterable[str], template: Path = EVENTS_DIR / "sqs-s3.json") -> dict[str, Any]:
    """An SQS batch (shaped like `events/sqs-s3.json`) with one message per body."""
    shape = load_event(template)["Records"][0]
    records = []
    for index, body in enumerate(bodies):
        record = copy.deepcopy(shape)
        record.update({"messageId": f"message-{index}", "receiptHandle": f"handle-{index}", "body": body})
        records.append(record)
    return {"Records": records}


def batch_job_event(
    objects: Iterable[NewObject], user_arguments: dict[str, str], template: Path = EVENTS_DIR / "batch-ops-v2.json"
) -> dict[str, Any]:
    """An S3 Batch Operations job (schema 2.0, shaped like `events/batch-ops-v2.json`) with one task
    per object and these user arguments (engine options, for the worker)."""
    event = load_event(template)
    shape = event["tasks"][0]
    event["job"]["userArguments"] = dict(user_arguments)
    event["tasks"] = [
        {**shape, "taskId": f"task-{index}", "s3Key": obj.key, "s3Bucket": obj.bucket}
        for index, obj in enumerate(objects)
    ]
    return event
