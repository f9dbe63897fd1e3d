"""What the operator on call sees, through the real path (the functions under the Lambda emulator,
moto's server over HTTP): the JSON log lines and EMF metrics the handlers print, for a user's bad
image and for a broken deployment, checked against what template.yaml's alarms watch."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from local.deployment import LocalDeployment
from local.emulator import Invocation, LambdaEmulator
from local.events import s3_put_event, sqs_event
from tests.integration.buckets import output_keys, sample_bytes, upload

MISSING_BUCKET = "deleted-output-bucket"


def log_lines(invocation: Invocation) -> list[dict[str, Any]]:
    """The Powertools JSON log lines of one invocation (not its EMF lines)."""
    found = []
    for line in invocation.function_lines():
        if line.startswith("{"):
            value = json.loads(line)
            if "level" in value:
                found.append(value)
    return found


def emf_blobs(invocation: Invocation) -> list[dict[str, Any]]:
    """The EMF documents one invocation printed (what CloudWatch turns into metrics)."""
    return [json.loads(line) for line in invocation.function_lines() if line.startswith('{"_aws"')]


def emitted(invocation: Invocation) -> dict[str, float]:
    """Metric name -> sum of its values over the invocation's EMF documents, counted once per
    document whatever its dimensions (a metric that is also emitted by reason counts twice)."""
    sums: dict[str, float] = {}
    for blob in emf_blobs(invocation):
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                values = blob[metric["Name"]]
                sums[metric["Name"]] = sums.get(metric["Name"], 0) + sum(
                    values if isinstance(values, list) else [values]
                )
    return sums


@pytest.fixture(scope="module")
def misconfigured(moto_endpoint: str) -> Iterator[LambdaEmulator]:
    """A worker deployed with an output bucket that does not exist (deleted, or mistyped): it starts,
    reads the input, cuts it out and then cannot store anything. The operator's mistake, no user's."""
    with LocalDeployment(extra_env={"OUTPUT_BUCKET": MISSING_BUCKET}, s3_endpoint=moto_endpoint) as deployment:
        yield deployment.emulator(deployment.s3_function)


def test_an_object_handed_back_for_retry_is_logged_at_error_with_its_key_and_reason(stack, misconfigured, input_prefix):
    """A direct event (S3 notification, EventBridge) that fails raises, and the runtime printed a
    plain-text traceback that named neither the object nor a reason an operator can query."""
    source = upload(stack, f"{input_prefix}ops/photo.jpg", sample_bytes("coffee.jpg"))

    direct = misconfigured.invoke(s3_put_event([source]))
    queued = misconfigured.invoke(sqs_event([json.dumps(s3_put_event([source]))]))

    assert direct.function_error is not None, "handed back: Lambda retries the event"
    assert queued.payload() == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
    for invocation in (direct, queued):
        errors = [line for line in log_lines(invocation) if line["level"] == "ERROR"]
        (about_object,) = [line for line in errors if line.get("key") == source.key]
        assert about_object["bucket"] == stack.input_bucket and about_object["reason"] == "NoSuchBucket"
        assert about_object["function_request_id"] and about_object["correlation_id"]
        assert "exception" in about_object  # the traceback, in the same JSON line
        assert all(line.get("reason") for line in errors), errors  # the hand-back lines say why too
    assert output_keys(stack) == [], "no failure record: the image is not at fault"


def test_an_image_is_counted_processed_only_once_its_cutout_is_stored(stack, worker, misconfigured, input_prefix):
    """ImagesProcessed ("worker: cut out" on the dashboard) was counted when the engine finished,
    before the store: a worker that could store nothing charted every retried image as cut out."""
    source = upload(stack, f"{input_prefix}ops/counted.jpg", sample_bytes("coffee.jpg"))

    broken = emitted(misconfigured.invoke(s3_put_event([source])))
    working = emitted(worker.invoke(s3_put_event([source])))

    assert "ImagesProcessed" not in broken and "TotalLatency" not in broken, broken
    assert working["ImagesProcessed"] == 1 and working["TotalLatency"] > 0
