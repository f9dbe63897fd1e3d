"""template.yaml through SAM's own validator and linter (cfn-lint), as `sam build` would see it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def sam_executable() -> str:
    local = Path(sys.executable).with_name("sam")
    found = str(local) if local.exists() else shutil.which("sam")
    if not found:
        pytest.fail("aws-sam-cli is not installed (requirements-dev.txt)")
    return found


def test_sam_validate_lint_is_clean():
    result = subprocess.run(
        [sam_executable(), "validate", "--lint", "--template-file", str(ROOT / "template.yaml")],
        capture_output=True,
        text=True,
        env={"SAM_CLI_TELEMETRY": "0", "PATH": "/usr/bin:/bin", "HOME": str(ROOT / ".cache")},
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout
