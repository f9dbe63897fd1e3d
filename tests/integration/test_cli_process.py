"""`python -m engine` as a user runs it: a fresh interpreter, a photo in, a PNG out, exit code 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
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


def test_ctrl_c_stops_with_a_summary_and_a_report_of_what_was_done(tmp_path: Path) -> None:
    """Ctrl-C used to end in a traceback: no summary, and the report (written at the end) was lost."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(40):
        (photos / f"p{index:02d}.jpg").write_bytes(encode(scene(320, 240, seed=index)[0]))
    report = tmp_path / "report.jsonl"
    # As a terminal runs it: Ctrl-C raises KeyboardInterrupt even where this test's own runner was
    # started with SIGINT ignored (a background job of a script), which its children would inherit.
    terminal = (
        "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "sys.argv[0] = 'engine'; runpy.run_module('engine', run_name='__main__', alter_sys=True)"
    )
    arguments = [str(photos), "--out", str(tmp_path / "o"), "-q", "--report", str(report)]
    command = [sys.executable, "-c", terminal, *arguments]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (report.exists() and len(report.read_text().splitlines()) >= 2):
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)

    assert process.returncode == 130, err
    assert "Traceback" not in err and "interrupted (Ctrl-C)" in out
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    written = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert 2 <= len(lines) < 40 and all(line["ok"] for line in lines)
    assert written == sorted(Path(line["output"]).name for line in lines), "whole outputs only, each reported"
    assert f"40 inputs: {len(lines)} written, 0 skipped, 0 failed, {40 - len(lines)} not started" in out


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.05)


def test_watch_reports_empty_files_waits_for_paused_writers_and_sigterm_ends_with_the_summary(tmp_path: Path) -> None:
    """--watch never reported a 0-byte file, took a paused copy half-written (corrupt_image, then again),
    and SIGTERM ended it without the summary."""
    folder, out, report = tmp_path / "in", tmp_path / "out", tmp_path / "report.jsonl"
    folder.mkdir()
    empty = folder / "empty.jpg"
    empty.write_bytes(b"")
    os.utime(empty, (time.time() - 120, time.time() - 120))  # left empty long ago: nothing is still writing it
    arguments = ["--watch", str(folder), "--out", str(out), "--interval", "0.1", "--settle", "0.3"]
    command = [sys.executable, "-m", "engine", *arguments, "--report", str(report)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def lines() -> list[dict[str, object]]:
        return [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []

    _wait_for(lambda: len(lines()) == 1, process)
    assert lines()[0]["error"] == "empty_input"

    photo = encode(scene(320, 240, seed=3)[0])
    paused = folder / "paused.jpg"
    paused.write_bytes(photo[: len(photo) // 2])  # the writer stops for a while here
    time.sleep(2.0)  # well past --settle: the half file is taken, fails, and must be held back
    assert len(lines()) == 1, lines()
    paused.write_bytes(photo)
    _wait_for(lambda: len(lines()) == 2, process)
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 143, stderr
    assert [(Path(str(r["input"])).name, r["ok"]) for r in lines()] == [("empty.jpg", False), ("paused.jpg", True)]
    assert "interrupted (SIGTERM)" in stdout and "2 inputs: 1 written, 0 skipped, 1 failed" in stdout
    assert "not started" not in stdout  # a watched folder has no list of inputs to leave unstarted
    assert "Traceback" not in stderr and (out / "paused.png").is_file()


def test_a_reader_that_stops_early_ends_it_quietly_not_in_a_traceback() -> None:
    """`bgremove --list-models | head -3` printed a BrokenPipeError traceback: the pipe closes
    before the table is written. It now stops as a piped Unix tool does (exit 141, 128 + SIGPIPE)."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the command writes a line
    try:
        result = subprocess.run(
            [sys.executable, "-m", "engine", "--list-models"],
            cwd=ROOT,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write)
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr, result.stderr
    assert result.returncode == 141
