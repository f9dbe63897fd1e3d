"""Output formats, phone inputs and remove.bg's request forms through the real path: the API
function under the emulator (and behind the local gateway, as an HTTP client sends them), and the
worker writing a non-PNG format under its own key and media type."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import requests
from PIL import Image

from local.api_gateway import ApiGatewayBridge, call_api
from local.events import EVENTS_DIR, load_event, s3_put_event
from tests.integration.buckets import image_size, read_object, sample_bytes, upload
from tests.integration.test_api import assert_json_error
from tests.integration.test_s3_events import one_task_jobs, seed_event_objects

DATA = Path(__file__).resolve().parents[1] / "data"


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_a_form_upload_through_the_gateway_gives_a_preview_matte(api):
    source = sample_bytes("coffee.jpg")  # 600x400: the preview is 0.24 MP, at most 0.25
    with ApiGatewayBridge(api) as bridge:
        response = requests.post(
            f"{bridge.url}remove",
            files={"image_file": ("coffee.jpg", source, "image/jpeg")},
            data={"size": "preview", "channels": "alpha"},
            timeout=60,
        )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "image/png"
    image = _open(response.content)
    assert image.mode == "L" and image.width * image.height <= 250_000
    assert image.width / image.height == 1.5


def test_json_base64_with_a_format_answers_that_format(api):
    document = {"image_file_b64": base64.b64encode(sample_bytes("chelsea.jpg")).decode(), "format": "webp"}
    response = call_api(api, "POST", "/remove", json.dumps(document).encode(), {"Content-Type": "application/json"})
    assert response.status == 200 and response.content_type == "image/webp"
    image = _open(response.body)
    assert (image.format, image.mode, image.size) == ("WEBP", "RGBA", image_size(sample_bytes("chelsea.jpg")))


def test_accept_chooses_avif_and_a_heic_photo_is_read(api):
    response = call_api(api, "POST", "/remove", (DATA / "rotated-6.heic").read_bytes(), {"Accept": "image/avif"})
    assert response.status == 200 and response.content_type == "image/avif"
    assert _open(response.body).size == (32, 48), "upright: EXIF orientation applied"


def test_jpeg_needs_a_background_and_urls_are_not_fetched(api):
    jpeg = {"Content-Type": "image/jpeg"}
    refused = call_api(api, "POST", "/remove", sample_bytes("coffee.jpg"), jpeg, {"format": ["jpg"]})
    assert_json_error(refused, 400, "invalid_option")
    flat = call_api(api, "POST", "/remove", sample_bytes("coffee.jpg"), jpeg, {"format": ["jpg"], "bg_color": ["ffff"]})
    assert_json_error(flat, 400, "invalid_option")  # a colour is 3 or 6 hex digits, r,g,b or a colour name
    flat = call_api(api, "POST", "/remove", sample_bytes("coffee.jpg"), jpeg, {"format": ["jpg"], "bg_color": ["fff"]})
    assert flat.status == 200 and flat.content_type == "image/jpeg" and _open(flat.body).mode == "RGB"
    body = json.dumps({"image_url": "http://169.254.169.254/latest/meta-data/"}).encode()
    assert_json_error(call_api(api, "POST", "/remove", body, {"Content-Type": "application/json"}), 400,
                      "url_not_supported")  # fmt: skip


def test_the_worker_writes_webp_under_its_suffix_and_media_type(stack, worker):
    event = load_event(EVENTS_DIR / "batch-ops-v2.json")
    event["job"]["userArguments"] = {"format": "webp", "quality": "80"}
    stored = seed_event_objects(stack, event)

    results = [r for job in one_task_jobs(event) for r in worker.invoke(job).payload()["results"]]

    assert {r["resultCode"] for r in results} == {"Succeeded"}
    prefix = stack.variable(stack.s3_function, "OUTPUT_PREFIX")
    for key, data in stored.items():
        target = prefix + key + ".webp"
        assert stack.s3.head_object(Bucket=stack.output_bucket, Key=target)["ContentType"] == "image/webp"
        webp, metadata = read_object(stack, target)
        assert _open(webp).format == "WEBP" and _open(webp).size == image_size(data)
        assert "format=webp" in metadata["options"] and "quality=80" in metadata["options"]


def test_a_heic_upload_is_cut_out_by_the_worker(stack, worker, input_prefix):
    source = upload(stack, f"{input_prefix}phone/IMG_0001.HEIC", (DATA / "rotated-6.heic").read_bytes())
    invocation = worker.invoke(s3_put_event([source]))
    assert not invocation.function_error
    png, _ = read_object(stack, stack.variable(stack.s3_function, "OUTPUT_PREFIX") + source.key + ".png")
    assert _open(png).size == (32, 48)
