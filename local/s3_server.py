"""A local S3 (moto's server in a child process on 127.0.0.1) and a boto3 client for it."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config

from .processes import ManagedProcess, ProcessStartError, Service, start_listening

REGION = "us-east-1"
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # moto's documented dummy credentials, local only  # nosec B105
    "AWS_SESSION_TOKEN": "testing",  # nosec B105
}
HOST = "127.0.0.1"


@dataclass(frozen=True)
class StoredObject:
    """One object as a listing shows it."""

    bucket: str
    key: str
    size: int
    etag: str
    modified: str


class S3Endpoint:
    """An S3 API on some URL (moto's server): clients for it and the variables that point a
    function's AWS SDK at it."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    def client(self, service: str = "s3", credentials: dict[str, str] | None = None) -> Any:
        """A boto3 client for this server (path-style addressing), signing with `credentials`
        (AWS_* variables, e.g. from `iam_user`) or the dummy ones."""
        credentials = credentials or DUMMY_CREDENTIALS
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=credentials.get("AWS_SESSION_TOKEN") or None,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def iam_user(self, name: str, policy: dict[str, Any]) -> dict[str, str]:
        """An IAM user of this server with one inline policy; its credentials as AWS_* variables
        (no session token: moto would take the key for an assumed role's)."""
        iam = self.client("iam")
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return {
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
            "AWS_SESSION_TOKEN": "",  # empty: overrides the dummy token, the SDK then sends none  # nosec B105
        }

    def reset(self) -> None:
        """Forget every bucket, object, queue and IAM user (moto's reset)."""
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=10).raise_for_status()

    @contextmanager
    def iam_enforced(self) -> Iterator[None]:
        """Inside the block moto authorises every request against its IAM users' policies (an
        unknown key, the dummy one included, is refused); outside it nothing is checked."""
        self._set_unchecked_requests("0")
        try:
            yield
        finally:
            self._set_unchecked_requests("inf")

    def _set_unchecked_requests(self, count: str) -> None:
        response = requests.post(f"{self.endpoint}/moto-api/reset-auth", data=count, timeout=10)
        response.raise_for_status()

    def function_environment(self) -> dict[str, str]:
        """Variables that point a function's AWS SDK at this server."""
        return {
            **DUMMY_CREDENTIALS,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_ENDPOINT_URL": self.endpoint,
        }


class LocalS3(S3Endpoint, Service):
    """moto's server on a free port of 127.0.0.1, stopped (with its process group) on exit."""

    def __init__(self, python: str = sys.executable, workdir: Path | None = None, attempts: int = 3):
        super().__init__("")
        self.python = python
        self.workdir = workdir or Path.cwd()
        self.attempts = attempts
        self._process: ManagedProcess | None = None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise ProcessStartError("the S3 server is not running")
        return self._process.pid

    def start(self) -> LocalS3:
        env = {"PATH": "/usr/bin:/bin", **DUMMY_CREDENTIALS}

        def command(ports: list[int]) -> list[str]:
            return [self.python, "-m", "moto.server", "-H", HOST, "-p", str(ports[0])]

        self._process, (port,) = start_listening(command, 1, env, self.workdir, "moto", HOST, self.attempts)
        self.endpoint = f"http://{HOST}:{port}"
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None


def create_buckets(s3: Any, names: Iterable[str]) -> None:
    """Create each bucket unless it exists already."""
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for name in sorted(set(names) - existing):
        s3.create_bucket(Bucket=name)


def list_objects(s3: Any, bucket: str, prefix: str = "") -> dict[str, StoredObject]:
    """Every object of a bucket under a prefix, by key."""
    found: dict[str, StoredObject] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"]] = StoredObject(
                bucket, item["Key"], int(item["Size"]), item["ETag"].strip('"'), item["LastModified"].isoformat()
            )
    return found


def new_objects(before: dict[str, StoredObject], after: dict[str, StoredObject]) -> list[StoredObject]:
    """Objects that appeared or changed between two listings, by key."""
    return [obj for key, obj in sorted(after.items()) if before.get(key) != obj]


def download(s3: Any, obj: StoredObject, folder: Path) -> Path:
    """Save an object as folder/bucket/key (a key can never climb out of the folder)."""
    target = (folder / obj.bucket / obj.key).resolve()
    if not target.is_relative_to(folder.resolve()):
        raise ValueError(f"refusing to write {obj.key!r} outside {folder}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(s3.get_object(Bucket=obj.bucket, Key=obj.key)["Body"].read())
    return target
