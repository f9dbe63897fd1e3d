"""Child processes for local tooling that never outlive their owner.

`ManagedProcess` starts a command in its own process group, collects its output lines in a
background thread, waits for it to listen on a port, and on exit terminates the whole group
(SIGTERM, then SIGKILL). The child also gets SIGTERM from the kernel if its parent dies first.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess  # fixed argument lists built here, never a shell  # nosec B404
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Self

_PR_SET_PDEATHSIG = 1


class Service:
    """Something started on entering a `with` block and stopped, whatever happens, on leaving it."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class ProcessStartError(RuntimeError):
    """A child process exited, or never listened on its port, while starting."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct free ports."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port(host)
        if port not in ports:
            ports.append(port)
    return ports


def start_listening(
    command_for: Callable[[list[int]], Sequence[str]],
    port_count: int,
    env: Mapping[str, str],
    cwd: Path,
    name: str,
    host: str = "127.0.0.1",
    attempts: int = 3,
) -> tuple[ManagedProcess, list[int]]:
    """Start a server on free ports and wait until it listens on the first of them.

    Ports picked free can be taken before the server binds them, so it is tried again on others.
    """
    failures: list[str] = []
    for _ in range(attempts):
        ports = free_ports(port_count, host)
        process = ManagedProcess(command_for(ports), env, cwd, name).start()
        try:
            process.wait_for_port(host, ports[0])
        except ProcessStartError as error:
            process.stop()
            failures.append(str(error))
            continue
        return process, ports
    raise ProcessStartError(f"{name} did not start: {failures[-1]}")


def _die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel for SIGTERM when the parent goes away."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ManagedProcess(Service):
    """A child process with captured output, a readiness wait and guaranteed clean-up."""

    def __init__(
        self,
        command: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        name: str,
    ):
        self.command = list(command)
        self.env = dict(env)
        self.cwd = cwd
        self.name = name
        self.lines: list[str] = []
        self.new_line = threading.Condition()
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise ProcessStartError(f"{self.name} is not running")
        return self._process.pid

    def start(self) -> ManagedProcess:
        self._process = subprocess.Popen(  # noqa: S603  # commands are built by this package  # nosec B603
            self.command,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self._reader = threading.Thread(target=self._read_output, name=f"{self.name}-output", daemon=True)
        self._reader.start()
        return self

    def _read_output(self) -> None:
        if self._process is None or self._process.stdout is None:
            raise RuntimeError("the process is not running")
        for line in self._process.stdout:
            with self.new_line:
                self.lines.append(line.rstrip("\n"))
                self.new_line.notify_all()

    def wait_for_port(self, host: str, port: int, timeout_s: float = 30.0) -> None:
        """Block until the process accepts TCP connections on host:port."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise ProcessStartError(f"{self.name} exited with {self._process.returncode}: {self.tail()}")
            try:
                with socket.create_connection((host, port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise ProcessStartError(f"{self.name} did not listen on {host}:{port} in {timeout_s:.0f} s: {self.tail()}")

    def tail(self, count: int = 20) -> str:
        with self.new_line:
            return "\n".join(self.lines[-count:])

    def stop(self, grace_s: float = 5.0) -> None:
        """Terminate the process group; kill it if it does not end within the grace period."""
        process, self._process = self._process, None
        if process is None:
            return
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, grace_s)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        _kill_group_leftovers(process.pid)
        if self._reader is not None:
            self._reader.join(timeout=grace_s)


def _kill_group_leftovers(group: int) -> None:
    """SIGKILL what is left of a process group (e.g. a runtime its supervisor did not reap)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)


def children(pid: int) -> list[int]:
    """Direct child process ids of `pid` (from /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def peak_rss_mb(pid: int) -> float | None:
    """Peak resident set size of a process so far (VmHWM), in MiB; None if it is gone."""
    return _status_mb(pid, "VmHWM")


def reset_peak_rss(pid: int) -> None:
    """Start the process's VmHWM again from its resident size now (Linux's clear_refs, value 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def rss_mb(pid: int) -> float | None:
    """Resident set size of a process now (VmRSS), in MiB; None if it is gone."""
    return _status_mb(pid, "VmRSS")


def _status_mb(pid: int, field: str) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}  # never relayed as they are


class BackgroundHTTPServer(ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 that serves from a daemon thread inside a with-block."""

    daemon_threads = True

    def __init__(self, handler: type, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self.serve_forever, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
