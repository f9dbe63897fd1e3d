"""Redriving the failed-events queue once the deployment is fixed (docs/operations.md), through the
real path: a queue on moto's server holding what the template sends there, `python -m infra.redrive`
invoking the worker under the Lambda emulator through boto3's Lambda client."""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.config import Config

from infra.redrive import redrive
from local.events import s3_put_event
from local.s3_server import REGION
from tests.integration.buckets import output_keys, sample_bytes, upload

POISON = "this is not an S3 notification"


def object_created(bucket: str, key: str) -> dict[str, Any]:
    """An EventBridge "Object Created" event, as the template's rule delivers it."""
    return {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": bucket}, "object": {"key": key}},
    }


def destination_record(event: dict[str, Any]) -> dict[str, Any]:
    """What Lambda sends the on-failure destination for an asynchronous invocation that failed every attempt."""
    return {
        "version": "1.0",
        "timestamp": "2026-12-07T12:00:00.000Z",
        "requestContext": {
            "requestId": "e4b46cbf-b738-4cd4-8d4b-6f2d7d2e1a11",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:stack-RemoverFunction:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "An error occurred (AccessDenied) when calling the PutObject operation"},
    }


def test_every_kind_of_failed_event_is_redriven_and_a_poison_message_stays(stack, worker, input_prefix):
    """The failed-events queue holds three shapes: Lambda's on-failure records (requestPayload
    around the event: UseQueue=false), EventBridge events the rule could not deliver, and buffer
    queue messages (UseQueue=true). The worker refused the first shape as not an event, so a
    redrive of it failed forever."""
    sqs = stack.server.client("sqs")
    queue_url = sqs.create_queue(QueueName="ops-failed-events")["QueueUrl"]
    objects = [upload(stack, f"{input_prefix}redrive/{i}.jpg", sample_bytes("coffee.jpg")) for i in range(3)]
    bodies = [
        json.dumps(destination_record(object_created(stack.input_bucket, objects[0].key))),
        json.dumps(object_created(stack.input_bucket, objects[1].key)),
        json.dumps(destination_record(s3_put_event([objects[2]]))),
        POISON,
    ]
    for body in bodies:
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": REGION}
    lambda_client = boto3.client(
        "lambda",
        endpoint_url=f"http://127.0.0.1:{worker.port}",
        config=Config(retries={"max_attempts": 0}),
        **credentials,
    )

    looked = redrive(sqs, lambda_client, queue_url, "function", dry_run=True)
    report = redrive(sqs, lambda_client, queue_url, "function", visibility_timeout_s=2)

    assert looked.kept == 4 and looked.redriven == 0
    assert any(objects[0].key in line and "AccessDenied" in line and "3 attempts" in line for line in looked.lines)

    out_prefix = stack.variable(stack.s3_function, "OUTPUT_PREFIX")
    assert output_keys(stack) == sorted(f"{out_prefix}{obj.key}.png" for obj in objects)
    assert (report.redriven, report.kept) == (3, 1)
    left = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=3)["Messages"]
    assert [m["Body"] for m in left] == [POISON], "what still fails stays, for the operator to look at"


def test_a_dry_run_describes_malformed_messages_and_leaves_every_message_visible(stack):
    """A message of an unexpected shape (a `detail` or `responsePayload` that is text, `Records`
    null, a record whose `s3` is text) stopped `--dry-run` with a traceback, and the messages it had
    received stayed invisible for the visibility timeout: the operator saw none of the queue."""
    sqs = stack.server.client("sqs")
    queue_url = sqs.create_queue(QueueName="ops-failed-events-malformed")["QueueUrl"]
    bodies = [
        json.dumps({"source": "aws.s3", "detail-type": "Object Created", "detail": "cut short"}),
        json.dumps({"Records": None}),
        json.dumps({"Records": [{"s3": "cut short"}]}),
        json.dumps({**destination_record({"Records": []}), "responsePayload": "Task timed out", "requestContext": 3}),
    ]
    for body in bodies:
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)

    looked = redrive(sqs, None, queue_url, "function", dry_run=True)

    assert looked.kept == 4 and len(looked.lines) == 4
    assert all("no object named" in line for line in looked.lines), looked.lines
    left = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    assert len(left) == 4, "a dry run leaves every message visible"
