"""The unit tier starts no process: a test that needs one belongs in tests/integration (the
local stand-ins, the CLI as a process) or tests/offline (tools, fuzzing, scanners)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, NoReturn

import pytest


class _NoProcesses(subprocess.Popen[Any]):
    def __init__(self, args: Any, *_: Any, **__: Any) -> NoReturn:
        raise AssertionError(f"a unit test started a process ({args!r}): move it to tests/integration or tests/offline")


@pytest.fixture(autouse=True)
def no_child_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse subprocess.Popen (and so run, call, check_output) while a unit test runs."""
    monkeypatch.setattr(subprocess, "Popen", _NoProcesses)


@pytest.fixture()
def user_xattrs(tmp_path: Path) -> None:
    """Skip a test of the options recorded on the CLI's outputs (files.RECIPE_XATTR) where tmp_path's
    filesystem holds no user extended attributes (os.setxattr missing, or refused: ENOTSUP)."""
    probe = tmp_path / ".xattr-probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, "user.probe", b"1")
    except (AttributeError, OSError) as exc:
        pytest.skip(f"tmp_path holds no user extended attributes ({exc}): the options of an output cannot be recorded")
    finally:
        probe.unlink()
