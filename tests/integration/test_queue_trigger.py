"""Objects stored in the input bucket reach the worker the asynchronous way: moto's S3 server sends
its events to EventBridge, the template's rule routes them to a queue, and the worker gets SQS
batches (the template's UseQueue=true path)."""

from __future__ import annotations

import json
import time

from local.queue_trigger import QueueTrigger
from tests.integration.buckets import corrupt_jpeg, output_keys, read_object, sample_bytes, upload


def wait_for_keys(stack, wanted: set[str], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not wanted <= set(output_keys(stack)):
        assert time.monotonic() < deadline, f"still missing: {wanted - set(output_keys(stack))}"
        time.sleep(0.2)


def test_uploads_are_cut_out_via_s3_notifications_and_sqs(stack, worker, input_prefix):
    output_prefix = stack.variable(stack.s3_function, "OUTPUT_PREFIX")
    failure_prefix = stack.variable(stack.s3_function, "FAILURE_PREFIX")
    with QueueTrigger(stack.server, worker, stack.input_bucket) as trigger:
        good = upload(stack, f"{input_prefix}queued/café + crème ☕ 2.jpg", sample_bytes("chelsea.jpg"))
        bad = upload(stack, f"{input_prefix}queued/broken.jpg", corrupt_jpeg())
        upload(stack, "elsewhere/ignored.jpg", sample_bytes("coffee.jpg"))
        wait_for_keys(stack, {f"{output_prefix}{good.key}.png", f"{failure_prefix}{bad.key}.json"})

    _, metadata = read_object(stack, f"{output_prefix}{good.key}.png")
    assert metadata["source-etag"] == good.etag
    assert json.loads(read_object(stack, f"{failure_prefix}{bad.key}.json")[0])["reason"] == "corrupt_image"
    assert all(i.function_error is None for i in trigger.invocations)
    assert all(i.payload() == {"batchItemFailures": []} for i in trigger.invocations)
    assert not any("ignored" in key for key in output_keys(stack))


def test_every_case_of_every_image_suffix_reaches_the_worker(stack, worker, input_prefix):
    """S3's notification filters are case-sensitive: `.Jpg` or `.Tiff` never triggered the worker.
    The template's EventBridge rule matches the suffixes in any case; other files stay out."""
    output_prefix = stack.variable(stack.s3_function, "OUTPUT_PREFIX")
    names = ["mixed.Jpg", "upper.JPEG", "odd.pNg", "shot.Tif"]
    with QueueTrigger(stack.server, worker, stack.input_bucket) as trigger:
        photos = [upload(stack, f"{input_prefix}cases/{name}", sample_bytes("coffee.jpg")) for name in names]
        upload(stack, f"{input_prefix}cases/notes.txt", b"not an image")
        wait_for_keys(stack, {f"{output_prefix}{photo.key}.png" for photo in photos})

    assert not any(key.endswith("notes.txt.json") for key in output_keys(stack)), "no event for other files"
    assert all(i.function_error is None for i in trigger.invocations)
