"""`python -m infra.redrive --queue-url URL --function ARN`: the failed-events queue, redriven into
the worker once what failed it is fixed (docs/operations.md).

Takes each message of the queue (the template's FailedEventsQueue) and invokes the worker
synchronously with its body, whatever its shape: Lambda's on-failure record of an event that failed
every attempt (UseQueue=false; the worker reads its `requestPayload`), an EventBridge event the rule
could not deliver, or a buffer-queue message received too often (UseQueue=true). A message whose
invocation succeeds is deleted: its images are cut out, or end as failure records if they are the
images' fault. One that fails again is kept (visible again after `--visibility-timeout`) and
printed with the function's error, for the operator to look at; a body that is no event at all
(a poison message) never passes, and is deleted by hand once read. `--dry-run` prints what the
queue holds and changes nothing. Uses the standard AWS configuration (credentials, region,
AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL_LAMBDA).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import Any

import boto3

from handler.sources import UnsupportedEventError, message_object_refs

MAX_PRINTED = 300  # characters of a body or an error in the report


@dataclass
class Report:
    redriven: int = 0
    kept: int = 0
    lines: list[str] = field(default_factory=list)


def describe(body: str) -> str:
    """What a message of the failed-events queue is: the objects it names, read as the worker reads
    them (handler.sources), and for an on-failure record the error of its last attempt."""
    try:
        event = json.loads(body)
    except json.JSONDecodeError:
        return f"not JSON: {body[:MAX_PRINTED]!r}"
    if not isinstance(event, dict):
        return f"not an event: {body[:MAX_PRINTED]!r}"
    error = ""
    if isinstance(event.get("requestPayload"), dict):
        attempts = _mapping(event.get("requestContext")).get("approximateInvokeCount", "?")
        response = event.get("responsePayload")
        last_error = str(response.get("errorMessage", "") if isinstance(response, dict) else response or "")
        error = f" after {attempts} attempts: {last_error[:MAX_PRINTED]}"
    try:
        named = [ref.key for ref in message_object_refs(body).refs]
    except (UnsupportedEventError, KeyError, TypeError, AttributeError, ValueError):  # described, not raised on
        named = []
    return f"objects {named}{error}" if named else f"no object named{error}: {body[:MAX_PRINTED]!r}"


def _mapping(value: object) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one (a malformed message is described, not raised on)."""
    return value if isinstance(value, dict) else {}


def invocation_error(response: dict[str, Any], payload: bytes) -> str | None:
    """The function's error, or None when the invocation succeeded. Lambda says so in FunctionError;
    the Lambda emulator only in the payload (errorType and errorMessage)."""
    try:
        value = json.loads(payload or b"null")
    except ValueError:
        value = None
    if isinstance(value, dict) and "errorType" in value and "errorMessage" in value:
        return f"{value['errorType']}: {str(value['errorMessage'])[:MAX_PRINTED]}"
    if response.get("FunctionError"):
        return f"{response['FunctionError']}: {payload[:MAX_PRINTED]!r}"
    return None


def redrive(
    sqs: Any,
    lambda_client: Any,
    queue_url: str,
    function: str,
    visibility_timeout_s: int = 300,
    dry_run: bool = False,
    limit: int | None = None,
) -> Report:
    """Redrive the queue's messages into `function` (or, with dry_run, only describe them); each
    message is taken once per run (it stays invisible for `visibility_timeout_s` after a failure)."""
    report = Report()
    while limit is None or report.redriven + report.kept < limit:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=visibility_timeout_s
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            body = message["Body"]
            if dry_run:
                report.kept += 1
                report.lines.append(f"{message['MessageId']}: {describe(body)}")
                continue
            response = lambda_client.invoke(FunctionName=function, Payload=body.encode())
            error = invocation_error(response, response["Payload"].read())
            if error is None:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                report.redriven += 1
                report.lines.append(f"{message['MessageId']}: redriven ({describe(body)})")
            else:
                report.kept += 1
                report.lines.append(f"{message['MessageId']}: kept, fails again with {error} ({describe(body)})")
        if dry_run:  # shown, not taken: visible again at once
            for message in messages:
                sqs.change_message_visibility(
                    QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            break
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.redrive", description=__doc__.split("\n\n")[0])
    parser.add_argument("--queue-url", required=True, help="the stack's FailedEventsQueueUrl output")
    parser.add_argument("--function", required=True, help="the stack's RemoverFunctionArn output")
    parser.add_argument("--dry-run", action="store_true", help="print what the queue holds (up to 10), change nothing")
    parser.add_argument("--limit", type=int, default=None, help="redrive at most this many messages")
    parser.add_argument(
        "--visibility-timeout", type=int, default=300, help="seconds a message that fails again stays hidden"
    )
    args = parser.parse_args(argv)
    report = redrive(
        boto3.client("sqs"),
        boto3.client("lambda"),
        args.queue_url,
        args.function,
        visibility_timeout_s=args.visibility_timeout,
        dry_run=args.dry_run,
        limit=args.limit,
    )
    print("\n".join(report.lines))
    if args.dry_run:
        print(f"{report.kept} message(s) shown (at most 10), none changed")
        return 0
    print(f"{report.redriven} redriven, {report.kept} kept in the queue")
    return 1 if report.kept else 0


if __name__ == "__main__":
    sys.exit(main())
