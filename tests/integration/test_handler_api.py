"""The API entry point, in process, with the API Gateway events in events/ and a moto S3 server."""

from __future__ import annotations

import base64
import importlib
import io
import json
import re
from types import ModuleType
from urllib.parse import quote_plus

import pytest
import requests
from PIL import Image

from engine.settings import DEFAULT_MODEL
from reliability.corpus import png_bomb
from tests.integration.in_process import INPUT_BUCKET, OUTPUT_BUCKET, load_event
from tests.placed import assert_centred_at_share, two_discs


@pytest.fixture
def api_entry(aws_environment) -> ModuleType:
    return importlib.import_module("handler.api_entry")


def post_remove(api_entry, context, body: bytes, query: dict[str, str] | None = None) -> dict:
    """events/api-post.json with another body and query string."""
    event = load_event("api-post.json")
    event["body"] = base64.b64encode(body).decode()
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} if query else None
    return api_entry.lambda_handler(event, context)


def json_error(response: dict) -> tuple[int, str]:
    assert response["multiValueHeaders"]["Content-Type"] == ["application/json"]
    body = json.loads(response["body"])
    assert body["message"]
    return response["statusCode"], body["error"]


def test_page_is_a_self_contained_html_document(api_entry, lambda_context):
    response = api_entry.lambda_handler(load_event("api-page.json"), lambda_context)

    assert response["statusCode"] == 200
    assert response["multiValueHeaders"]["Content-Type"] == ["text/html; charset=utf-8"]
    page = response["body"]
    assert page.startswith("<!doctype html>") and '<input id="file" type="file"' in page
    assert "send(`remove?" in page and "send(`uploads?" in page  # relative: the stage path kept
    assert '<meta name="direct-limit" content="4689408">' in page  # the real request limit, written in
    for external in ('src="http', "src='http", 'href="http', "@import", "<link"):
        assert external not in page


def test_post_remove_returns_the_cutout_png(api_entry, lambda_context, sample_images):
    response = api_entry.lambda_handler(load_event("api-post.json"), lambda_context)  # chelsea.jpg, crop=true

    assert response["statusCode"] == 200 and response["isBase64Encoded"] is True
    headers = response["multiValueHeaders"]
    assert headers["Content-Type"] == ["image/png"] and headers["X-Model"] == [DEFAULT_MODEL]
    image = Image.open(io.BytesIO(base64.b64decode(response["body"])))
    assert image.format == "PNG" and image.mode == "RGBA"
    assert image.width <= 451 and image.height <= 300 and image.size != (451, 300)  # cropped


def test_post_remove_takes_options_from_the_query_string(api_entry, lambda_context, sample_images):
    response = post_remove(api_entry, lambda_context, sample_images["coffee.jpg"], {"output": "mask"})

    image = Image.open(io.BytesIO(base64.b64decode(response["body"])))
    assert response["statusCode"] == 200 and image.mode == "L" and image.size == (600, 400)


def test_post_remove_places_the_subject_on_a_square_canvas(api_entry, lambda_context, sample_images):
    query = {"canvas": "512x512", "scale": "0.8", "position": "center", "bg_color": "ffffff", "format": "png"}
    response = post_remove(api_entry, lambda_context, sample_images["coffee.jpg"], query)

    assert response["statusCode"] == 200
    assert_centred_at_share(Image.open(io.BytesIO(base64.b64decode(response["body"]))), 512, 0.8)


def post_accepting(api_entry, context, body: bytes, accept: str) -> dict:
    """events/api-post.json (crop=true) with another body and Accept header."""
    event = load_event("api-post.json")
    event["body"] = base64.b64encode(body).decode()
    event["headers"]["Accept"] = accept
    event["multiValueHeaders"]["Accept"] = [accept]
    return api_entry.lambda_handler(event, context)


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        ("application/json;q=0", "image/png"),  # q=0: not acceptable, never chosen
        ("image/jpeg, image/png;q=0.9", "image/png"),  # a transparent cut-out: the next type that carries it
        ("image/jpeg, */*;q=0.5", "image/png"),  # anything: the default format
        ("image/jpeg;q=0.5, image/webp", "image/webp"),
        ("image/png;q=0, image/webp", "image/webp"),
        ("image/png;q=0, */*", "image/webp"),  # was PNG: the wildcard's default, though refused
    ],
)
def test_accept_picks_the_best_acceptable_type_that_carries_the_cutout(
    api_entry, lambda_context, sample_images, accept, media_type
):
    response = post_accepting(api_entry, lambda_context, sample_images["chelsea.jpg"], accept)

    assert response["statusCode"] == 200
    assert response["multiValueHeaders"]["Content-Type"] == [media_type]


def test_the_subjects_findings_are_headers(api_entry, lambda_context):
    response = post_remove(api_entry, lambda_context, two_discs())

    headers = response["multiValueHeaders"]
    assert headers["X-Several-Subjects"] == ["true"] and headers["X-Subject-Cut"] == ["false"]
    assert headers["X-Small-Subject"] == ["false"]


@pytest.mark.parametrize(
    ("body", "query", "status", "code"),
    [
        (b"", None, 400, "empty_input"),
        (b"JPEG", {"crop": "sometimes"}, 400, "invalid_option"),
        (b"JPEG", {"colour": "red"}, 400, "invalid_option"),
        (b"%PDF-1.7 not an image", None, 415, "unsupported_format"),
        (png_bomb(30_000, 30_000), None, 422, "image_too_large"),
    ],
)
def test_post_remove_errors(api_entry, lambda_context, body, query, status, code):
    assert json_error(post_remove(api_entry, lambda_context, body, query)) == (status, code)


def test_post_remove_corrupt_image_is_422(api_entry, lambda_context, sample_images):
    response = post_remove(api_entry, lambda_context, sample_images["coffee.jpg"][:3000])
    assert json_error(response) == (422, "corrupt_image")


def test_post_remove_over_the_payload_limit_is_413_with_a_pointer_to_uploads(api_entry, lambda_context):
    response = post_remove(api_entry, lambda_context, b"\xff\xd8" + bytes(6 * 1024 * 1024))

    assert json_error(response) == (413, "payload_too_large")
    body = json.loads(response["body"])
    assert body["upload_route"] == "uploads" and "POST /uploads" in body["message"]


def test_uploads_route_gives_urls_that_work_end_to_end(s3, api_entry, lambda_context, sample_images):
    response = api_entry.lambda_handler(load_event("api-upload-url.json"), lambda_context)

    assert response["statusCode"] == 201
    ticket = json.loads(response["body"])
    key = ticket["source"]["key"]
    assert ticket["source"]["bucket"] == INPUT_BUCKET
    assert key.startswith("samples/uploads/") and key.endswith("/My_Photo.jpg")
    assert ticket["result"] == {**ticket["result"], "bucket": OUTPUT_BUCKET, "key": f"cutouts/{key}.png"}
    assert ticket["failure"]["key"] == f"failures/{key}.json"

    upload = ticket["upload"]
    files = {"file": ("My Photo.JPG", sample_images["astronaut.jpg"])}
    posted = requests.post(upload["url"], data=upload["fields"], files=files, timeout=10)
    assert posted.status_code in (200, 204)
    assert requests.get(ticket["result"]["url"], timeout=10).status_code in (403, 404)  # not made yet

    s3_entry = importlib.import_module("handler.s3_entry")
    event = load_event("s3-put.json")
    event["Records"][0]["s3"]["object"]["key"] = quote_plus(key, safe="/")
    s3_entry.lambda_handler(event, lambda_context)

    result = requests.get(ticket["result"]["url"], timeout=10)
    assert result.status_code == 200
    assert Image.open(io.BytesIO(result.content)).size == (512, 512)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"filename": "notes.txt"}, 415, "unsupported_format"),
        (["photo.jpg"], 400, "bad_request"),
        ("{not json", 400, "bad_request"),
        ([], 400, "bad_request"),  # was 415: [] is falsy and read as {}
        ({"filename": ["a.jpg"]}, 400, "bad_request"),  # was accepted as the key a.jpg
        ({"filename": {"a": "b.jpg"}}, 400, "bad_request"),  # was accepted as a_b.jpg
    ],
)
def test_uploads_route_errors(api_entry, lambda_context, body, status, code):
    event = load_event("api-upload-url.json")
    text = body if isinstance(body, str) else json.dumps(body)
    event["body"] = base64.b64encode(text.encode()).decode()
    assert json_error(api_entry.lambda_handler(event, lambda_context)) == (status, code)


def test_uploads_route_refuses_an_unknown_model_before_the_upload(s3, api_entry, lambda_context):
    event = load_event("api-upload-url.json")
    event["queryStringParameters"] = {"model": "nope"}
    event["multiValueQueryStringParameters"] = {"model": ["nope"]}

    response = api_entry.lambda_handler(event, lambda_context)

    assert json_error(response) == (400, "unknown_model")
    assert DEFAULT_MODEL in json.loads(response["body"])["message"]  # names the models there are


def test_unknown_route_is_404(api_entry, lambda_context):
    event = load_event("api-page.json")
    event.update(path="/nowhere", resource="/nowhere")
    assert api_entry.lambda_handler(event, lambda_context)["statusCode"] == 404


@pytest.mark.parametrize(("path", "status"), [("/remove/", 200), ("//remove", 404), ("/remove/x", 404)])
def test_a_trailing_slash_is_the_route_as_api_gateway_routes_it_and_other_paths_are_404(
    api_entry, lambda_context, path, status
):
    event = load_event("api-post.json")
    event["path"] = path
    assert api_entry.lambda_handler(event, lambda_context)["statusCode"] == status


def test_logs_carry_no_image_bytes_and_no_signed_urls(api_entry, lambda_context, sample_images, capsys):
    photo = sample_images["chelsea.jpg"]
    response = post_remove(api_entry, lambda_context, photo)
    upload = api_entry.lambda_handler(load_event("api-upload-url.json"), lambda_context)
    assert response["statusCode"] == 200 and upload["statusCode"] == 201
    signatures = re.findall(r"X-Amz-Signature=([0-9a-f]+)", upload["body"])
    assert signatures, "the upload answer carries presigned URLs"

    captured = capsys.readouterr()
    logs = captured.out + captured.err
    assert logs, "the handler does log each request"
    assert base64.b64encode(photo).decode()[:64] not in logs  # the upload's bytes
    assert response["body"][:64] not in logs  # the cut-out's bytes
    assert all(signature not in logs for signature in signatures)
    assert "X-Amz-Credential" not in logs and "X-Amz-Security-Token" not in logs
