"""The unit tier starts no process: a test that needs one belongs in tests/integration (the
local stand-ins, the CLI as a process) or tests/offline (tools, fuzzing, scanners)."""

from __future__ import annotations

import subprocess
from typing import Any, NoReturn

import pytest


class _NoProcesses(subprocess.Popen[Any]):
    def __init__(self, args: Any, *_: Any, **__: Any) -> NoReturn:
        raise AssertionError(f"a unit test started a process ({args!r}): move it to tests/integration or tests/offline")


@pytest.fixture(autouse=True)
def no_child_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse subprocess.Popen (and so run, call, check_output) while a unit test runs."""
    monkeypatch.setattr(subprocess, "Popen", _NoProcesses)
