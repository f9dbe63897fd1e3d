"""Every refusal of the HTTP API is a coded JSON error of the right class, as a client meets it:
proxy events posted to the API function under the Lambda emulator (local/api_gateway.py)."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from urllib.parse import urlencode

import pytest
import requests
from PIL import Image

from handler.payload import LARGEST_INVOKE_BODY_BYTES, MAX_REQUEST_BODY_BYTES
from local.api_gateway import ApiGatewayBridge, ApiResponse, call_api
from tests.integration.buckets import image_size, sample_bytes

JSON = {"Content-Type": "application/json"}
JPEG = {"Content-Type": "image/jpeg"}


def assert_json_error(response: ApiResponse, status: int, code: str) -> dict:
    assert (response.status, response.content_type.split(";")[0]) == (status, "application/json")
    body = response.json()
    assert body["error"] == code
    assert body["message"]
    return body


def test_deeply_nested_json_is_a_bad_request_not_a_crash(api):
    body = ('{"image_file_b64": ' + "[" * 50_000 + "]" * 50_000 + "}").encode()

    response = call_api(api, "POST", "/remove", body, JSON)

    assert_json_error(response, 400, "bad_request")


def test_deeply_nested_json_asking_for_an_upload_is_a_bad_request_too(api):
    body = ('{"filename": ' + "[" * 50_000 + "]" * 50_000 + "}").encode()

    response = call_api(api, "POST", "/uploads", body, JSON)

    assert_json_error(response, 400, "bad_request")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/remove", "POST"),
        ("HEAD", "/remove", "POST"),
        ("PUT", "/remove", "POST"),
        ("DELETE", "/uploads", "POST"),
        ("POST", "/", "GET, HEAD"),
    ],
)
def test_a_wrong_method_on_a_route_is_405_naming_the_allowed_one(api, method, path, allowed):
    response = call_api(api, method, path)

    assert_json_error(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == allowed


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_unknown_route_is_a_coded_404(api, method):
    response = call_api(api, method, "/nope")

    assert_json_error(response, 404, "not_found")


def test_through_the_gateway_a_wrong_method_reaches_the_function_with_or_without_a_key_scheme(stack, api):
    routes = stack.api_routes()
    with ApiGatewayBridge(api, routes=routes) as bridge:
        wrong = requests.get(f"{bridge.url}remove", timeout=60)
        unknown = requests.get(f"{bridge.url}nope/deeper", timeout=60)
    assert (wrong.status_code, wrong.headers["Allow"], wrong.json()["error"]) == (405, "POST", "method_not_allowed")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "not_found")


def test_an_uptime_check_with_head_finds_the_page_and_the_connection_stays_usable(stack, api):
    """HEAD / answers as GET / does, without a body (RFC 9110: a server that has GET has HEAD),
    and the next request on the same keep-alive connection is read as a request, not as a body."""
    with ApiGatewayBridge(api, routes=stack.api_routes()) as bridge, requests.Session() as session:
        head = session.head(bridge.url, timeout=60)
        page = session.get(bridge.url, timeout=60)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["Content-Type"] == page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.status_code == 200 and b"<html" in page.content.lower()


def test_through_the_gateway_a_doubled_slash_is_an_unknown_path_as_documented(stack, api):
    with ApiGatewayBridge(api, routes=stack.api_routes()) as bridge:
        doubled = requests.post(f"{bridge.url}/remove", data=b"\xff\xd8 not read", timeout=60)  # url ends in /
    assert (doubled.status_code, doubled.json()["error"]) == (404, "not_found")


def png_header(width: int, height: int) -> bytes:
    """A PNG file's signature, header and (truncated) data: what a client sends as a 1-bit image of that size
    (the size is all the API reads before it refuses one too large)."""
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        for kind, data in [
            (b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)),
            (b"IDAT", zlib.compress(b"")),
            (b"IEND", b""),
        ]
    )


@pytest.mark.parametrize(("width", "height", "megapixels"), [(10_000, 7_000, "70.0"), (30_000, 30_000, "900.0")])
def test_too_many_megapixels_get_the_same_clean_message_however_many(api, width, height, megapixels):
    response = call_api(api, "POST", "/remove", png_header(width, height), {"Content-Type": "image/png"})

    body = assert_json_error(response, 422, "image_too_large")
    assert body["message"] == f"image is {width}x{height} ({megapixels} MP), over the 64 MP limit"


def form(parts: list[tuple[str, bytes]], boundary: str = "b0undary") -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body of (field name, content) parts, the image fields as files."""
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'.encode()
        + (b'; filename="a.jpg"\r\nContent-Type: image/jpeg' if name in ("image_file", "file") else b"")
        + b"\r\n\r\n"
        + content
        + b"\r\n"
        for name, content in parts
    )
    return body + f"--{boundary}--\r\n".encode(), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


@pytest.mark.parametrize(
    ("parts", "query"),
    [
        ([("image_file", b"JPEG")], {"crop": ["true", "false"]}),
        ([("image_file", b"JPEG"), ("image_file", b"JPEG")], {}),
        ([("image_file", b"JPEG"), ("channels", b"alpha"), ("output", b"cutout")], {}),
        ([("image_file", b"JPEG"), ("crop", b"true"), ("crop", b"false")], {}),
        ([("image_file", b"JPEG"), ("file", b"JPEG")], {}),
    ],
    ids=["query-repeat", "two-files", "alias-and-name", "form-repeat", "both-file-fields"],
)
def test_conflicting_repeats_are_refused_not_last_one_wins(api, parts, query):
    photo = sample_bytes("coffee.jpg")
    body, headers = form([(name, photo if content == b"JPEG" else content) for name, content in parts])

    response = call_api(api, "POST", "/remove", body, headers, query)

    assert_json_error(response, 400, "conflicting_values")


def test_rembgs_server_form_field_file_is_the_image_too(api):
    """api.md says the form is taken as remove.bg's API and rembg's server take it, but rembg's
    server reads its image from the field `file` (curl -F file=@photo.jpg): that form was a 400
    bad_request 'the form has no image_file field'."""
    photo = sample_bytes("coffee.jpg")
    body, headers = form([("file", photo), ("size", b"preview")])

    response = call_api(api, "POST", "/remove", body, headers)

    assert (response.status, response.content_type) == (200, "image/png")
    assert image_size(response.body) == image_size(photo)


def test_the_same_value_twice_is_no_conflict(api):
    body, headers = form([("image_file", sample_bytes("coffee.jpg")), ("channels", b"alpha"), ("output", b"mask")])

    response = call_api(api, "POST", "/remove", body, headers, {"size": ["preview", "preview"]})

    assert (response.status, response.content_type) == (200, "image/png")


@pytest.mark.parametrize(
    ("query", "media_type"),
    [
        ({"size": ["auto"]}, "image/png"),
        ({"size": ["regular"], "format": ["auto"]}, "image/png"),
        ({"size": ["full"], "format": ["auto"], "bg_color": ["green"]}, "image/jpeg"),
        ({"crop": ["true"], "crop_margin": ["10%"]}, "image/png"),
        ({"crop": ["true"], "crop_margin": ["30px"], "bg_color": ["81d4fa"]}, "image/png"),
    ],
)
def test_remove_bg_spellings_are_understood(api, query, media_type):
    response = call_api(api, "POST", "/remove", sample_bytes("coffee.jpg"), {"Content-Type": "image/jpeg"}, query)

    assert (response.status, response.content_type) == (200, media_type), response.body[:200]


def test_a_form_urlencoded_base64_image_is_understood(api):
    encoded = base64.b64encode(sample_bytes("coffee.jpg")).decode()
    body = urlencode({"image_file_b64": encoded, "size": "preview"}).encode()

    response = call_api(api, "POST", "/remove", body, {"Content-Type": "application/x-www-form-urlencoded"})

    assert (response.status, response.content_type) == (200, "image/png")


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [("image/webp;q=0, */*", "image/png"), ("image/webp;q=0.5, image/png", "image/png"), ("*/*", "image/png")],
)
def test_accept_honours_q_and_falls_back_to_png(api, accept, media_type):
    headers = {"Content-Type": "image/jpeg", "Accept": accept}

    response = call_api(api, "POST", "/remove", sample_bytes("coffee.jpg"), headers, {"size": ["preview"]})

    assert (response.status, response.content_type) == (200, media_type)


def animated_gif(frames: int) -> bytes:
    """A GIF of `frames` frames (one frame: a still GIF), a light square moving on a dark ground."""
    images = []
    for index in range(frames):
        image = Image.new("RGB", (96, 64), (20, 30, 40))
        image.paste((230, 200, 80), (10 + 20 * index, 16, 50 + 20 * index, 48))
        images.append(image)
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return out.getvalue()


@pytest.mark.parametrize(("frames", "said"), [(3, "true"), (1, "false")])
def test_an_animated_gif_says_only_its_first_frame_was_cut_out(api, frames, said):
    response = call_api(api, "POST", "/remove", animated_gif(frames), {"Content-Type": "image/gif"})

    assert (response.status, response.headers["X-First-Frame-Only"]) == (200, said)


def test_a_form_over_the_limit_reports_its_image_parts_size(api):
    image = sample_bytes("astronaut.jpg")
    image += bytes(MAX_REQUEST_BODY_BYTES - 1000 - len(image))
    body, headers = form([("image_file", image), ("size", b"preview"), ("note", b"x" * 2000)])
    assert len(body) > MAX_REQUEST_BODY_BYTES

    response = call_api(api, "POST", "/remove", body, headers)

    message = assert_json_error(response, 413, "payload_too_large")["message"]
    assert message.startswith(f"the request is {len(body)} bytes (the image {len(image)}), over the ")


def test_the_coded_413_reaches_as_far_as_lambda_lets_any_body_through(api):
    """Bodies from the handler's limit up to where the base64 event passes Lambda's 6 MiB get the
    function's coded 413; none over LARGEST_INVOKE_BODY_BYTES can reach it, whatever its headers."""
    photo = sample_bytes("astronaut.jpg")
    coded = call_api(api, "POST", "/remove", photo + bytes(4_715_000 - len(photo)), JPEG)
    bare = call_api(api, "POST", "/remove", photo + bytes(LARGEST_INVOKE_BODY_BYTES + 1 - len(photo)), JPEG)

    assert_json_error(coded, 413, "payload_too_large")
    assert (bare.status, bare.json()) == (413, {"message": "Request Too Long"})  # API Gateway's own
    assert LARGEST_INVOKE_BODY_BYTES == 4_718_592  # 3/4 of 6 MiB: the base64 of the body alone fills it
