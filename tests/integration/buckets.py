"""Reading and writing the local buckets the way a user of the deployed service would."""

from __future__ import annotations

import io

from PIL import Image

from local.deployment import LocalDeployment
from local.events import NewObject
from local.samples import SAMPLES_DIR, put_object


def sample_bytes(name: str) -> bytes:
    return (SAMPLES_DIR / name).read_bytes()


def image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def upload(stack: LocalDeployment, key: str, data: bytes) -> NewObject:
    """Store an object in the input bucket, as a client would before S3 notifies the worker."""
    return put_object(stack.s3, stack.input_bucket, key, data)


def read_object(stack: LocalDeployment, key: str) -> tuple[bytes, dict[str, str]]:
    """Body and user metadata of an object of the output bucket."""
    response = stack.s3.get_object(Bucket=stack.output_bucket, Key=key)
    return response["Body"].read(), response["Metadata"]


def output_keys(stack: LocalDeployment) -> list[str]:
    listing = stack.s3.list_objects_v2(Bucket=stack.output_bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def corrupt_jpeg() -> bytes:
    """A JPEG cut off after its first kilobyte: the right signature, unreadable pixels."""
    return sample_bytes("coffee.jpg")[:1024]
