"""The HTTP API as API Gateway calls it: proxy events (as in events/api-*.json) posted to the
API function under the Lambda emulator, with moto's S3 server behind presigned URLs."""

from __future__ import annotations

import base64
import io
import json
from http.server import BaseHTTPRequestHandler
from typing import ClassVar

import pytest
import requests
from PIL import Image

from local.api_gateway import ApiResponse, call_api, proxy_event
from local.events import EVENTS_DIR, NewObject, load_event, s3_put_event
from local.processes import BackgroundHTTPServer
from tests.integration.buckets import corrupt_jpeg, image_size, sample_bytes

JPEG = {"Content-Type": "image/jpeg"}


def assert_json_error(response: ApiResponse, status: int, code: str) -> None:
    assert response.status == status
    assert response.content_type.startswith("application/json")
    body = response.json()
    assert body["error"] == code
    assert body["message"]


def test_post_image_returns_a_png_cutout(api):
    source = sample_bytes("chelsea.jpg")

    response = call_api(api, "POST", "/remove", source, JPEG)

    assert response.status == 200
    assert response.content_type == "image/png"
    with Image.open(io.BytesIO(response.body)) as image:
        assert (image.format, image.mode, image.size) == ("PNG", "RGBA", image_size(source))
    assert response.headers["X-Model"]


def test_replayed_api_post_event_applies_its_query_options(api):
    event = load_event(EVENTS_DIR / "api-post.json")
    assert event["queryStringParameters"] == {"crop": "true"}

    response = ApiResponse.from_invocation(api.invoke(event))

    assert response.status == 200
    with Image.open(io.BytesIO(response.body)) as image:
        assert image.mode == "RGBA"
        source = image_size(base64.b64decode(event["body"]))
        assert image.size[0] <= source[0] and image.size[1] <= source[1] and image.size != source


@pytest.mark.parametrize(
    ("body", "query", "status", "code"),
    [
        (b"", {}, 400, "empty_input"),
        (b"JPEG", {"crop": ["sideways"]}, 400, "invalid_option"),
        (b"just some text, not an image", {}, 415, "unsupported_format"),
        (b"CORRUPT", {}, 422, "corrupt_image"),
    ],
)
def test_bad_requests_get_documented_json_errors(api, body, query, status, code):
    payload = {b"JPEG": sample_bytes("coffee.jpg"), b"CORRUPT": corrupt_jpeg()}.get(body, body)

    response = call_api(api, "POST", "/remove", payload, JPEG, query)

    assert_json_error(response, status, code)


def test_page_loads(api):
    response = ApiResponse.from_invocation(api.invoke(load_event(EVENTS_DIR / "api-page.json")))

    assert response.status == 200
    assert response.content_type.startswith("text/html")
    assert b"<title>Background remover</title>" in response.body


def form_upload(upload: dict, data: bytes, name: str = "photo.jpg") -> requests.Response:
    """What a browser's form POST to a presigned upload sends: its fields, then the file."""
    return requests.post(upload["url"], data=upload["fields"], files={"file": (name, data)}, timeout=30)


def test_upload_round_trip_through_s3_and_the_worker_keeps_the_options(stack, api, worker):
    """The upload route used to drop crop, mask and colour: the worker made a default cut-out."""
    query = {"crop": ["true"], "background": ["#00ff00"]}
    ticket = call_api(api, "POST", "/uploads", json.dumps({"filename": "My Photo.JPG"}).encode(), {}, query)
    assert ticket.status == 201
    plan = ticket.json()
    source = sample_bytes("chelsea.jpg")

    assert form_upload(plan["upload"], source).status_code in (200, 204)
    assert requests.get(plan["result"]["url"], timeout=10).status_code == 404
    head = stack.s3.head_object(Bucket=plan["source"]["bucket"], Key=plan["source"]["key"])
    assert head["Metadata"]["options"] == plan["options"] == "background=%2300ff00&crop=true"
    uploaded = NewObject(plan["source"]["bucket"], plan["source"]["key"], len(source), head["ETag"].strip('"'))
    event = s3_put_event([uploaded])  # what S3 then notifies the worker of
    assert worker.invoke(event).payload()["results"][0] == f"written: {plan['result']['key']}"

    result = requests.get(plan["result"]["url"], timeout=10)
    assert result.status_code == 200
    with Image.open(io.BytesIO(result.content)) as image:
        assert image.mode == "RGB", "flattened onto the colour"
        assert image.size[0] < image_size(source)[0] and image.getpixel((0, 0))[1] > 240, "cropped, green margin"


def test_the_upload_is_capped_by_s3_itself(api):
    """A presigned PUT had no size cap: S3 took any size and only the worker refused it. The form's
    policy (what S3 enforces; moto does not) allows one file of at most MAX_INPUT_BYTES, with
    exactly the content type and options the route chose."""
    ticket = call_api(api, "POST", "/uploads", json.dumps({"filename": "a.png"}).encode(), {}, {"crop": ["true"]})
    upload = ticket.json()["upload"]
    policy = json.loads(base64.b64decode(upload["fields"]["policy"]))

    assert upload["method"] == "POST" and upload["max_bytes"] == 50_000_000
    assert ["content-length-range", 1, 50_000_000] in policy["conditions"]
    assert {"Content-Type": "image/png"} in policy["conditions"]
    assert {"x-amz-meta-options": "crop=true"} in policy["conditions"]


def test_bad_upload_options_are_refused_before_any_upload(api):
    ticket = call_api(api, "POST", "/uploads", json.dumps({"filename": "a.png"}).encode(), {}, {"crop": ["maybe"]})

    assert_json_error(ticket, 400, "invalid_option")


def test_upload_options_may_be_members_of_the_json_body_as_on_remove(api):
    """{"filename": "a.png", "crop": true} answered 201 and the crop was dropped without a word: the
    upload's object carried no options, and the worker made a default cut-out. Members beside
    filename are options over the query's, remove.bg's names included, as on /remove."""
    body = json.dumps({"filename": "a.png", "crop": True, "bg_color": "fff", "format": "auto"}).encode()
    ticket = call_api(api, "POST", "/uploads", body, {"Content-Type": "application/json"}, {"crop": ["false"]})

    assert ticket.status == 201
    plan = ticket.json()
    assert plan["options"] == "background=fff&crop=true&format=auto"
    assert plan["upload"]["fields"]["x-amz-meta-options"] == plan["options"]
    assert plan["result"]["key"].endswith("a.png.jpg"), "format=auto on a colour: JPEG"


@pytest.mark.parametrize(
    ("member", "code"),
    [
        ({"crop": "maybe"}, "invalid_option"),
        ({"crop": None}, "invalid_option"),
        ({"image_url": "http://x/a.jpg"}, "url_not_supported"),
    ],
)
def test_bad_upload_options_in_the_body_are_refused_before_any_upload(api, member, code):
    body = json.dumps({"filename": "a.png", **member}).encode()

    assert_json_error(call_api(api, "POST", "/uploads", body, {"Content-Type": "application/json"}), 400, code)


class _CountingPhotoHandler(BaseHTTPRequestHandler):
    """Serves a real photo at any path and counts the requests (there must be none)."""

    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        body = sample_bytes("chelsea.jpg")
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_urls_given_by_callers_are_never_fetched(api):
    """Only bytes are processed: a URL as the body, as JSON or as a query parameter is refused
    (or ignored), and the server it names never sees a request."""
    with BackgroundHTTPServer(_CountingPhotoHandler) as server:
        photo = f"{server.url}photo.jpg"
        assert requests.get(photo, timeout=5).status_code == 200  # it is reachable, from here
        _CountingPhotoHandler.requests.clear()
        as_text = call_api(api, "POST", "/remove", photo.encode(), {"Content-Type": "text/plain"})
        as_json = call_api(
            api, "POST", "/remove", json.dumps({"url": photo}).encode(), {"Content-Type": "application/json"}
        )
        as_field = call_api(
            api, "POST", "/remove", json.dumps({"image_url": photo}).encode(), {"Content-Type": "application/json"}
        )
        as_query = call_api(api, "POST", "/remove", b"", JPEG, {"url": [photo], "image_url": [photo]})
    assert_json_error(as_text, 415, "unsupported_format")
    assert_json_error(as_json, 400, "bad_request")  # a JSON body must carry image_file_b64
    assert_json_error(as_field, 400, "url_not_supported")  # remove.bg's image_url: named, and refused
    assert_json_error(as_query, 400, "url_not_supported")
    assert _CountingPhotoHandler.requests == []


def test_an_unknown_model_is_the_callers_error_naming_the_models_there_are(api):
    """It used to answer 500 "the service is misconfigured" and log a traceback."""
    invocation = api.invoke(proxy_event("POST", "/remove", {"model": ["nope"]}, JPEG, sample_bytes("chelsea.jpg")))
    response = ApiResponse.from_invocation(invocation)

    assert_json_error(response, 400, "unknown_model")
    assert "nope" in response.json()["message"] and "u2netp-int8" in response.json()["message"]
    assert not any("Traceback" in line for line in invocation.function_lines())


@pytest.mark.parametrize("background", ["\u00b2,1,1", "\uff11\uff12\uff13,0,0", "\u0661,2,3"])
def test_a_colour_with_non_ascii_digits_is_an_invalid_option(api, background):
    """'²'.isdigit() is true and int('²') raises: that was a 502; full-width digits passed silently."""
    response = call_api(api, "POST", "/remove", sample_bytes("chelsea.jpg"), JPEG, {"background": [background]})

    assert_json_error(response, 400, "invalid_option")


def test_an_image_without_a_subject_says_so_in_a_header(api):
    uniform = io.BytesIO()
    Image.new("RGB", (320, 240), (90, 120, 150)).save(uniform, "PNG")
    subject = call_api(api, "POST", "/remove", sample_bytes("chelsea.jpg"), JPEG)
    blank = call_api(api, "POST", "/remove", uniform.getvalue(), {"Content-Type": "image/png"})

    assert (subject.status, blank.status) == (200, 200)
    assert subject.headers["X-No-Subject"] == "false" and blank.headers["X-No-Subject"] == "true"
    assert 0 < float(subject.headers["X-Estimated-Error"]) <= 1
    assert float(blank.headers["X-Foreground"]) < 0.01 <= float(subject.headers["X-Foreground"])


def test_slow_compress_levels_are_refused_before_any_work(api):
    """compress_level=9 took 26.6 s of the API's 29 at 64 MP and then answered 413 anyway."""
    slow = api.invoke(proxy_event("POST", "/remove", {"compress_level": ["9"]}, JPEG, sample_bytes("chelsea.jpg")))
    fast = call_api(api, "POST", "/remove", sample_bytes("chelsea.jpg"), JPEG, {"compress_level": ["3"]})

    assert_json_error(ApiResponse.from_invocation(slow), 400, "invalid_option")
    assert "compress_level" in ApiResponse.from_invocation(slow).json()["message"]
    assert not any("remove_background" in line or "ImagesProcessed" in line for line in slow.function_lines())
    assert fast.status == 200
