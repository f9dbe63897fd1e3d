"""Every refusal of the HTTP API is a coded JSON error of the right class, as a client meets it:
proxy events posted to the API function under the Lambda emulator (local/api_gateway.py)."""

from __future__ import annotations

from local.api_gateway import ApiResponse, call_api

JSON = {"Content-Type": "application/json"}


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
