"""Entry point `handler.api_entry.lambda_handler`: the HTTP API (API Gateway REST, proxy).

Routes:
  GET  /         a self-contained page: pick an image, see the cut-out on a checkerboard, download
  POST /remove   body = the image (binary; base64 through API Gateway), query = engine options
                 (`?crop=true&background=ffffff`), answers the cut-out (image/png) or a JSON error:
                 400 bad options / empty body, 413 body over API_MAX_BODY_BYTES or result over
                 the 6 MB response limit (use /uploads), 415 not an image format we read,
                 422 corrupt or too many megapixels, 500 broken deployment (model missing)
  POST /uploads  JSON `{"filename": "photo.jpg"}` -> a presigned PUT URL into the input bucket and
                 presigned GET URLs for the cut-out and the failure record to poll
"""

from __future__ import annotations

import base64
import json
import mimetypes
import uuid
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from engine import (
    INPUT_SUFFIXES,
    CorruptImageError,
    DeploymentError,
    EmptyInputError,
    EngineError,
    ImageTooLargeError,
    InputError,
    InvalidOptionError,
    UnsupportedFormatError,
    finding_text,
    load_model,
)

from .keys import failure_key, has_supported_suffix, output_key, upload_key
from .observability import logger, metrics, record_failure, traced_removal, tracer
from .settings import LAMBDA_SYNC_PAYLOAD_BYTES, load_settings
from .storage import Storage

settings = load_settings()  # read once: a bad variable fails the cold start
load_model(settings.engine)  # so does a default model that is not baked in
storage = Storage.from_env()
app = APIGatewayRestResolver()
PAGE_HTML = (Path(__file__).parent / "page.html").read_text(encoding="utf-8")
_STATUS_OF_INPUT_ERROR = {
    EmptyInputError: 400,
    InvalidOptionError: 400,
    UnsupportedFormatError: 415,
    CorruptImageError: 422,
    ImageTooLargeError: 422,
}
_RESPONSE_ENVELOPE_BYTES = 4096  # status, headers and JSON framing around the base64 body


def error_response(status: int, code: str, message: str, **extra: Any) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"error": code, "message": message, **extra},
    )


@app.get("/")
def page() -> Response[Any]:
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=PAGE_HTML)


@app.post("/remove")
def remove() -> Response[Any]:
    event = app.current_event
    body = base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode()
    if len(body) > settings.api_max_body_bytes:
        return error_response(
            413,
            "payload_too_large",
            f"the image is {len(body)} bytes, over the {settings.api_max_body_bytes}-byte limit of this "
            "route; POST /uploads for an upload URL instead",
            upload_route="uploads",
        )
    options = settings.default_options.merged(event.query_string_parameters or {})
    cutout = traced_removal(body, options, settings.engine)
    if 4 * -(-len(cutout.data) // 3) + _RESPONSE_ENVELOPE_BYTES > LAMBDA_SYNC_PAYLOAD_BYTES:
        return error_response(
            413,
            "result_too_large",
            f"the {cutout.format.name.upper()} is {len(cutout.data)} bytes, too large for a synchronous reply; "
            "POST /uploads for an upload URL instead, or ask for crop=true or output=mask",
            upload_route="uploads",
        )
    headers = {
        "X-Model": cutout.model_id,
        **{_header(name): finding_text(value) for name, value in cutout.findings().items()},
        "Server-Timing": ", ".join(
            f"{name.removesuffix('_ms')};dur={ms}" for name, ms in cutout.timings.as_dict().items()
        ),
    }
    return Response(status_code=200, content_type=cutout.media_type, body=cutout.data, headers=headers)


def _header(finding: str) -> str:
    """The HTTP header of a finding: no_subject -> X-No-Subject."""
    return "X-" + "-".join(part.capitalize() for part in finding.split("_"))


@app.post("/uploads")
def create_upload() -> Response[Any]:
    if not (settings.input_bucket and settings.output_bucket):
        return error_response(501, "uploads_not_configured", "INPUT_BUCKET and OUTPUT_BUCKET are not set")
    request = app.current_event.json_body if app.current_event.body else {}
    if not isinstance(request, dict):
        return error_response(400, "bad_request", 'send a JSON object such as {"filename": "photo.jpg"}')
    filename = str(request.get("filename") or app.current_event.get_query_string_value("filename", ""))
    key = upload_key(settings.input_prefix, uuid.uuid4().hex, filename)
    if not has_supported_suffix(key):
        return error_response(
            415, "unsupported_format", f"the file name must end in one of {', '.join(INPUT_SUFFIXES)}"
        )
    content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
    suffix = settings.default_options.output_format.suffix  # the worker makes it with the default options
    result, failure = output_key(key, settings.output_prefix, suffix), failure_key(key, settings.failure_prefix)
    expires = settings.upload_url_expires
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body={
            "upload": {
                "method": "PUT",
                "url": storage.presign("put_object", settings.input_bucket, key, expires, content_type),
                "headers": {"Content-Type": content_type},
            },
            "source": {"bucket": settings.input_bucket, "key": key},
            "result": _download(settings.output_bucket, result, expires),
            "failure": _download(settings.output_bucket, failure, expires),
            "expires_in": expires,
        },
    )


def _download(bucket: str, key: str, expires: int) -> dict[str, str]:
    return {"bucket": bucket, "key": key, "url": storage.presign("get_object", bucket, key, expires)}


@app.exception_handler(InputError)
def bad_input(error: InputError) -> Response[Any]:
    status = next((s for kind, s in _STATUS_OF_INPUT_ERROR.items() if isinstance(error, kind)), 422)
    logger.info("rejected input", extra={"reason": error.code, "status": status})
    record_failure(error.code)
    return error_response(status, error.code, str(error))


@app.exception_handler(DeploymentError)
def broken_deployment(error: EngineError) -> Response[Any]:
    logger.exception("the deployment is broken")
    return error_response(500, error.code, "the service is misconfigured; the error has been logged")


@app.exception_handler([json.JSONDecodeError, UnicodeDecodeError])
def bad_json(error: ValueError) -> Response[Any]:
    return error_response(400, "bad_request", f"the request body is not valid JSON: {error}")


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler(capture_response=False)  # an image reply would overflow the 64 KB trace document
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
