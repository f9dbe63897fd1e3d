"""Faults through the real path: the worker under the Lambda emulator reaches S3 through a fault-
injecting proxy (reliability/fault_proxy.py) in front of the session's moto server. When S3 fails mid-
batch or cannot be reached, the messages it could not finish are handed back for retry; redelivered
(as SQS would), every input ends as exactly one cut-out: none lost, none duplicated, no failure
records for what was only a transient fault. What S3 refuses for good, an object read without the
customer key it was encrypted with (SSE-C, which moto does not enforce: the proxy answers as S3
does), is one failure record and is not handed back."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from local.deployment import LocalDeployment
from local.emulator import LambdaEmulator
from local.events import NewObject, s3_put_event, sqs_event
from reliability.fault_proxy import FaultProxy
from tests.integration.buckets import image_size, output_keys, read_object, sample_bytes, upload

PHOTOS = ("astronaut.jpg", "chelsea.jpg", "coffee.jpg")


@pytest.fixture(scope="module")
def faulty(moto_endpoint: str) -> Iterator[tuple[FaultProxy, LambdaEmulator]]:
    """A second worker whose S3 endpoint is the proxy (same buckets, same moto server)."""
    with FaultProxy(moto_endpoint) as proxy:
        route = {"AWS_ENDPOINT_URL_S3": proxy.url, "AWS_ENDPOINT_URL": proxy.url}
        with LocalDeployment(s3_endpoint=moto_endpoint, extra_env=route) as deployment:
            yield proxy, deployment.emulator(deployment.s3_function)


def uploads(stack, input_prefix: str, folder: str, count: int):
    return [
        upload(stack, f"{input_prefix}{folder}/{i}-{PHOTOS[i % 3]}", sample_bytes(PHOTOS[i % 3])) for i in range(count)
    ]


def failed_indexes(invocation) -> list[int]:
    assert invocation.function_error is None, invocation.payload()
    return sorted(int(f["itemIdentifier"].rsplit("-", 1)[1]) for f in invocation.payload()["batchItemFailures"])


def deliver(worker: LambdaEmulator, bodies: list[str]) -> list[int]:
    """One SQS batch; the indexes of the messages the function handed back."""
    return failed_indexes(worker.invoke(sqs_event(bodies)))


def assert_one_cutout_each(stack, objects) -> None:
    out_prefix = stack.variable(stack.s3_function, "OUTPUT_PREFIX")
    assert output_keys(stack) == sorted(f"{out_prefix}{obj.key}.png" for obj in objects)


def test_s3_failing_mid_batch_hands_back_the_rest_and_redelivery_completes_it(stack, faulty, input_prefix):
    proxy, worker = faulty
    objects = uploads(stack, input_prefix, "midbatch", 6)
    bodies = [json.dumps(s3_put_event([obj])) for obj in objects]

    proxy.fail_after(8)  # the first images get through, then every S3 call answers 503 SlowDown
    try:
        failed = deliver(worker, bodies)
    finally:
        proxy.heal()
    assert 0 < len(failed) < len(objects), "some done before the fault, the rest handed back"
    assert proxy.faults > 0

    assert deliver(worker, [bodies[i] for i in failed]) == []  # SQS redelivers what was handed back
    assert_one_cutout_each(stack, objects)

    assert deliver(worker, bodies) == []  # a duplicate delivery of the whole batch changes nothing
    assert_one_cutout_each(stack, objects)


def test_s3_unreachable_hands_back_everything_and_loses_nothing(stack, faulty, input_prefix):
    proxy, worker = faulty
    objects = uploads(stack, input_prefix, "unreachable", 3)
    bodies = [json.dumps(s3_put_event([obj])) for obj in objects]

    proxy.refuse()
    try:
        invocation = worker.invoke(sqs_event(bodies))
    finally:
        proxy.heal()
    if invocation.function_error is None:  # handed back message by message...
        assert failed_indexes(invocation) == [0, 1, 2]
    # ...or the whole invocation failed, which makes SQS redeliver the whole batch: both lose nothing
    assert output_keys(stack) == []

    assert deliver(worker, bodies) == []
    assert_one_cutout_each(stack, objects)


# S3's answer to a GET of an SSE-C object without the customer key headers (HTTP 400).
SSE_C_REFUSAL = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidRequest</Code>'
    b"<Message>The object was stored using a form of Server Side Encryption. The correct parameters "
    b"must be provided to retrieve the object.</Message><RequestId>4442587FB7D0A2F9</RequestId>"
    b"<HostId>ZmFrZWhvc3RpZA==</HostId></Error>"
)


def test_an_object_encrypted_with_its_uploaders_own_key_is_recorded_not_retried(stack, faulty, input_prefix):
    proxy, worker = faulty
    key = f"{input_prefix}sse-c/coffee.jpg"
    data = sample_bytes("coffee.jpg")
    response = stack.s3.put_object(
        Bucket=stack.input_bucket, Key=key, Body=data, SSECustomerAlgorithm="AES256", SSECustomerKey=os.urandom(32)
    )
    obj = NewObject(stack.input_bucket, key, len(data), response["ETag"].strip('"'))

    proxy.answer_gets(f"/{stack.input_bucket}/{key}", 400, SSE_C_REFUSAL)
    refused = proxy.faults
    try:
        failed = deliver(worker, [json.dumps(s3_put_event([obj]))])
        assert proxy.faults > refused, "the worker's GET met S3's refusal"
    finally:
        proxy.heal()

    assert failed == [], "recorded, not handed back for SQS to redeliver into the dead-letter queue"
    failure_key = f"{stack.variable(stack.s3_function, 'FAILURE_PREFIX')}{key}.json"
    assert output_keys(stack) == [failure_key]
    record = json.loads(read_object(stack, failure_key)[0])
    assert record["reason"] == "source_customer_encrypted" and record["source"]["key"] == key
    assert "SSE-C" in record["message"] and "upload it again" in record["message"]


def test_work_the_deadline_leaves_no_time_for_is_handed_back_not_dropped(stack, worker, moto_endpoint, input_prefix):
    """MIN_REMAINING_MS above the function's whole timeout: the worker must refuse every record
    (the deterministic form of "the deadline is near") and hand all of them back."""
    objects = uploads(stack, input_prefix, "deadline", 2)
    bodies = [json.dumps(s3_put_event([obj])) for obj in objects]
    with LocalDeployment(s3_endpoint=moto_endpoint, extra_env={"MIN_REMAINING_MS": "3600000"}) as deployment:
        hurried = deployment.emulator(deployment.s3_function)
        assert deliver(hurried, bodies) == [0, 1]
        direct = hurried.invoke(s3_put_event(objects))
    assert direct.function_error is not None, "a direct S3 event is failed whole, so Lambda retries it"
    assert output_keys(stack) == []

    assert deliver(worker, bodies) == []  # retried with time to spare: done, once
    assert_one_cutout_each(stack, objects)


def test_deadline_reached_partway_through_a_batch_hands_back_only_the_unstarted(
    stack, worker, moto_endpoint, input_prefix
):
    """Half a second of a 60 s invocation may be spent before the worker stops starting images:
    the first ones are done, the rest are handed back, and redelivery finishes them, once each."""
    objects = uploads(stack, input_prefix, "partway", 12)
    bodies = [json.dumps(s3_put_event([obj])) for obj in objects]
    timeout_ms = worker.config.timeout_s * 1000
    with LocalDeployment(
        s3_endpoint=moto_endpoint, extra_env={"MIN_REMAINING_MS": str(timeout_ms - 500)}
    ) as deployment:
        hurried = deployment.emulator(deployment.s3_function)
        hurried.invoke({"Event": "s3:TestEvent"})  # warm: the deadline below is the invocation's own
        failed = deliver(hurried, bodies)
    done = sorted(set(range(len(objects))) - set(failed))
    assert done and failed, f"some started in time, the rest handed back (done {done})"
    assert done == list(range(len(done))), "records are started in order; only the tail is handed back"
    out_prefix = stack.variable(stack.s3_function, "OUTPUT_PREFIX")
    assert output_keys(stack) == sorted(f"{out_prefix}{objects[i].key}.png" for i in done)

    assert deliver(worker, [bodies[i] for i in failed]) == []
    assert_one_cutout_each(stack, objects)


def test_at_the_shortest_timeout_the_template_takes_a_batch_is_done(stack, moto_endpoint, input_prefix):
    """At Timeout=10 (then the smallest) and MIN_REMAINING_MS=10000 every message was handed back, none done."""
    shortest = int(stack.template["Parameters"]["Timeout"]["MinValue"])
    objects = uploads(stack, input_prefix, "shortest", 3)
    with LocalDeployment(s3_endpoint=moto_endpoint, parameters={"Timeout": str(shortest)}) as deployment:
        brief = deployment.emulator(deployment.s3_function)
        assert brief.config.timeout_s == shortest
        assert deliver(brief, [json.dumps(s3_put_event([obj])) for obj in objects]) == []
    assert_one_cutout_each(stack, objects)


def test_out_of_order_notifications_of_an_overwritten_object_leave_the_newest_cutout(stack, worker, input_prefix):
    """S3 does not order notifications: the newer version's may arrive first. The stale one must
    not bring the old picture back: its sequencer (S3's per-key order) is below the one the
    cut-out was made from. Without sequencers, the worker reads the current object (the input
    bucket is unversioned) and recognises it as already done."""
    key = f"{input_prefix}overwritten/photo.jpg"
    old = upload(stack, key, sample_bytes("astronaut.jpg"))
    new = upload(stack, key, sample_bytes("chelsea.jpg"))
    assert old.etag != new.etag
    events = {obj.etag: s3_put_event([obj]) for obj in (old, new)}
    for obj, sequencer in ((old, "0055AED6DCD90281E5"), (new, "0055AED6DCD90281E6")):
        events[obj.etag]["Records"][0]["s3"]["object"]["sequencer"] = sequencer
    without_order = s3_put_event([old])
    del without_order["Records"][0]["s3"]["object"]["sequencer"]

    newest_first = [worker.invoke(events[obj.etag]).payload()["results"] for obj in (new, old)]
    unordered = worker.invoke(without_order).payload()["results"]

    target = f"{stack.variable(stack.s3_function, 'OUTPUT_PREFIX')}{key}.png"
    assert newest_first == [
        [f"written: {target}"],
        [f"duplicate: {target} (a later write of this key was already processed)"],
    ]
    assert unordered == [f"duplicate: {target} (already made from this object version)"]
    assert output_keys(stack) == [target]
    body, metadata = read_object(stack, target)
    assert metadata["source-etag"] == new.etag
    assert image_size(body) == image_size(sample_bytes("chelsea.jpg"))


def test_a_replaced_photo_whose_notification_has_a_shorter_sequencer_is_cut_out(stack, worker, input_prefix):
    """S3's sequencers differ in length, and AWS's rule for them is to right-pad the shorter with
    zeros and compare as strings: "0062E99A88DC40747" is a later write than "0062E99A88DC407460",
    though it is the smaller number. A photo replaced under its key with such a notification is the
    newer picture and is cut out, not skipped as 'a later write ... already processed'."""
    key = f"{input_prefix}replaced/photo.jpg"
    target = f"{stack.variable(stack.s3_function, 'OUTPUT_PREFIX')}{key}.png"
    results = []
    for name, sequencer in (("astronaut.jpg", "0062E99A88DC407460"), ("chelsea.jpg", "0062E99A88DC40747")):
        event = s3_put_event([upload(stack, key, sample_bytes(name))])
        event["Records"][0]["s3"]["object"]["sequencer"] = sequencer
        results += worker.invoke(event).payload()["results"]

    assert results == [f"written: {target}"] * 2
    body, metadata = read_object(stack, target)
    assert metadata["source-sequencer"] == "0062E99A88DC40747"
    assert image_size(body) == image_size(sample_bytes("chelsea.jpg"))
