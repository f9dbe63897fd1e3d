"""S3 access for the handlers: fetch a source, read an earlier result's metadata, write, presign
(GET and PUT URLs, and form uploads with a size cap).

Errors: a missing source object becomes `SourceMissingError`, an archived one not restored
`SourceArchivedError`, one encrypted with its uploader's own key `SourceCustomerEncryptedError`
(`fetch_refusal` reads S3's answer) and an oversized one `SourceTooLargeError`: all permanent.
Every other `ClientError` or connection error propagates: throttling and outages pass on the
caller's retry, and what is true of every object (access denied, a wrong region, a missing bucket)
is the deployment's to fix, after which retried or redriven events pass.
The endpoint comes from the standard AWS configuration (`AWS_ENDPOINT_URL_S3` for a local S3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from engine import finding_text

from .errors import (
    PermanentError,
    SourceArchivedError,
    SourceCustomerEncryptedError,
    SourceMissingError,
    SourceTooLargeError,
)

if TYPE_CHECKING:  # the stubs are a dev requirement (with aws-sam-cli), not in the Lambda image
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import GetObjectRequestTypeDef

_MISSING_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "NotFound", "404"})
# S3's InvalidRequest (400) to a GET of an SSE-C object without its key: matched on the message, as
# InvalidRequest also answers requests the client made wrong (a signature version), for every object.
_SSE_C_REFUSAL = "stored using a form of server side encryption"


@dataclass(frozen=True)
class ObjectRef:
    """An object some event asks us to process."""

    bucket: str
    key: str  # decoded: as stored in S3, not as URL-encoded in the event
    version_id: str | None = None
    etag: str | None = None  # as announced by the event, when it carries one
    sequencer: str | None = None  # S3's per-key event order (hex), when the event carries one


# User metadata of an input object: the engine options its uploader chose, as a query string
# (`crop=true&background=ffffff`; remove.bg's names too, read as the API's query: requests.our_names);
# the API's upload route sets it, the worker applies it.
OPTIONS_METADATA = "options"
# User metadata of an input object uploaded through POST /uploads: the API request's id, which the
# worker's log lines about the object carry (api_request_id), so one search follows an upload.
REQUEST_METADATA = "api-request-id"


@dataclass(frozen=True)
class SourceObject:
    data: bytes
    etag: str
    version_id: str | None
    options: str = ""  # OPTIONS_METADATA of the object, "" when it has none
    request_id: str = ""  # REQUEST_METADATA of the object, "" when it has none
    last_modified: str = ""  # the object's time of writing (ISO 8601, to the second), "" when S3 gave none


def findings_metadata(findings: Mapping[str, float | bool]) -> dict[str, str]:
    """A cut-out's findings as S3 user metadata: `no_subject` -> `no-subject: true`."""
    return {name.replace("_", "-"): finding_text(value) for name, value in findings.items()}


def is_missing(error: ClientError) -> bool:
    """Whether S3 answered 'no such object' (GET says NoSuchKey, HEAD says 404)."""
    return str(error.response.get("Error", {}).get("Code")) in _MISSING_CODES


def fetch_refusal(error: ClientError, ref: ObjectRef) -> PermanentError | None:
    """The permanent failure S3's answer to GetObject means for this object, or None when a retry
    may pass (throttling, outages) or the cause is not the object's (permissions, the bucket)."""
    url = f"s3://{ref.bucket}/{ref.key}"
    code = str(error.response.get("Error", {}).get("Code"))
    if code in _MISSING_CODES:
        return SourceMissingError(f"{url} no longer exists")
    if code == "InvalidObjectState":  # archived: S3 names the class (and Intelligent-Tiering's tier)
        return SourceArchivedError(url, _error_field(error, "StorageClass"), _error_field(error, "AccessTier"))
    message = str(error.response.get("Error", {}).get("Message", ""))
    if code == "InvalidRequest" and _SSE_C_REFUSAL in message.lower():
        return SourceCustomerEncryptedError(url)
    return None


def _error_field(error: ClientError, name: str) -> str | None:
    """A member of S3's error beside Code and Message (botocore puts it at the top and in Error)."""
    value = error.response.get(name) or error.response.get("Error", {}).get(name)
    return str(value) if value else None


def clean_etag(etag: str | None) -> str | None:
    """S3 quotes ETags in headers but not in event notifications; compare them unquoted."""
    return etag.strip('"') if etag else None


class Storage:
    """The few S3 calls the handlers make, on one reused client."""

    def __init__(self, client: S3Client) -> None:
        self._s3 = client

    @classmethod
    def from_env(cls) -> Storage:
        config = Config(
            signature_version="s3v4",
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=5,
            read_timeout=30,
        )
        return cls(boto3.client("s3", config=config))

    def fetch(self, ref: ObjectRef, max_bytes: int) -> SourceObject:
        """Download the object (the version named by the event, when it names one)."""
        params: GetObjectRequestTypeDef = {"Bucket": ref.bucket, "Key": ref.key}
        if ref.version_id:
            params["VersionId"] = ref.version_id
        try:
            response = self._s3.get_object(**params)
        except ClientError as error:
            refusal = fetch_refusal(error, ref)
            if refusal is None:
                raise
            raise refusal from error
        with response["Body"] as body:
            if response["ContentLength"] > max_bytes:
                raise SourceTooLargeError(
                    f"the object is {response['ContentLength']} bytes, over the {max_bytes}-byte limit"
                )
            data = body.read()
        metadata = response.get("Metadata", {})
        return SourceObject(
            data,
            clean_etag(response["ETag"]) or "",
            response.get("VersionId"),
            metadata.get(OPTIONS_METADATA, ""),
            metadata.get(REQUEST_METADATA, "")[:128],
            last_modified.isoformat() if (last_modified := response.get("LastModified")) else "",
        )

    def metadata(self, bucket: str, key: str) -> dict[str, str] | None:
        """User metadata of an existing object, or None when there is no such object."""
        try:
            return self._s3.head_object(Bucket=bucket, Key=key).get("Metadata", {})
        except ClientError as error:
            if is_missing(error):
                return None
            raise

    def put(self, bucket: str, key: str, body: bytes, content_type: str, metadata: dict[str, str]) -> None:
        self._s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, Metadata=metadata)

    def presign_post(
        self, bucket: str, key: str, expires: int, max_bytes: int, fields: dict[str, str]
    ) -> dict[str, Any]:
        """A presigned POST (a browser form upload) of this one key: S3 itself refuses a body over
        `max_bytes` and any `fields` (Content-Type, x-amz-meta-*) other than the ones given."""
        conditions: list[Any] = [{name: value} for name, value in fields.items()]
        conditions.append(["content-length-range", 1, max_bytes])
        return dict(
            self._s3.generate_presigned_post(bucket, key, Fields=fields, Conditions=conditions, ExpiresIn=expires)
        )

    def presign(
        self,
        action: Literal["get_object", "put_object"],
        bucket: str,
        key: str,
        expires: int,
        content_type: str | None = None,
    ) -> str:
        """A URL that lets its holder GET or PUT this one key until it expires."""
        params = {"Bucket": bucket, "Key": key}
        if content_type:
            params["ContentType"] = content_type
        return self._s3.generate_presigned_url(action, Params=params, ExpiresIn=expires)
