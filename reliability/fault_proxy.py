"""A fault-injecting HTTP proxy in front of the local S3 server, for fault tests.

Requests are forwarded unchanged to the upstream endpoint while the proxy is healthy. `fail_after(n)`
lets the next n requests through and then answers every request with S3's `503 SlowDown` (what a
throttled or failing S3 answers), `refuse()` closes each connection without an answer (S3 unreachable),
`answer_gets(path, status, body)` answers every GET of one object path (`/bucket/key`) with a
response of S3's that the local server does not give (S3's refusal of an SSE-C object read without
its key), and `heal()` forwards everything again. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote, urlsplit

from local.processes import HOP_BY_HOP, BackgroundHTTPServer

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class _Handler(BaseHTTPRequestHandler):
    server: FaultProxy
    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        canned = self.server.canned_answer(self.command, unquote(urlsplit(self.path).path))
        if canned is not None:
            status, payload = canned
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        mode = self.server.next_mode()
        if mode == "refuse":
            self.close_connection = True
            self.connection.close()
            return
        if mode == "fail":
            self.send_response(503)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(SLOW_DOWN)))
            self.end_headers()
            self.wfile.write(SLOW_DOWN)
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        upstream = http.client.HTTPConnection(self.server.upstream_host, self.server.upstream_port, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP - {"host"}}
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
            self.send_response(response.status, response.reason)
            for key, value in response.getheaders():
                if key.lower() not in HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        finally:
            upstream.close()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


class FaultProxy(BackgroundHTTPServer):
    def __init__(self, upstream: str) -> None:
        super().__init__(_Handler)
        parts = urlsplit(upstream)
        if parts.hostname not in {"127.0.0.1", "localhost"}:
            raise ValueError(f"the fault proxy only fronts a local server, not {upstream}")
        self.upstream_host, self.upstream_port = parts.hostname, parts.port or 80
        self._lock = threading.Lock()
        self._mode, self._allowance = "forward", 0
        self.faults = 0  # requests answered with a fault
        self._answers: dict[str, tuple[int, bytes]] = {}  # object path -> S3's answer to its GETs

    @property
    def url(self) -> str:
        return super().url.rstrip("/")

    def fail_after(self, requests: int) -> None:
        with self._lock:
            self._mode, self._allowance = "fail", requests

    def refuse(self) -> None:
        with self._lock:
            self._mode, self._allowance = "refuse", 0

    def answer_gets(self, path: str, status: int, body: bytes) -> None:
        """Answer every GET of `path` (`/bucket/key`, not URL-encoded) with this status and XML body."""
        with self._lock:
            self._answers[path] = (status, body)

    def heal(self) -> None:
        with self._lock:
            self._mode, self._allowance = "forward", 0
            self._answers.clear()

    def canned_answer(self, method: str, path: str) -> tuple[int, bytes] | None:
        with self._lock:
            answer = self._answers.get(path) if method == "GET" else None
            if answer is not None:
                self.faults += 1
            return answer

    def next_mode(self) -> str:
        with self._lock:
            if self._mode == "forward":
                return "forward"
            if self._allowance > 0:
                self._allowance -= 1
                return "forward"
            self.faults += 1
            return self._mode
