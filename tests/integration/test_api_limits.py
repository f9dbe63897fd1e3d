"""The API's two size limits through the local API Gateway (local/api_gateway.py, which refuses
what API Gateway and Lambda refuse), with bodies just under and just over each: the request body
(base64-inflated into a 6 MiB invoke) and the reply (results too large for it are stored and
answered by their presigned URL: a 303, or JSON for clients that ask for it)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
import requests
from PIL import Image

from engine.encode import encode_png
from handler.payload import MAX_REPLY_BODY_BYTES, MAX_REQUEST_BODY_BYTES
from local.api_gateway import ApiGatewayBridge
from local.samples import SAMPLES_DIR
from reliability.memory import photo_jpeg
from tests.integration.buckets import image_size, sample_bytes

JPEG = {"Content-Type": "image/jpeg"}


@pytest.fixture(scope="module")
def gateway(api) -> Iterator[str]:
    with ApiGatewayBridge(api) as bridge:
        yield bridge.url


def padded_jpeg(length: int) -> bytes:
    """A real photo followed by zeros up to `length` bytes (decoders stop at the end-of-image mark)."""
    photo = sample_bytes("astronaut.jpg")
    return photo + bytes(length - len(photo))


def post(gateway: str, body: bytes, query: str = "", **kwargs: object) -> requests.Response:
    return requests.post(f"{gateway}remove{query}", data=body, headers=JPEG, timeout=120, **kwargs)


def test_a_body_at_the_real_limit_is_cut_out(gateway):
    response = post(gateway, padded_jpeg(MAX_REQUEST_BODY_BYTES))

    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == (512, 512)


@pytest.mark.parametrize(
    ("length", "body"),
    [
        (MAX_REQUEST_BODY_BYTES + 1, {"error": "payload_too_large"}),  # the function's coded answer
        (4_718_000, {"message": "Request Too Long"}),  # API Gateway's own: the invoke would pass 6 MiB
        (5_000_000, {"message": "Request Too Long"}),
    ],
)
def test_a_body_over_the_real_limit_gets_413_json(gateway, length, body):
    """4,718,000 bytes used to be a 502: API Gateway's base64 makes them more than the 6 MiB invoke."""
    response = post(gateway, padded_jpeg(length))

    assert response.status_code == 413
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json().items() >= body.items()


def test_a_body_just_over_the_limit_that_reaches_the_function_points_to_uploads(gateway):
    body = post(gateway, padded_jpeg(MAX_REQUEST_BODY_BYTES + 1)).json()

    assert body["error"] == "payload_too_large" and body["upload_route"] == "uploads"
    assert body["limit_bytes"] == MAX_REQUEST_BODY_BYTES


def _mask_png_size(width: int, height: int) -> int:
    """A matte's PNG at compress_level 0 is stored, not deflated: its size depends on its shape alone."""
    return len(encode_png(np.zeros((height, width), np.uint8), 0))


def _photo_with_a_mask_of(width: int, fits: bool) -> bytes:
    """A photo whose compress_level=0 matte is the largest that fits in the reply (or one row more)."""
    height = MAX_REPLY_BODY_BYTES // (width + 1)
    while _mask_png_size(width, height + 1) <= MAX_REPLY_BODY_BYTES:
        height += 1
    while _mask_png_size(width, height) > MAX_REPLY_BODY_BYTES:
        height -= 1
    photo = cv2.resize(cv2.imread(str(SAMPLES_DIR / "chelsea.jpg")), (width, height if fits else height + 1))
    return cv2.imencode(".jpg", photo)[1].tobytes()


def test_a_result_that_just_fits_comes_back_in_the_reply(gateway):
    response = post(gateway, _photo_with_a_mask_of(2000, fits=True), "?output=mask&compress_level=0")

    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    assert len(response.content) <= MAX_REPLY_BODY_BYTES < len(response.content) + 2001
    assert not response.history, "no redirect"


def test_a_result_just_too_large_for_the_reply_is_a_redirect_to_its_stored_copy(gateway):
    photo = _photo_with_a_mask_of(2000, fits=False)

    redirect = post(gateway, photo, "?output=mask&compress_level=0", allow_redirects=False)

    assert redirect.status_code == 303
    stored = requests.get(redirect.headers["Location"], timeout=60)
    assert stored.status_code == 200 and len(stored.content) > MAX_REPLY_BODY_BYTES
    assert Image.open(io.BytesIO(stored.content)).size == image_size(photo)
    assert redirect.json()["result"]["url"] == redirect.headers["Location"]


@pytest.fixture(scope="module")
def phone_photo() -> bytes:
    """A 12 MP photo with sensor noise, as phones write them (a few MB)."""
    return photo_jpeg(12)


def test_a_12_mp_photo_gets_its_cutout_by_url(gateway, phone_photo):
    assert len(phone_photo) <= MAX_REQUEST_BODY_BYTES

    followed = post(gateway, phone_photo)  # requests follows the 303, as curl -L and browsers do

    assert followed.status_code == 200 and followed.history[0].status_code == 303
    with Image.open(io.BytesIO(followed.content)) as cutout:
        assert (cutout.format, cutout.mode, cutout.size) == ("PNG", "RGBA", image_size(phone_photo))
    assert followed.history[0].headers["X-No-Subject"] == "false"


def test_a_client_that_asks_for_json_gets_the_url_in_json(gateway, phone_photo):
    response = requests.post(
        f"{gateway}remove?crop=true",
        data=phone_photo,
        headers={**JPEG, "Accept": "application/json"},
        timeout=120,
        allow_redirects=False,
    )

    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    result = response.json()["result"]
    assert result["media_type"] == "image/png" and result["bytes"] > MAX_REPLY_BODY_BYTES
    assert requests.get(result["url"], timeout=60).content[:8] == b"\x89PNG\r\n\x1a\n"
    assert response.json()["expires_in"] > 0
