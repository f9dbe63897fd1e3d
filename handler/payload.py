"""What fits through a synchronous Lambda invoke behind API Gateway, in body bytes.

Lambda takes at most 6 MiB (6,291,456 bytes) per synchronous invoke on the way in, the whole
event JSON, and 100 bytes more on the way out, the whole proxy response. API Gateway base64-encodes
binary bodies (the API's binary media types are `*/*`), so a body of n bytes takes 4 * ceil(n / 3)
of them, beside an envelope: the headers twice (single- and multi-value), the query string twice,
the request context. A request that does not fit never reaches the function: API Gateway answers
413 `{"message": "Request Too Long"}` itself. A reply that does not fit is a function error (502).

So the largest request body is MAX_REQUEST_BODY_BYTES (4,689,408: it leaves 38 KB of envelope),
and the function answers 413 payload_too_large above it as far as a request reaches it: to where
4 * ceil(n / 3) plus the envelope passes 6 MiB. Through the local gateway with curl's headers (an
envelope of 1,235 bytes) that is 4,717,668 bytes; on AWS, whose request context is larger, a
little less; no body over LARGEST_INVOKE_BODY_BYTES (4,718,592, three quarters of 6 MiB) reaches
it with any headers. Above that API Gateway answers 413 `{"message": "Request Too Long"}` itself,
and over 10 MiB (its own payload limit) it refuses the body outright. A result larger than
MAX_REPLY_BODY_BYTES is stored and answered by URL (api_entry.py). A body that is base64 text inside JSON is inflated
twice: `base64_capacity(MAX_REQUEST_BODY_BYTES)` bytes of image fit.
"""

from __future__ import annotations

INVOKE_REQUEST_BYTES = 6 * 1024 * 1024  # Lambda: "Request must be smaller than 6291456 bytes"
INVOKE_RESPONSE_BYTES = INVOKE_REQUEST_BYTES + 100  # "... maximum allowed payload size (6291556 bytes)"
API_GATEWAY_HEADER_BYTES = 10 * 1024  # API Gateway's limit on the request line and headers together
# Headers and their multi-value copy, the query string's multi-value copy, the request context and path.
REQUEST_ENVELOPE_BYTES = 3 * API_GATEWAY_HEADER_BYTES + 8 * 1024
RESPONSE_ENVELOPE_BYTES = 4 * 1024  # status, headers and the JSON framing around the base64 body


def base64_size(length: int) -> int:
    """Bytes of the base64 text of `length` bytes."""
    return 4 * -(-length // 3)


def base64_capacity(length: int) -> int:
    """The most bytes whose base64 text fits in `length` bytes."""
    return max(0, length) // 4 * 3


LARGEST_INVOKE_BODY_BYTES = base64_capacity(INVOKE_REQUEST_BYTES)  # no larger body reaches the function
MAX_REQUEST_BODY_BYTES = base64_capacity(INVOKE_REQUEST_BYTES - REQUEST_ENVELOPE_BYTES)
MAX_REPLY_BODY_BYTES = base64_capacity(INVOKE_REQUEST_BYTES - RESPONSE_ENVELOPE_BYTES)


def fits_in_reply(length: int) -> bool:
    """Whether a binary body of `length` bytes can be the function's reply itself."""
    return length <= MAX_REPLY_BODY_BYTES
