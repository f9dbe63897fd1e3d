"""How `make serve`'s bridge reads a request body: as API Gateway would take it, never a traceback
with no reply (a bad Content-Length), never a dropped body (chunked transfer), never more read than
API Gateway's 10 MB quota."""

from __future__ import annotations

import io
from email.message import Message
from http import HTTPStatus

import pytest

from local.api_gateway import GATEWAY_MAX_BYTES, read_body


def headers(**values: str) -> Message:
    message = Message()
    for name, value in values.items():
        message[name.replace("_", "-")] = value
    return message


def test_a_body_of_the_stated_length_is_read() -> None:
    assert read_body(headers(Content_Length="5"), io.BytesIO(b"hello, and more")) == b"hello"
    assert read_body(headers(), io.BytesIO(b"")) == b""


def test_a_chunked_body_is_read_whole() -> None:
    stream = io.BytesIO(b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n")
    assert read_body(headers(Transfer_Encoding="chunked"), stream) == b"hello, world"


@pytest.mark.parametrize("length", ["abc", "-5", "1e3"])
def test_a_bad_content_length_is_a_bad_request(length: str) -> None:
    assert read_body(headers(Content_Length=length), io.BytesIO(b"x")) is HTTPStatus.BAD_REQUEST


def test_a_body_over_the_gateways_quota_is_refused_before_it_is_read() -> None:
    stream = io.BytesIO(b"")  # nothing to read: a refusal must not try
    assert read_body(headers(Content_Length=str(GATEWAY_MAX_BYTES + 1)), stream) is HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    chunked = io.BytesIO(f"{GATEWAY_MAX_BYTES + 1:x}\r\n".encode())
    assert read_body(headers(Transfer_Encoding="chunked"), chunked) is HTTPStatus.REQUEST_ENTITY_TOO_LARGE
