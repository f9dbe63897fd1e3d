"""Entry point `handler.api_entry.lambda_handler`: the HTTP API (API Gateway REST, proxy).

Routes:
  GET  /         a self-contained page: pick an image, see the cut-out on a checkerboard, download
                 (HEAD / too: the same headers, for uptime checks)
  POST /remove   body = the image (binary; base64 through API Gateway), query = engine options
                 (`?crop=true&background=ffffff&format=webp`), or a multipart form with the
                 image in `image_file` (or `file`), or JSON with `image_file_b64` (options as fields either
                 way, requests.py); `Accept: image/webp` chooses the format when no option does;
                 answers the cut-out (in its format's media type), or when it is
                 too large for the reply (payload.py) a 303 to its presigned URL in the output
                 bucket (`Accept: application/json`: always a JSON document with the URL); errors
                 are JSON with a stable code (HTTP_STATUS): 400 bad options / empty body, 413 body
                 over API_MAX_BODY_BYTES (use /uploads), 415 not an image format we read, 422
                 corrupt, too many megapixels or over the memory budget, 500 broken deployment
  POST /uploads  JSON `{"filename": "photo.jpg"}`, engine options in the query or as further
                 members (checked now, the model included: 400 as on /remove) -> a presigned form
                 upload (POST, at most MAX_INPUT_BYTES) into the input bucket that carries the
                 options to the worker, and presigned GET URLs of the cut-out and the failure record
Any other method on these paths is a 405 method_not_allowed with `Allow`, any other path a 404
not_found (template.yaml routes both here); every error body is `{"error": code, "message": ...}`.
"""

from __future__ import annotations

import base64
import mimetypes
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities.typing import LambdaContext

from engine import (
    INPUT_SUFFIXES,
    CorruptImageError,
    Cutout,
    DeploymentError,
    EmptyInputError,
    EngineError,
    ImageTooLargeError,
    InputError,
    InvalidOptionError,
    UnsupportedFormatError,
    check_model,
    finding_text,
)

from .errors import (
    BadRequestError,
    ConflictingValuesError,
    MethodNotAllowedError,
    PayloadTooLargeError,
    PermanentError,
    ResultTooLargeError,
    RouteNotFoundError,
    UrlNotFetchedError,
)
from .keys import failure_key, has_supported_suffix, output_key, reply_key, upload_key
from .observability import (
    logger,
    metrics,
    record_cutout,
    record_error,
    record_failure,
    traced_removal,
    tracer,
)
from .payload import fits_in_reply
from .requests import image_length, prefers_json, read_request, read_upload
from .startup import start
from .storage import OPTIONS_METADATA, REQUEST_METADATA, findings_metadata

settings, storage = start()  # once: a bad variable or a default model not baked in fails the cold start
app = APIGatewayRestResolver()
PAGE_HTML = (Path(__file__).parent / "page.html").read_text(encoding="utf-8")
# The caller's errors and their HTTP status (the first class that matches wins).
HTTP_STATUS: dict[type[Exception], int] = {
    EmptyInputError: 400,
    BadRequestError: 400,
    ConflictingValuesError: 400,
    UrlNotFetchedError: 400,
    InvalidOptionError: 400,
    RouteNotFoundError: 404,
    MethodNotAllowedError: 405,
    PayloadTooLargeError: 413,
    ResultTooLargeError: 413,
    UnsupportedFormatError: 415,
    CorruptImageError: 422,
    ImageTooLargeError: 422,
}


def error_response(status: int, code: str, message: str, **extra: Any) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"error": code, "message": message, **extra},
    )


@app.route("/", method=["GET", "HEAD"])
def page() -> Response[Any]:
    """The page, told the request limit it must route larger files around (through /uploads),
    whether it must ask for an API key (API_AUTH) and the suffixes an upload's name needs. HEAD
    gets the same reply, for uptime checks: API Gateway sends its headers alone."""
    html = (
        PAGE_HTML.replace("{{DIRECT_LIMIT}}", str(settings.api_max_body_bytes))
        .replace("{{API_AUTH}}", settings.api_auth)
        .replace("{{SUFFIXES}}", " ".join(INPUT_SUFFIXES))
    )
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=html)


@app.post("/remove")
def remove() -> Response[Any]:
    event = app.current_event
    body = _body()
    content_type = event.headers.get("content-type", "")
    if len(body) > settings.api_max_body_bytes:
        raise PayloadTooLargeError(len(body), settings.api_max_body_bytes, image_length(body, content_type))
    accept = event.headers.get("accept", "")
    query = event.multi_value_query_string_parameters or {}
    request = read_request(body, content_type, query, accept)
    options = settings.api_options(request.options, request.accepted)
    cutout = traced_removal(request.image, options, settings.engine)
    response = reply(cutout, prefers_json(accept))
    record_cutout(cutout)  # once the reply is made: a large one is stored first, which may fail
    return response


def _body() -> bytes:
    """The request's body as bytes (API Gateway base64-encodes every body: binary media type */*)."""
    event = app.current_event
    return base64.b64decode(event.body or "") if event.is_base64_encoded else (event.body or "").encode()


def reply(cutout: Cutout, as_json: bool = False) -> Response[Any]:
    """The cut-out itself when it fits in the reply (payload.py), else stored in the output bucket
    and answered by its presigned GET URL: a 303 See Other to it (clients that follow redirects
    get the image: curl -L, browsers, most HTTP libraries), or, for a client that asked for JSON,
    always a 200 JSON document with the URL. Every form carries the model and the findings."""
    headers = {
        "X-Model": cutout.model_id,
        **{_header(name): finding_text(value) for name, value in cutout.findings().items()},
        "Server-Timing": ", ".join(
            f"{name.removesuffix('_ms')};dur={ms}" for name, ms in cutout.timings.as_dict().items()
        ),
    }
    if not as_json and fits_in_reply(len(cutout.data)):
        return Response(status_code=200, content_type=cutout.media_type, body=cutout.data, headers=headers)
    stored = _store_reply(cutout)
    document = {**stored, "model": cutout.model_id, "findings": cutout.findings()}
    if as_json:
        return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=document, headers=headers)
    headers["Location"] = stored["result"]["url"]
    return Response(status_code=303, content_type=content_types.APPLICATION_JSON, body=document, headers=headers)


def _store_reply(cutout: Cutout) -> dict[str, Any]:
    if not settings.output_bucket:
        raise ResultTooLargeError(len(cutout.data))
    key = reply_key(settings.output_prefix, uuid.uuid4().hex, cutout.format.suffix)
    metadata = {"model": cutout.model_id, **findings_metadata(cutout.findings())}
    with tracer.provider.in_subsegment("## store_reply"):
        storage.put(settings.output_bucket, key, cutout.data, cutout.media_type, metadata)
    expires = settings.upload_url_expires
    result = {
        **_download(settings.output_bucket, key, expires),
        "media_type": cutout.media_type,
        "bytes": len(cutout.data),
        "width": cutout.width,
        "height": cutout.height,
    }
    return {"result": result, "expires_in": expires}


def _header(finding: str) -> str:
    """The HTTP header of a finding: no_subject -> X-No-Subject."""
    return "X-" + "-".join(part.capitalize() for part in finding.split("_"))


@app.post("/uploads")
def create_upload() -> Response[Any]:
    """A presigned form upload (POST) into the input bucket for one file, capped at MAX_INPUT_BYTES
    by S3 itself, carrying the request's engine options (the query's, the body's members over them)
    as the object's metadata (the worker applies them), and the presigned GET URLs of its cut-out
    and of its failure record, to poll."""
    if not (settings.input_bucket and settings.output_bucket):
        return error_response(501, "uploads_not_configured", "INPUT_BUCKET and OUTPUT_BUCKET are not set")
    request = read_upload(_body(), app.current_event.multi_value_query_string_parameters or {})
    options = settings.default_options.merged(request.options)  # refuses bad options now, not in the worker
    check_model(settings.engine, options.model)  # and a model this deployment does not have
    key = upload_key(settings.input_prefix, uuid.uuid4().hex, request.filename)
    if not has_supported_suffix(key):
        return error_response(
            415, "unsupported_format", f"the file name must end in one of {', '.join(INPUT_SUFFIXES)}"
        )
    fields = {"Content-Type": mimetypes.guess_type(key)[0] or "application/octet-stream"}
    if request.options:
        fields[f"x-amz-meta-{OPTIONS_METADATA}"] = urlencode(sorted(request.options.items()))
    request_id = app.current_event.request_context.request_id
    if request_id:  # the worker's log lines about the upload carry it
        fields[f"x-amz-meta-{REQUEST_METADATA}"] = request_id
    result = output_key(key, settings.output_prefix, options.output_format.suffix)
    failure = failure_key(key, settings.failure_prefix)
    expires = settings.upload_url_expires
    form = storage.presign_post(settings.input_bucket, key, expires, settings.max_input_bytes, fields)
    logger.info(
        "upload created", extra={"upload_key": key, "options": fields.get(f"x-amz-meta-{OPTIONS_METADATA}", "")}
    )
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body={
            "upload": {"method": "POST", **form, "max_bytes": settings.max_input_bytes},
            "source": {"bucket": settings.input_bucket, "key": key},
            "options": fields.get(f"x-amz-meta-{OPTIONS_METADATA}", ""),
            "result": _download(settings.output_bucket, result, expires),
            "failure": _download(settings.output_bucket, failure, expires),
            "expires_in": expires,
        },
    )


def _download(bucket: str, key: str, expires: int) -> dict[str, str]:
    return {"bucket": bucket, "key": key, "url": storage.presign("get_object", bucket, key, expires)}


@app.exception_handler(InputError)
def bad_input(error: InputError) -> Response[Any]:
    return _refused(error, error.code)


@app.exception_handler(PermanentError)
def refused_request(error: PermanentError) -> Response[Any]:
    return _refused(error, error.code, **error.details())


def _refused(error: Exception, code: str, **details: Any) -> Response[Any]:
    """A caller's mistake: its status from HTTP_STATUS (by class, most specific first), a JSON error."""
    status = next((s for kind, s in HTTP_STATUS.items() if isinstance(error, kind)), 422)
    logger.info("rejected request", extra={"reason": code, "status": status})
    record_failure(code)
    return error_response(status, code, str(error), **details)


@app.not_found
def no_route(error: NotFoundError) -> Response[Any]:
    """A path the API has, asked with another method: 405 with Allow; any other path: a coded 404."""
    method, path = app.current_event.http_method.upper(), app.current_event.path
    routes = app._static_routes + app._dynamic_routes
    allowed = sorted({route.method for route in routes if route.rule.match(path)})
    if not allowed:
        return _refused(RouteNotFoundError(path), RouteNotFoundError.code)
    response = _refused(MethodNotAllowedError(method, path, allowed), MethodNotAllowedError.code)
    response.headers["Allow"] = ", ".join(allowed)
    return response


@app.exception_handler(DeploymentError)
def broken_deployment(error: EngineError) -> Response[Any]:
    logger.exception("the deployment is broken", extra={"reason": error.code})
    record_error(error.code)  # a 500 the function answers itself: Lambda's Errors do not count it
    return error_response(500, error.code, "the service is misconfigured; the error has been logged")


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler(capture_response=False)  # an image reply would overflow the 64 KB trace document
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
