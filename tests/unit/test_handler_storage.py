"""Which of S3's answers to GetObject are facts about the object that no retry changes (a
`PermanentError`, so a failure record) and which may pass later (re-raised, so the platform retries).
The answers are S3's as botocore parses them; the real path is in tests/integration."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from handler.errors import SourceArchivedError, SourceCustomerEncryptedError, SourceMissingError
from handler.storage import ObjectRef, fetch_refusal

REF = ObjectRef("input-bucket", "incoming/photo.jpg")


def s3_error(status: int, code: str, message: str, **fields: Any) -> ClientError:
    """A GetObject error as botocore raises it: the error's own members beside Code and Message."""
    response: Any = {
        "Error": {"Code": code, "Message": message, **fields},
        "ResponseMetadata": {"HTTPStatusCode": status},
        **fields,
    }
    return ClientError(response, "GetObject")


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"StorageClass": "GLACIER"}, "GLACIER"),
        ({"StorageClass": "DEEP_ARCHIVE"}, "DEEP_ARCHIVE"),
        ({"StorageClass": "INTELLIGENT_TIERING", "AccessTier": "ARCHIVE_ACCESS"}, "ARCHIVE_ACCESS"),
        ({"StorageClass": "INTELLIGENT_TIERING", "AccessTier": "DEEP_ARCHIVE_ACCESS"}, "DEEP_ARCHIVE_ACCESS"),
        ({}, "archive"),  # S3 names the class; without it the message still says what to do
    ],
)
def test_an_archived_object_is_a_permanent_failure_that_says_how_to_get_it_processed(fields, named) -> None:
    error = s3_error(403, "InvalidObjectState", "The operation is not valid for the object's storage class", **fields)

    refusal = fetch_refusal(error, REF)

    assert isinstance(refusal, SourceArchivedError) and refusal.code == "source_archived"
    message = str(refusal)
    assert "s3://input-bucket/incoming/photo.jpg" in message and named in message
    assert "restore" in message.lower() and "storage class" in message


# S3's answer to a GET without the customer key headers of an object stored with SSE-C.
SSE_C_REFUSAL = (
    "The object was stored using a form of Server Side Encryption. "
    "The correct parameters must be provided to retrieve the object."
)


def test_an_object_encrypted_with_its_uploaders_own_key_is_a_permanent_failure() -> None:
    refusal = fetch_refusal(s3_error(400, "InvalidRequest", SSE_C_REFUSAL), REF)

    assert isinstance(refusal, SourceCustomerEncryptedError) and refusal.code == "source_customer_encrypted"
    assert "s3://input-bucket/incoming/photo.jpg" in str(refusal) and "SSE-C" in str(refusal)


@pytest.mark.parametrize(
    "message",
    [  # InvalidRequest answers that are about the request or the client, and so about every object
        "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
        "Requests specifying Server Side Encryption with AWS KMS managed keys require AWS Signature Version 4.",
        "S3 Transfer Acceleration is not configured on this bucket",
    ],
)
def test_other_invalid_requests_are_left_to_the_retry(message) -> None:
    assert fetch_refusal(s3_error(400, "InvalidRequest", message), REF) is None


@pytest.mark.parametrize("code", ["NoSuchKey", "NoSuchVersion", "NotFound", "404"])
def test_a_missing_object_is_a_permanent_failure(code) -> None:
    assert isinstance(fetch_refusal(s3_error(404, code, "The specified key does not exist."), REF), SourceMissingError)


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (503, "SlowDown", "Please reduce your request rate."),
        (500, "InternalError", "We encountered an internal error. Please try again."),
        (404, "NoSuchBucket", "The specified bucket does not exist"),
        (400, "ExpiredToken", "The provided token has expired."),
        (
            301,
            "PermanentRedirect",
            "The bucket you are attempting to access must be addressed using the specified endpoint.",
        ),
        # No s3:GetObject, a bucket policy's deny, or no kms:Decrypt on an SSE-KMS object's key: S3
        # answers all of them alike, and most are the deployment's, true of every object.
        (403, "AccessDenied", "Access Denied"),
        # A customer managed key disabled or pending deletion: its owner can undo either.
        (400, "KMS.DisabledException", "arn:aws:kms:us-east-1:123456789012:key/k is disabled."),
        (400, "KMS.KMSInvalidStateException", "arn:aws:kms:us-east-1:123456789012:key/k is pending deletion."),
        (400, "KMS.ThrottlingException", "Rate exceeded"),
    ],
)
def test_errors_that_may_pass_later_or_affect_every_object_are_left_to_the_retry(status, code, message) -> None:
    assert fetch_refusal(s3_error(status, code, message), REF) is None
