"""A stand-in for API Gateway (REST API, Lambda proxy integration) in front of the emulator.

`proxy_event` turns an HTTP request into the event API Gateway would send (shaped like
events/api-post.json; bodies base64-encoded, as with binary media type `*/*`), and
`ApiResponse.from_invocation` turns the function's answer back into status, headers and body
(502 when the function failed or its reply was over Lambda's limit, 504 when it timed out, as
API Gateway answers). An event over Lambda's request limit is not sent: API Gateway answers it
413 `{"message": "Request Too Long"}` itself (handler/payload.py has the limits).

The bridge enforces API keys as API Gateway does for the routes the template's OpenAPI body says
need one (ApiAuth=API_KEY: every route but the page; `matched_route` picks the route as API
Gateway does, other methods and unknown paths by the template's catch-all ANY routes): without a
known key in `x-api-key` it answers 403 `{"message": "Forbidden"}` and the function is not called. SigV4 is not checked.

`python -m local.api_gateway` (`make serve`) serves the API function on http://127.0.0.1:3000 (`--port`,
`make serve PORT=...`):
open it in a browser to try the page against the real handler and a local S3; large images go
through a presigned upload, which reaches the worker via EventBridge and SQS
(local/queue_trigger.py).
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import secrets
import signal
import socket
import threading
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, urlsplit

from handler.payload import INVOKE_REQUEST_BYTES, INVOKE_RESPONSE_BYTES

from .emulator import Invocation, LambdaEmulator
from .events import EVENTS_DIR, load_event
from .processes import HOP_BY_HOP as _HOP_BY_HOP
from .processes import BackgroundHTTPServer

API_EVENT = EVENTS_DIR / "api-post.json"


def proxy_event(
    method: str,
    path: str,
    query: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    template: Path = API_EVENT,
) -> dict[str, Any]:
    """The API Gateway REST proxy event for one request."""
    event = copy.deepcopy(load_event(template))
    headers = dict(headers or {})
    query = {k: list(v) for k, v in (query or {}).items()}
    event.update(
        {
            "httpMethod": method,
            "path": path,
            "resource": "/" if path == "/" else "/{proxy+}",
            "pathParameters": None if path == "/" else {"proxy": path.lstrip("/")},
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "body": base64.b64encode(body).decode() if body else None,
            "isBase64Encoded": bool(body),
        }
    )
    context = event["requestContext"]
    context.update(
        {
            "httpMethod": method,
            "path": f"/{context.get('stage', 'v1')}{path}",
            "resourcePath": event["resource"],
            "requestId": str(uuid.uuid4()),
        }
    )
    return event


@dataclass(frozen=True)
class ApiResponse:
    """What the HTTP client receives."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    def json(self) -> Any:
        return json.loads(self.body)

    @classmethod
    def from_invocation(cls, invocation: Invocation) -> ApiResponse:
        if invocation.timed_out:
            return cls._gateway_error(HTTPStatus.GATEWAY_TIMEOUT, "Endpoint request timed out")
        too_long = len(invocation.body) > INVOKE_RESPONSE_BYTES  # Lambda refuses to return it
        if too_long or invocation.function_error or invocation.status != 200:
            return cls._gateway_error(HTTPStatus.BAD_GATEWAY, "Internal server error")
        payload = invocation.payload()
        body = payload.get("body") or ""
        data = base64.b64decode(body) if payload.get("isBase64Encoded") else body.encode()
        return cls(int(payload["statusCode"]), response_headers(payload), data)

    @classmethod
    def _gateway_error(cls, status: HTTPStatus, message: str) -> ApiResponse:
        body = json.dumps({"message": message}).encode()
        return cls(int(status), {"Content-Type": "application/json"}, body)


def response_headers(payload: Mapping[str, Any]) -> dict[str, str]:
    """Single- and multi-value headers of a proxy response merged (values joined by ', ')."""
    headers = {str(k): str(v) for k, v in (payload.get("headers") or {}).items()}
    for name, values in (payload.get("multiValueHeaders") or {}).items():
        headers[str(name)] = ", ".join(str(v) for v in values)
    return headers


def call_api(
    emulator: LambdaEmulator,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, list[str]] | None = None,
) -> ApiResponse:
    """One HTTP request to the API function, the way API Gateway would make it."""
    payload = json.dumps(proxy_event(method, path, query, headers, body)).encode()
    if len(payload) > INVOKE_REQUEST_BYTES:  # Lambda would refuse the invoke; API Gateway says so
        return ApiResponse._gateway_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request Too Long")
    return ApiResponse.from_invocation(emulator.invoke(payload))


API_KEY_SCHEME = "api_key"  # template.yaml's securitySchemes name for x-api-key


def key_refused(
    routes: Mapping[str, set[str]], keys: Collection[str], method: str, path: str, sent: str | None
) -> bool:
    """Whether API Gateway would refuse this request for its API key (the route needs one and
    `sent` is not one of `keys`)."""
    return API_KEY_SCHEME in routes.get(matched_route(routes, method, path) or "", set()) and sent not in keys


def matched_route(routes: Collection[str], method: str, path: str) -> str | None:
    """The route ("METHOD /path") API Gateway chooses for a request, as it does: the path itself
    before the greedy `/{proxy+}`, then the method itself before ANY; None when none matches."""
    for candidate in (path, "/{proxy+}" if path != "/" else None):
        for route in (f"{method} {candidate}", f"ANY {candidate}"):
            if route in routes:
                return route
    return None


GATEWAY_MAX_BYTES = 10 * 1024 * 1024  # API Gateway's payload quota: a larger request is refused unread


def read_body(headers: Message, stream: BinaryIO) -> bytes | HTTPStatus:
    """A request's body as API Gateway takes it: Content-Length bytes, or a chunked body whole;
    BAD_REQUEST for a Content-Length that is not a count, REQUEST_ENTITY_TOO_LARGE past the quota
    (before reading it)."""
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        return _chunked(stream)
    text = (headers.get("Content-Length") or "0").strip()
    if not text.isdigit():
        return HTTPStatus.BAD_REQUEST
    length = int(text)
    return HTTPStatus.REQUEST_ENTITY_TOO_LARGE if length > GATEWAY_MAX_BYTES else stream.read(length)


def _chunked(stream: BinaryIO) -> bytes | HTTPStatus:
    body = bytearray()
    while True:
        size_line = stream.readline(1024).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            return HTTPStatus.BAD_REQUEST
        if size == 0:
            while stream.readline(1024).strip():  # trailers, up to the blank line
                pass
            return bytes(body)
        if len(body) + size > GATEWAY_MAX_BYTES:
            return HTTPStatus.REQUEST_ENTITY_TOO_LARGE
        body += stream.read(size)
        stream.readline(8)  # the CRLF after the chunk


def request_target(target: str) -> tuple[str, str]:
    """(path, query) of a request line's target, as sent. The usual form, `/remove?crop=true`, is
    split at the `?`: `urlsplit` would read `//remove` as a host named `remove` with an empty path."""
    if target.startswith("/"):
        path, _, query = target.partition("?")
        return path, query
    url = urlsplit(target)  # the absolute form a proxy sends: http://host/remove?...
    return url.path, url.query


class _BridgeHandler(BaseHTTPRequestHandler):
    """Each request becomes a proxy event for the emulator; its answer goes back to the client."""

    server: ApiGatewayBridge
    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        path, query = request_target(self.requestline.split(" ")[1])  # self.path has `//x` made `/x` (Python 3.11+)
        body = read_body(self.headers, self.rfile)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        key = self.headers.get("x-api-key")
        if isinstance(body, HTTPStatus):  # unread: the connection cannot carry another request
            self.close_connection = True
            messages = {HTTPStatus.BAD_REQUEST: "Bad Request", HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "Request Too Long"}
            response = ApiResponse._gateway_error(body, messages[body])
        elif key_refused(self.server.routes, self.server.api_keys, self.command, path, key):
            response = ApiResponse._gateway_error(HTTPStatus.FORBIDDEN, "Forbidden")
        else:
            response = call_api(self.server.emulator, self.command, path, body, headers, parse_qs(query))
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":  # a HEAD reply has GET's headers and no body, as API Gateway sends it
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _forward

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        if self.server.verbose:
            super().log_message(format, *args)


class ApiGatewayBridge(BackgroundHTTPServer):
    """HTTP server on 127.0.0.1 that forwards every request to the API function's emulator."""

    def __init__(
        self,
        emulator: LambdaEmulator,
        port: int = 0,
        verbose: bool = False,
        routes: Mapping[str, set[str]] | None = None,
        api_keys: Collection[str] = (),
    ):
        super().__init__(_BridgeHandler, port)
        self.emulator = emulator
        self.verbose = verbose
        self.routes = dict(routes or {})  # LocalDeployment.api_routes(): which routes need a key
        self.api_keys = frozenset(api_keys)


def curl_example(url: str, api_key: str | None = None) -> str:
    """The command `make serve` prints: one sample photo cut out through the local API, saved as cutout.png."""
    key = f' -H "x-api-key: {api_key}"' if api_key else ""
    return (
        f'curl --data-binary @samples/astronaut.jpg -H "Content-Type: image/jpeg"{key} '
        f'"{url.rstrip("/")}/remove?crop=true" -o cutout.png'
    )


def port_in_use(port: int) -> bool:
    """Whether 127.0.0.1:`port` cannot be bound, as the bridge binds it (address reuse allowed)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # leave the with-blocks, so that every child process is stopped


def main(argv: list[str] | None = None) -> None:
    from .deployment import LocalDeployment  # noqa: PLC0415 - keeps the module importable alone
    from .queue_trigger import QueueTrigger  # noqa: PLC0415 - (as above)

    parser = argparse.ArgumentParser(prog="python -m local.api_gateway", description="Serve the API locally.")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--api-auth", choices=["IAM", "API_KEY"], default="IAM", help="template.yaml's ApiAuth")
    args = parser.parse_args(argv)
    if port_in_use(args.port):  # before starting S3 and the emulators, which take seconds
        parser.error(f"port {args.port} is in use; choose another: make serve PORT={args.port + 1} (or --port)")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    key = secrets.token_urlsafe(24)  # API Gateway generates the key of a deployed stack
    with LocalDeployment(parameters={"ApiAuth": args.api_auth}) as stack:
        worker = stack.emulator(stack.s3_function)
        prefix = stack.variable(stack.s3_function, "INPUT_PREFIX")
        with (
            QueueTrigger(stack.server, worker, stack.input_bucket),
            ApiGatewayBridge(stack.emulator(stack.api_function), args.port, True, stack.api_routes(), [key]) as bridge,
        ):
            print(f"{stack.api_function} on {bridge.url}; uploads to s3://{stack.input_bucket}/{prefix} reach")
            if args.api_auth == "API_KEY":
                print(f"API key (x-api-key; the page asks for it): {key}")
            print(f"try: {curl_example(bridge.url, key if args.api_auth == 'API_KEY' else None)}")
            print(f"{stack.s3_function} through EventBridge and SQS (S3 at {stack.server.endpoint}); Ctrl-C stops")
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                print("stopping")


if __name__ == "__main__":
    main()
