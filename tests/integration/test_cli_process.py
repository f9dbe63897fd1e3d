"""`python -m engine` as a user runs it: a fresh interpreter, a photo in, a PNG out, exit code 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.synthetic import encode, scene

ROOT = Path(__file__).resolve().parents[2]


def test_runs_as_a_module(tmp_path: Path) -> None:
    photo = tmp_path / "a.jpg"
    photo.write_bytes(encode(scene(200, 150, seed=0)[0]))
    result = subprocess.run(
        [sys.executable, "-m", "engine", str(photo), "--out", str(tmp_path / "o")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "1 inputs: 1 written" in result.stdout and (tmp_path / "o" / "a.png").is_file()
