"""Least privilege through the real path: a moto server that enforces IAM, the worker under the
emulator signing with a user that holds exactly the template's policy for it. The worker does its
whole job (cut-out, failure record, a vanished source recorded as such) and those
credentials are refused everything else."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from botocore.exceptions import ClientError

from local.deployment import LocalDeployment
from local.emulator import LambdaEmulator
from local.events import NewObject, s3_put_event
from local.samples import put_object
from local.template_config import function_policy
from tests.integration.buckets import corrupt_jpeg, image_size, sample_bytes


@dataclass
class Locked:
    stack: LocalDeployment
    worker: LambdaEmulator
    credentials: dict[str, str]
    objects: dict[str, NewObject]  # uploaded by the administrator before the checks began

    api_credentials: dict[str, str]

    def client(self, service: str = "s3", credentials: dict[str, str] | None = None):
        """A client signing as the worker's IAM user (or another user's `credentials`)."""
        return self.stack.server.client(service, credentials or self.credentials)


@pytest.fixture(scope="module")
def locked() -> Iterator[Locked]:
    """The template's own configuration (no env.json), on a moto server of its own."""
    with LocalDeployment(env_file=None) as stack:
        policy = function_policy(stack.template, stack.s3_function)
        credentials = stack.server.iam_user("remover-worker", policy)
        api_credentials = stack.server.iam_user("api-signer", function_policy(stack.template, stack.api_function))
        stack.extra_env.update(credentials)
        worker = stack.emulator(stack.s3_function)
        worker.invoke({"Event": "s3:TestEvent"})  # start it before the server starts checking
        prefix = stack.variable(stack.s3_function, "INPUT_PREFIX")
        uploads = {
            "good": (f"{prefix}granted/chelsea.jpg", sample_bytes("chelsea.jpg")),
            "bad": (f"{prefix}granted/broken.jpg", corrupt_jpeg()),
            "private": ("elsewhere/secret.jpg", sample_bytes("coffee.jpg")),
        }
        objects = {name: put_object(stack.s3, stack.input_bucket, key, data) for name, (key, data) in uploads.items()}
        with stack.server.iam_enforced():
            yield Locked(stack, worker, credentials, objects, api_credentials)


def denied(call, **params) -> bool:
    try:
        call(**params)
    except ClientError as error:
        return error.response["Error"]["Code"] in {"AccessDenied", "403"}
    return False


def test_the_templates_policy_is_enough_for_the_whole_job(locked: Locked):
    stack = locked.stack
    prefix = stack.variable(stack.s3_function, "INPUT_PREFIX")
    good, bad = locked.objects["good"], locked.objects["bad"]
    gone = NewObject(stack.input_bucket, f"{prefix}granted/deleted.jpg", 10, "0" * 32)

    results = locked.worker.invoke(s3_put_event([good, bad, gone])).payload()["results"]

    out, failures = (stack.variable(stack.s3_function, name) for name in ("OUTPUT_PREFIX", "FAILURE_PREFIX"))
    assert results[0] == f"written: {out}{good.key}.png"
    assert results[1].startswith("failed: corrupt_image")
    assert results[2].startswith("failed: source_missing")
    s3 = locked.client()
    cutout = s3.get_object(Bucket=stack.output_bucket, Key=f"{out}{good.key}.png")["Body"].read()
    assert image_size(cutout) == image_size(sample_bytes("chelsea.jpg"))
    assert s3.head_object(Bucket=stack.output_bucket, Key=f"{failures}{bad.key}.json")


def test_the_workers_credentials_are_refused_everything_else(locked: Locked):
    stack = locked.stack
    prefix = stack.variable(stack.s3_function, "INPUT_PREFIX")
    s3 = locked.client()
    inp, out = stack.input_bucket, stack.output_bucket
    refused = {
        "read the input bucket outside its prefix": denied(
            s3.get_object, Bucket=inp, Key=locked.objects["private"].key
        ),
        "write the input bucket": denied(s3.put_object, Bucket=inp, Key=f"{prefix}planted.jpg", Body=b"x"),
        "delete an input": denied(s3.delete_object, Bucket=inp, Key=f"{prefix}granted/chelsea.jpg"),
        "write the output bucket outside its prefixes": denied(
            s3.put_object, Bucket=out, Key="site/index.html", Body=b"x"
        ),
        "delete a cut-out": denied(s3.delete_object, Bucket=out, Key="cutouts/anything.png"),
        "list all buckets": denied(s3.list_buckets),
        "change a bucket policy": denied(s3.delete_bucket_policy, Bucket=out),
        "create a bucket": denied(s3.create_bucket, Bucket="exfiltration"),
        "read IAM": denied(locked.client("iam").list_users),
    }
    assert refused == dict.fromkeys(refused, True)


def test_an_unknown_key_is_refused_outright(locked: Locked):
    dummy = locked.stack.server.client()  # moto's dummy credentials: no such IAM user
    with pytest.raises(ClientError) as error:
        dummy.list_objects_v2(Bucket=locked.stack.input_bucket)
    assert error.value.response["Error"]["Code"] in {"InvalidAccessKeyId", "AccessDenied", "403"}


def test_what_the_api_can_presign_is_browser_uploads_their_results_and_its_large_replies(locked: Locked):
    """A presigned URL acts with its signer's permissions; moto cannot check presigned requests
    under IAM, so the API function's policy is exercised with direct calls signed the same way."""
    stack = locked.stack
    prefix = stack.variable(stack.api_function, "INPUT_PREFIX")
    out = stack.variable(stack.api_function, "OUTPUT_PREFIX")
    s3 = locked.client(credentials=locked.api_credentials)
    s3.put_object(Bucket=stack.input_bucket, Key=f"{prefix}uploads/from-a-browser.jpg", Body=b"x")
    with pytest.raises(ClientError) as pending:
        s3.get_object(Bucket=stack.output_bucket, Key=f"{out}{prefix}uploads/from-a-browser.jpg.png")
    assert pending.value.response["Error"]["Code"] == "NoSuchKey", "allowed, only not made yet"
    s3.put_object(Bucket=stack.output_bucket, Key=f"{out}api/0123abcd.png", Body=b"x")  # a large reply
    assert s3.get_object(Bucket=stack.output_bucket, Key=f"{out}api/0123abcd.png")["Body"].read() == b"x"
    refused = {
        "upload outside uploads/": denied(
            s3.put_object, Bucket=stack.input_bucket, Key=f"{prefix}batch/x.jpg", Body=b"x"
        ),
        "read an input": denied(s3.get_object, Bucket=stack.input_bucket, Key=locked.objects["good"].key),
        "read a batch cut-out": denied(
            s3.get_object, Bucket=stack.output_bucket, Key=f"{out}{locked.objects['good'].key}.png"
        ),
        "write a cut-out": denied(
            s3.put_object, Bucket=stack.output_bucket, Key=f"{out}{prefix}uploads/x.png", Body=b"x"
        ),
        "write outside api/": denied(s3.put_object, Bucket=stack.output_bucket, Key=f"{out}elsewhere.png", Body=b"x"),
    }
    assert refused == dict.fromkeys(refused, True)
