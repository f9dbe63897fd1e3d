"""S3 -> EventBridge -> SQS -> worker on one machine: the template's `UseQueue=true` path.

moto's server sends the input bucket's events to EventBridge, where the template's own rule
(its EventPattern, read from template.yaml) routes "Object Created" events to a queue; a thread
long-polls it and invokes the worker with SQS batch events, as Lambda's event source mapping
would with `ReportBatchItemFailures`: messages the function did not report as failed are
deleted, the others become visible again and are retried; after `max_receive_count` receives
SQS moves a message to the dead-letter queue, as the template's redrive policy does.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Self

from .emulator import Invocation, LambdaEmulator
from .processes import Service
from .s3_server import REGION, S3Endpoint
from .template_config import load_template, object_created_pattern

QUEUE_NAME = "local-buffer-queue"
RULE_NAME = "local-object-created"
TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
DEAD_LETTER_QUEUE_NAME = "local-failed-events"
VISIBILITY_TIMEOUT_S = 30
MAX_RECEIVE_COUNT = 5  # as template.yaml's BufferQueue RedrivePolicy


class QueueTrigger(Service):
    """Feeds the worker from the input bucket's events (through the template's rule) while it runs."""

    def __init__(
        self,
        server: S3Endpoint,
        worker: LambdaEmulator,
        bucket: str,
        batch_size: int = 10,
        visibility_timeout_s: int = VISIBILITY_TIMEOUT_S,
        max_receive_count: int = MAX_RECEIVE_COUNT,
        template: Path = TEMPLATE,
    ):
        self.s3 = server.client("s3")
        self.sqs = server.client("sqs")
        self.events = server.client("events")
        self.worker = worker
        self.bucket = bucket
        self.pattern = object_created_pattern(load_template(template), bucket)
        self.batch_size = batch_size
        self.visibility_timeout_s = visibility_timeout_s
        self.max_receive_count = max_receive_count
        self.queue_url = ""
        self.dead_letter_url = ""
        self.queue_arn = ""
        self.invocations: list[Invocation] = []
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        self.dead_letter_url = self.sqs.create_queue(QueueName=DEAD_LETTER_QUEUE_NAME)["QueueUrl"]
        dead_letter_arn = self.sqs.get_queue_attributes(QueueUrl=self.dead_letter_url, AttributeNames=["QueueArn"])
        redrive = {
            "deadLetterTargetArn": dead_letter_arn["Attributes"]["QueueArn"],
            "maxReceiveCount": self.max_receive_count,
        }
        self.queue_url = self.sqs.create_queue(
            QueueName=QUEUE_NAME,
            Attributes={"VisibilityTimeout": str(self.visibility_timeout_s), "RedrivePolicy": json.dumps(redrive)},
        )["QueueUrl"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        self.queue_arn = attributes["Attributes"]["QueueArn"]
        self.events.put_rule(Name=RULE_NAME, EventPattern=json.dumps(self.pattern))
        self.events.put_targets(Rule=RULE_NAME, Targets=[{"Id": "buffer-queue", "Arn": self.queue_arn}])
        self.s3.put_bucket_notification_configuration(
            Bucket=self.bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
        self._stopping.clear()
        self._thread = threading.Thread(target=self._poll_until_stopped, name="queue-trigger", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self.visibility_timeout_s + 30)
            self._thread = None
        if self.queue_url:
            self.s3.put_bucket_notification_configuration(Bucket=self.bucket, NotificationConfiguration={})
            self.events.remove_targets(Rule=RULE_NAME, Ids=["buffer-queue"])
            self.events.delete_rule(Name=RULE_NAME)
            self.sqs.delete_queue(QueueUrl=self.queue_url)
            self.sqs.delete_queue(QueueUrl=self.dead_letter_url)
            self.queue_url = self.dead_letter_url = ""

    def dead_letters(self) -> list[str]:
        """Bodies of the messages SQS moved to the dead-letter queue (the failure destination)."""
        bodies: list[str] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.dead_letter_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=60
            ).get("Messages", [])
            if not batch:
                return bodies
            bodies.extend(m["Body"] for m in batch)

    def _poll_until_stopped(self) -> None:
        while not self._stopping.is_set():
            self.poll_once()

    def poll_once(self, wait_s: int = 1) -> Invocation | None:
        """Receive up to one batch, invoke the worker with it, delete what succeeded."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=wait_s,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return None
        invocation = self.worker.invoke({"Records": [self._record(message) for message in messages]})
        self.invocations.append(invocation)
        failed = _failed_ids(invocation, messages)
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        return invocation

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        """One message as Lambda's SQS event source hands it to the function."""
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {},
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": REGION,
        }


def _failed_ids(invocation: Invocation, messages: list[dict[str, Any]]) -> set[str]:
    """Messages to retry: those reported in batchItemFailures, or all when the invoke failed."""
    if invocation.function_error:
        return {m["MessageId"] for m in messages}
    return {f["itemIdentifier"] for f in invocation.payload().get("batchItemFailures", [])}
