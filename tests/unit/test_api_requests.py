"""POST /remove's three request forms (handler/requests.py): raw body, multipart, JSON base64."""

from __future__ import annotations

import base64
import json

import pytest

from engine import EmptyInputError, InvalidOptionError
from handler.errors import BadRequestError, ConflictingValuesError, UrlNotFetchedError
from handler.requests import accepted_formats, our_names, prefers_json, read_request
from handler.settings import HandlerSettings

IMAGE = b"\xff\xd8\xff\xe0 a jpeg, or so it says \x00\xff\xd9"


def multipart(fields: dict[str, str], file: bytes | None, boundary: str = "XyZ-42") -> tuple[bytes, str]:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    if file is not None:
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="image_file"; filename="a.jpg"\r\n'
        parts.append(head.encode() + b"Content-Type: image/jpeg\r\n\r\n" + file + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_a_raw_body_is_the_image_and_the_query_the_options() -> None:
    request = read_request(IMAGE, "image/jpeg", {"crop": "true"})
    assert request.image == IMAGE and request.options == {"crop": "true"}


def test_a_form_carries_the_file_and_the_options_over_the_query() -> None:
    body, content_type = multipart({"size": "preview", "channels": "alpha", "crop": "true"}, IMAGE)
    request = read_request(body, content_type, {"crop": "false", "format": "webp"})
    assert request.image == IMAGE
    assert request.options == {"crop": "true", "format": "webp", "size": "preview", "output": "mask"}


def test_json_carries_base64_and_typed_members() -> None:
    document = {"image_file_b64": base64.b64encode(IMAGE).decode(), "crop": True, "quality": 80, "bg_color": "ff0000"}
    request = read_request(json.dumps(document).encode(), "application/json; charset=utf-8", {})
    assert request.image == IMAGE
    assert request.options == {"crop": "true", "quality": "80", "background": "ff0000"}
    url_safe = {"image_file_b64": "data:image/jpeg;base64," + base64.urlsafe_b64encode(IMAGE).decode()}
    assert read_request(json.dumps(url_safe).encode(), "application/json", {}).image == IMAGE


def test_base64_as_tools_write_it_line_wrapped_or_unpadded_is_read() -> None:
    wrapped = base64.encodebytes(IMAGE * 5).decode()  # `base64` and MIME wrap at 76 characters
    assert "\n" in wrapped.strip()
    assert read_request(json.dumps({"image_file_b64": wrapped}).encode(), "application/json", {}).image == IMAGE * 5
    padded = base64.urlsafe_b64encode(IMAGE + b"!").decode()
    assert padded.endswith("=")
    unpadded = {"image_file_b64": padded.rstrip("=")}
    assert read_request(json.dumps(unpadded).encode(), "application/json", {}).image == IMAGE + b"!"


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (multipart({"crop": "true"}, None)[0], multipart({}, None)[1], BadRequestError),
        (b"--nothing here", "multipart/form-data", BadRequestError),
        (b"[1, 2]", "application/json", BadRequestError),
        (b"{not json", "application/json", BadRequestError),
        (b'{"crop": true}', "application/json", BadRequestError),
        (b'{"image_file_b64": "***"}', "application/json", BadRequestError),
        (b'{"image_file_b64": "data:abc"}', "application/json", BadRequestError),  # a data URL with no comma
        (b"image_file_b64=data:image/png", "application/x-www-form-urlencoded", BadRequestError),
        (b'{"image_file_b64": ""}', "application/json", EmptyInputError),
        (b'{"image_url": "http://169.254.169.254/"}', "application/json", UrlNotFetchedError),
        (multipart({"image_url": "http://example.com/a.jpg"}, None)[0], multipart({}, None)[1], UrlNotFetchedError),
    ],
)
def test_requests_without_an_image_are_refused_with_a_code(body: bytes, content_type: str, error: type) -> None:
    with pytest.raises(error):
        read_request(body, content_type, {})


def test_an_image_sent_as_a_form_by_mistake_is_read_as_the_image() -> None:
    """`curl --data-binary @photo.jpg URL` without -H sends form-urlencoded: it was refused as a
    form without image_file_b64, with no hint of the missing Content-Type."""
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR rest of a png"
    assert read_request(png, "application/x-www-form-urlencoded", {"crop": "true"}).image == png
    with pytest.raises(BadRequestError, match="Content-Type"):
        read_request(b"crop=true", "application/x-www-form-urlencoded", {})


def test_json_numbers_that_are_whole_are_read_as_whole_numbers() -> None:
    document = {"image_file_b64": base64.b64encode(IMAGE).decode(), "quality": 80.0}
    assert read_request(json.dumps(document).encode(), "application/json", {}).options == {"quality": "80"}


def test_remove_bgs_type_auto_is_accepted_and_a_subject_hint_refused() -> None:
    assert read_request(IMAGE, "image/jpeg", {"type": "auto", "crop": "true"}).options == {"crop": "true"}
    with pytest.raises(InvalidOptionError, match="type"):
        read_request(IMAGE, "image/jpeg", {"type": "person"})


def test_a_url_in_the_query_is_refused_too() -> None:
    with pytest.raises(UrlNotFetchedError):
        read_request(IMAGE, "image/jpeg", {"image_url": "https://example.com/a.jpg"})


@pytest.mark.parametrize("where", [" in the object's options metadata", " in the job's userArguments"])
def test_a_url_in_s3_options_is_refused_with_the_fix_that_applies_there(where: str) -> None:
    """image_url in an object's options metadata or a Batch Operations job's arguments was refused
    with the API's fix ('send it as the body, as the image_file form field ...'), which no S3 user
    can follow: the refusal names where it was given, and that the object itself is the image."""
    with pytest.raises(UrlNotFetchedError) as refused:
        our_names([("crop", "true"), ("image_url", "https://example.com/a.jpg")], where)
    message = str(refused.value)
    assert f"image_url{where}" in message and "the object itself" in message
    assert "image_file" not in message
    with pytest.raises(UrlNotFetchedError, match="send it as the body"):  # the API's own refusal, as it was
        our_names([("image_url", "https://example.com/a.jpg")])


def test_accept_ranks_the_formats_only_when_no_option_names_one() -> None:
    # None: the options' own format; the wildcard's other formats follow it, for when the header refuses that one
    assert accepted_formats("image/avif,image/webp,*/*;q=0.8") == ["avif", "webp", None, "png", "jpeg"]
    assert accepted_formats("*/*")[0] is None and accepted_formats("image/png, application/json") == ["png"]
    assert accepted_formats("image/jpeg, image/png;q=0.9, image/webp;q=0") == ["jpeg", "png"]
    assert read_request(IMAGE, "image/jpeg", {}, "image/webp").accepted == ("webp",)
    assert read_request(IMAGE, "image/jpeg", {"format": "png"}, "image/webp").accepted == ()


def negotiated(accept: str, default_options: str = "") -> str:
    """The format a POST /remove with no format option and this Accept header is answered in."""
    settings = HandlerSettings.from_env({"DEFAULT_OPTIONS": default_options})
    request = read_request(IMAGE, "image/jpeg", {}, accept)
    return settings.api_options(request.options, request.accepted).output_format.name


@pytest.mark.parametrize(
    ("accept", "default_options", "answered"),
    [
        ("image/png;q=0, image/webp", "", "webp"),
        ("image/png;q=0, */*", "", "webp"),  # was png: the wildcard gave the default format, refused or not
        ("image/png;q=0, image/*;q=0.5", "", "webp"),
        ("image/*;q=0.5, image/png;q=0", "", "webp"),  # the most specific range sets a type's q (RFC 9110)
        ("image/png;q=0, image/jpeg;q=0, */*", "", "webp"),
        ("*/*;q=0, image/webp", "", "webp"),
        ("image/png;q=0.5, image/avif;q=0.8", "", "avif"),  # the highest q wins
        ("image/webp;q=0.5, image/avif;q=0.5", "", "webp"),  # ties: the header's order
        ("image/webp;q=0, */*", "", "png"),
        ("image/webp;q=0, */*", "format=webp", "png"),  # was webp: the deployment's default, refused
        ("image/webp;q=0.0, image/*", "format=webp", "png"),
        ("*/*", "format=webp", "webp"),
        ("image/jpeg, image/png;q=0, */*", "", "webp"),  # a transparent cut-out: the next acceptable that carries it
    ],
)
def test_accept_q_values_are_honoured_and_q0_is_never_chosen(accept: str, default_options: str, answered: str) -> None:
    """`Accept: image/png;q=0, */*` was answered in PNG: q=0 means not acceptable (RFC 9110 12.4.2), also
    when a wildcard takes the rest."""
    assert negotiated(accept, default_options) == answered


@pytest.mark.parametrize(
    "accept", ["image/png;q=0", "image/png;q=0, image/webp;q=0, image/jpeg;q=0, image/avif;q=0, */*", "*/*;q=0"]
)
def test_a_header_that_leaves_nothing_acceptable_is_disregarded_as_an_unsupported_one_is(accept: str) -> None:
    assert negotiated(accept) == negotiated("image/gif") == negotiated("") == "png"


@pytest.mark.parametrize(
    ("accept", "as_json"),
    [
        ("application/json", True),
        ("application/json;q=0", False),
        ("application/json, image/png;q=0", True),
        ("application/json, */*", False),
        ("application/json, image/png", False),
    ],
)
def test_only_an_acceptable_json_and_no_acceptable_image_asks_for_the_json_reply(accept: str, as_json: bool) -> None:
    assert prefers_json(accept) is as_json


@pytest.mark.parametrize(
    "query",
    [
        {"crop": ["true", "TRUE"]},
        {"crop": ["1", "true"]},
        {"format": ["jpg", "jpeg"]},
        {"bg_color": "fff", "background": "#ffffff"},
        {"crop_margin": ["10%", "0.1"]},
    ],
)
def test_one_value_spelled_two_ways_is_no_conflict(query: dict[str, str | list[str]]) -> None:
    assert len(read_request(IMAGE, "image/jpeg", query).options) == 1


@pytest.mark.parametrize(
    "query",
    [
        {"crop": ["true", "false"]},
        {"format": ["png", "jpeg"]},
        {"crop": ["maybe", "true"]},
        {"colour": ["red", "blue"]},
    ],
)
def test_two_different_values_conflict(query: dict[str, list[str]]) -> None:
    with pytest.raises(ConflictingValuesError):
        read_request(IMAGE, "image/jpeg", query)
