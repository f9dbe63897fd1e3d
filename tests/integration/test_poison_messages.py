"""Poison messages through the real path: S3 -> SQS (with the template's redrive policy) -> the
worker under the emulator. A message that can never succeed is retried, then lands in the
dead-letter queue (the failure destination) with its body; the good work beside it is done once,
and a bad image is recorded as a failure instead of being retried."""

from __future__ import annotations

import time

from local.queue_trigger import QueueTrigger
from tests.integration.buckets import corrupt_jpeg, output_keys, sample_bytes, upload

POISON = "this is not an S3 notification"


def test_poison_message_ends_in_the_dead_letter_queue_and_good_work_is_done_once(stack, worker, input_prefix):
    out_prefix = stack.variable(stack.s3_function, "OUTPUT_PREFIX")
    failure_prefix = stack.variable(stack.s3_function, "FAILURE_PREFIX")
    with QueueTrigger(stack.server, worker, stack.input_bucket, visibility_timeout_s=1, max_receive_count=2) as trigger:
        trigger.sqs.send_message(QueueUrl=trigger.queue_url, MessageBody=POISON)
        good = upload(stack, f"{input_prefix}poison/coffee.jpg", sample_bytes("coffee.jpg"))
        bad = upload(stack, f"{input_prefix}poison/broken.jpg", corrupt_jpeg())
        expected = sorted([f"{out_prefix}{good.key}.png", f"{failure_prefix}{bad.key}.json"])
        dead: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (dead and output_keys(stack) == expected):
            dead += trigger.dead_letters()
            time.sleep(0.5)

    assert dead == [POISON]
    assert output_keys(stack) == expected
