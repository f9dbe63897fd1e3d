"""The function under the AWS Lambda Runtime Interface Emulator, without a container.

The emulator binary ships in the aws-sam-cli wheel (`samcli/local/rapid/aws-lambda-rie-x86_64`);
it runs `python -m awslambdaric <handler>` as the runtime, with the environment Lambda would set,
and serves the Invoke API on 127.0.0.1. `LambdaEmulator.invoke` posts one event and returns an
`Invocation`: the response, the log lines of that request, cold/warm, wall time and peak RSS.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from .processes import ManagedProcess, ProcessStartError, Service, children, peak_rss_mb, start_listening
from .s3_server import REGION
from .template_config import FunctionConfig

HOST = "127.0.0.1"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
TIMED_OUT = "Task timed out"
_REPORT = re.compile(r"^REPORT RequestId: (\S+)")
_FAILED_INVOKE = re.compile(r"\(rapid\) Invoke DONE failed")  # a runtime that failed its init: no REPORT follows
_REPORT_DURATION = re.compile(r"\tDuration: ([\d.]+) ms")
_INIT_REPORT = re.compile(r"INIT REPORT\(durationMs: ([\d.]+)\)")
_INIT_START = "INIT START"
_RAPID_LINE = re.compile(r"^\d\d \w{3} \d{4} [\d:,]+ \[\w+\] \(rapid\)")


def emulator_binary() -> Path:
    """Path of the emulator inside the installed aws-sam-cli package."""
    import samcli  # noqa: PLC0415 - only needed to locate the binary

    binary = Path(samcli.__file__).parent / "local" / "rapid" / "aws-lambda-rie-x86_64"
    if not binary.exists():
        raise FileNotFoundError(f"{binary} is missing: install aws-sam-cli (requirements-dev.txt)")
    return binary


@dataclass
class Invocation:
    """The outcome of one invoke as the caller and the function's logs saw it."""

    status: int
    body: bytes
    wall_ms: float
    cold: bool
    logs: list[str] = field(default_factory=list)
    peak_rss_mb: float | None = None
    duration_ms: float | None = None
    init_ms: float | None = None

    @property
    def timed_out(self) -> bool:
        """The emulator answers a timeout with HTTP 200 and a plain-text body: check the body."""
        return self.body.startswith(TIMED_OUT.encode())

    def payload(self) -> Any:
        """The function's return value (JSON-decoded)."""
        if self.timed_out:
            raise TimeoutError(self.body.decode("utf-8", "replace"))
        return json.loads(self.body)

    @property
    def function_error(self) -> dict[str, Any] | None:
        """The `errorType`/`errorMessage` document when the function raised, else None."""
        if self.timed_out:
            return {"errorType": "Sandbox.Timedout", "errorMessage": self.body.decode("utf-8", "replace")}
        try:
            value = json.loads(self.body)
        except ValueError:
            return None
        if isinstance(value, dict) and "errorType" in value and "errorMessage" in value:
            return value
        return None

    def function_lines(self) -> list[str]:
        """Log lines the function wrote, without the emulator's own `(rapid)` lines."""
        return [line for line in self.logs if not _RAPID_LINE.match(line)]


def runtime_environment(
    config: FunctionConfig, task_root: Path, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment Lambda gives the runtime: reserved variables, then the function's own."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(task_root),
        "PYTHONUNBUFFERED": "1",
        "_HANDLER": config.handler,
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_LAMBDA_FUNCTION_NAME": config.logical_id,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(config.timeout_s),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "true",
        **config.environment,
        **(extra or {}),
    }


class LambdaEmulator(Service):
    """One function under the emulator; invokes are serialised like a single Lambda sandbox."""

    def __init__(
        self,
        config: FunctionConfig,
        task_root: Path,
        extra_env: Mapping[str, str] | None = None,
        python: str = sys.executable,
    ):
        self.config = config
        self.task_root = task_root
        self.env = runtime_environment(config, task_root, extra_env)
        self.python = python
        self.port = 0
        self._process: ManagedProcess | None = None
        self._lock = threading.Lock()
        self._session = requests.Session()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{INVOKE_PATH}"

    def start(self) -> LambdaEmulator:
        def command(ports: list[int]) -> list[str]:
            return [
                str(emulator_binary()),
                "--runtime-interface-emulator-address", f"{HOST}:{ports[0]}",
                "--runtime-api-address", f"{HOST}:{ports[1]}",
                self.python, "-m", "awslambdaric", self.config.handler,
            ]  # fmt: skip

        self._process, (self.port, _) = start_listening(command, 2, self.env, self.task_root, "emulator", HOST)
        return self

    def stop(self) -> None:
        self._session.close()
        if self._process is not None:
            self._process.stop()
            self._process = None

    def invoke(self, event: Any) -> Invocation:
        """POST one event (a JSON-able value, or raw bytes) and wait for its response and logs."""
        if self._process is None:
            raise ProcessStartError("the emulator is not running: use it as a context manager")
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        with self._lock:
            mark = len(self._process.lines)
            started = time.perf_counter()
            response = self._session.post(self.url, data=body, timeout=self.config.timeout_s + 30)
            wall_ms = (time.perf_counter() - started) * 1000
            logs = self._request_logs(mark)
        return Invocation(
            status=response.status_code,
            body=response.content,
            wall_ms=wall_ms,
            cold=any(_INIT_START in line for line in logs),
            logs=logs,
            peak_rss_mb=self.runtime_peak_rss_mb(),
            duration_ms=_first_number(_REPORT_DURATION, logs),
            init_ms=_first_number(_INIT_REPORT, logs),
        )

    def _request_logs(self, mark: int, timeout_s: float = 5.0) -> list[str]:
        """Lines from `mark` up to this request's REPORT line (written just after the response), or
        to the emulator's note that the invoke failed (a runtime that could not start writes none)."""
        if self._process is None:
            raise RuntimeError("the emulator is not running")
        process = self._process
        deadline = time.monotonic() + timeout_s
        with process.new_line:
            while True:
                for index in range(mark, len(process.lines)):
                    line = process.lines[index]
                    if _REPORT.match(line) or _FAILED_INVOKE.search(line):
                        return process.lines[mark : index + 1]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return process.lines[mark:]
                process.new_line.wait(remaining)

    @property
    def pid(self) -> int:
        """Process id of the emulator itself."""
        if self._process is None:
            raise ProcessStartError("the emulator is not running")
        return self._process.pid

    def runtime_pids(self) -> list[int]:
        """Process ids of the runtime (the Python that runs the handler), once it has started."""
        return children(self._process.pid) if self._process is not None else []

    def runtime_peak_rss_mb(self) -> float | None:
        """Peak RSS of the current runtime process, MiB."""
        peaks = [peak_rss_mb(pid) for pid in self.runtime_pids()]
        return max((p for p in peaks if p is not None), default=None)


def _first_number(pattern: re.Pattern[str], logs: list[str]) -> float | None:
    """The number captured by `pattern` in the first log line where it occurs."""
    for line in logs:
        match = pattern.search(line)
        if match:
            return float(match.group(1))
    return None
