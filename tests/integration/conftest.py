"""The real path for every integration test: moto's S3 server over HTTP (started once per session,
by local.s3_server as every local tool starts it) and the functions of template.yaml
(+ events/env.json) under the Lambda Runtime Interface Emulator, or their entry points in process.

One deployment on the session's moto server serves the whole session, so each function
cold-starts once; every test of it starts from empty buckets, so replayed events/ files never see
another test's objects. The in-process entry points (test_handler_*.py) get the same server,
emptied, with the buckets and variables of events/env.json.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from local.deployment import LocalDeployment
from local.emulator import LambdaEmulator
from local.s3_server import REGION, LocalS3, create_buckets, list_objects
from tests.integration.in_process import (
    INPUT_BUCKET,
    OUTPUT_BUCKET,
    SAMPLES_DIR,
    LambdaContext,
    function_environment,
)


@pytest.fixture(scope="session")
def local_s3() -> Iterator[LocalS3]:
    """moto's server (S3, SQS, IAM, ...) for the whole test session."""
    with LocalS3() as server:
        yield server


@pytest.fixture(scope="session")
def moto_endpoint(local_s3: LocalS3) -> str:
    """URL of the session's moto server."""
    return local_s3.endpoint


@pytest.fixture(scope="session")
def stack(moto_endpoint: str) -> Iterator[LocalDeployment]:
    """The template's functions on the session's moto server."""
    with LocalDeployment(s3_endpoint=moto_endpoint) as deployment:
        yield deployment


@pytest.fixture(autouse=True)
def empty_buckets(request: pytest.FixtureRequest) -> None:
    """Empty input and output buckets before each test of the deployment (created again if a reset
    removed them)."""
    if "stack" not in request.fixturenames:
        return
    stack: LocalDeployment = request.getfixturevalue("stack")
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
def input_prefix(stack: LocalDeployment) -> str:
    return stack.variable(stack.s3_function, "INPUT_PREFIX")


@pytest.fixture(scope="session")
def aws_environment(local_s3: LocalS3) -> Iterator[dict[str, str]]:
    """For the in-process entry points: dummy credentials pointing at the session's moto server,
    and both functions' variables from events/env.json."""
    variables = {
        **function_environment("RemoverFunction"),
        **function_environment("ApiFunction"),
        **local_s3.function_environment(),
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL_SQS": local_s3.endpoint,
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield variables
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def s3(aws_environment: dict[str, str], local_s3: LocalS3) -> Any:
    """A boto3 S3 client on an emptied moto server holding empty input and output buckets."""
    local_s3.reset()
    client = local_s3.client()
    create_buckets(client, (INPUT_BUCKET, OUTPUT_BUCKET))
    return client


@pytest.fixture(scope="session")
def sample_images() -> dict[str, bytes]:
    """The bundled sample photos by file name (`astronaut.jpg`, `chelsea.jpg`, `coffee.jpg`)."""
    return {path.name: path.read_bytes() for path in sorted(SAMPLES_DIR.glob("*.jpg"))}


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()
