"""Shared fixtures: a real moto S3 server, the environment the functions get (events/env.json),
sample images and events, and a Lambda context with a controllable deadline.

Fixtures for handler tests import the entry modules only after the environment is in place,
because the handlers read their settings once, at import (as on a Lambda cold start).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
EVENTS_DIR = ROOT / "events"
SAMPLES_DIR = ROOT / "samples"
INPUT_BUCKET, OUTPUT_BUCKET = "input-bucket", "output-bucket"


def load_event(name: str) -> dict[str, Any]:
    """A sample event from events/ (fresh copy: tests may change it)."""
    return json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """URL of a moto server (S3, SQS, ...) running for the whole test session."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(endpoint, process)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_until_up(endpoint: str, process: subprocess.Popen, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with code {process.returncode}")
        try:
            requests.get(f"{endpoint}/moto-api/", timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"moto server did not answer on {endpoint} within {timeout_s} s")


def function_environment(logical_id: str) -> dict[str, str]:
    """The variables events/env.json gives one function of template.yaml."""
    return dict(json.loads((EVENTS_DIR / "env.json").read_text())[logical_id])


@pytest.fixture(scope="session")
def aws_environment(moto_endpoint: str) -> Iterator[dict[str, str]]:
    """Dummy credentials, the moto endpoint, and both functions' variables from events/env.json."""
    variables = {
        **function_environment("RemoverFunction"),
        **function_environment("ApiFunction"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": moto_endpoint,
        "AWS_ENDPOINT_URL_SQS": moto_endpoint,
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
def s3(aws_environment: dict[str, str], moto_endpoint: str):
    """A boto3 S3 client on an emptied moto server holding empty input and output buckets."""
    import boto3

    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    for bucket in (INPUT_BUCKET, OUTPUT_BUCKET):
        client.create_bucket(Bucket=bucket)
    return client


@pytest.fixture(scope="session")
def sample_images() -> dict[str, bytes]:
    """The bundled sample photos by file name (`astronaut.jpg`, `chelsea.jpg`, `coffee.jpg`)."""
    return {path.name: path.read_bytes() for path in sorted(SAMPLES_DIR.glob("*.jpg"))}


@dataclass
class LambdaContext:
    """What the Lambda runtime passes as `context`, with a deadline the test chooses."""

    remaining_ms: int = 60_000
    function_name: str = "bg-remover-test"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:bg-remover-test"
    memory_limit_in_mb: int = 2048
    aws_request_id: str = "5f3bb8b3-1b1e-4e0c-9d5e-0c0ffee00001"
    log_group_name: str = "/aws/lambda/bg-remover-test"
    log_stream_name: str = "2025/01/15/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()
