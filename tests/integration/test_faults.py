"""Faults through the real path: the worker under the Lambda emulator reaches S3 through a fault-
injecting proxy (local/fault_proxy.py) in front of the session's moto server. When S3 fails mid-
batch or cannot be reached, the messages it could not finish are handed back for retry; redelivered
(as SQS would), every input ends as exactly one cut-out: none lost, none duplicated, no failure
records for what was only a transient fault."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from local.deployment import LocalDeployment
from local.emulator import LambdaEmulator
from local.events import s3_put_event, sqs_event
from local.fault_proxy import FaultProxy
from tests.integration.buckets import output_keys, sample_bytes, upload

PHOTOS = ("astronaut.jpg", "chelsea.jpg", "coffee.jpg")


@pytest.fixture(scope="module")
def faulty(moto_endpoint: str) -> Iterator[tuple[FaultProxy, LambdaEmulator]]:
    """A second worker whose S3 endpoint is the proxy (same buckets, same moto server)."""
    with FaultProxy(moto_endpoint) as proxy:
        route = {"AWS_ENDPOINT_URL_S3": proxy.url, "AWS_ENDPOINT_URL": proxy.url}
        with LocalDeployment(s3_endpoint=moto_endpoint, extra_env=route) as deployment:
            yield proxy, deployment.emulator(deployment.s3_function)


def uploads(stack, input_prefix: str, folder: str, count: int):
    return [upload(stack, f"{input_prefix}{folder}/{i}-{PHOTOS[i % 3]}", sample_bytes(PHOTOS[i % 3])) for i in range(count)]


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
