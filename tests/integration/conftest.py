"""The real path for every integration test: moto's S3 server over HTTP and the functions of
template.yaml (+ events/env.json) under the Lambda Runtime Interface Emulator.

One deployment on the session's moto server (`moto_endpoint`, tests/conftest.py) serves the
whole session, so each function cold-starts once; every test starts from empty buckets, so
replayed events/ files never see another test's objects.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.deployment import LocalDeployment
from local.emulator import LambdaEmulator
from local.s3_server import list_objects

# Small enough to test 413 without building a body over Lambda's own 6 MB payload limit.
API_MAX_BODY_BYTES = 1_000_000


@pytest.fixture(scope="session")
def stack(moto_endpoint: str) -> Iterator[LocalDeployment]:
    """The template's functions on the session's moto server (tests/conftest.py)."""
    extra_env = {"API_MAX_BODY_BYTES": str(API_MAX_BODY_BYTES)}
    with LocalDeployment(extra_env=extra_env, s3_endpoint=moto_endpoint) as deployment:
        yield deployment


@pytest.fixture(autouse=True)
def empty_buckets(stack: LocalDeployment) -> None:
    """Empty input and output buckets before each test (created again if a reset removed them)."""
    stack.create_buckets()
    for bucket in (stack.input_bucket, stack.output_bucket):
        keys = [{"Key": key} for key in list_objects(stack.s3, bucket)]
        if keys:
            stack.s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})


@pytest.fixture(scope="session")
def worker(stack: LocalDeployment) -> LambdaEmulator:
    """The S3 worker (S3, SQS, EventBridge, Batch Operations events) under the emulator."""
    return stack.emulator(stack.s3_function)


@pytest.fixture(scope="session")
def api(stack: LocalDeployment) -> LambdaEmulator:
    """The API function under the emulator."""
    return stack.emulator(stack.api_function)


@pytest.fixture(scope="session")
def api_max_body_bytes() -> int:
    """The API function's body limit in this deployment (API_MAX_BODY_BYTES)."""
    return API_MAX_BODY_BYTES


@pytest.fixture(scope="session")
def input_prefix(stack: LocalDeployment) -> str:
    return stack.variable(stack.s3_function, "INPUT_PREFIX")
