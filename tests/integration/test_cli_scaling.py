"""The command line as a shell runs it: a pipe through stdin and stdout, -j worker processes,
--watch picking up files that land in a folder."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from engine import cli
from engine.cli import EXIT_FAILURES, EXIT_USAGE, run_job
from engine.errors import ModelNotFoundError
from engine.files import Job, partial_name
from engine.options import Options
from engine.parallel import run_parallel
from engine.settings import EngineSettings
from tests.synthetic import encode, scene

ROOT = Path(__file__).resolve().parents[2]
# Ctrl-C raises KeyboardInterrupt even when this runner was started with SIGINT ignored.
TERMINAL = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'engine'; runpy.run_module('engine', run_name='__main__', alter_sys=True)"
)


def test_a_pipe_through_stdin_and_stdout(tmp_path: Path) -> None:
    """cat a.jpg | python -m engine - --out - --format webp > a.webp"""
    photo = encode(scene(200, 150, seed=1)[0])
    result = subprocess.run(
        [sys.executable, "-m", "engine", "-", "--out", "-", "--format", "webp"],
        cwd=ROOT, input=photo, capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with Image.open(io.BytesIO(result.stdout)) as image:
        assert (image.format, image.mode, image.size) == ("WEBP", "RGBA", (200, 150))
    bad = subprocess.run(
        [sys.executable, "-m", "engine", "-", "--out", "-"],
        cwd=ROOT, input=b"not an image", capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert bad.returncode == 1 and bad.stdout == b"" and b"unsupported_format" in bad.stderr


def test_two_workers_do_every_image_once(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(6):
        (photos / f"p{index}.jpg").write_bytes(encode(scene(320, 240, seed=index)[0]))
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    report = tmp_path / "report.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "engine", str(photos), "--out", str(tmp_path / "o"), "-j", "2", "-q",
         "--report", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr  # the broken one
    assert "7 inputs: 6 written, 0 skipped, 1 failed" in result.stdout
    records = [json.loads(line) for line in report.read_text().splitlines()]
    assert sorted(Path(r["input"]).name for r in records) == sorted(p.name for p in photos.iterdir())
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [f"p{i}.png" for i in range(6)]


def _dies_on_doomed(job: Job, options: Options, config: EngineSettings) -> dict[str, object]:
    """A worker's runner (imported by name in the spawned worker) whose process is killed, as the
    kernel's OOM killer or a crash in a decoder would end it, on an image named doomed*."""
    if job.source.name.startswith("doomed"):
        os.kill(os.getpid(), signal.SIGKILL)
    return {"input": str(job.source), "output": str(job.target), "ok": True}


def test_a_worker_that_dies_fails_its_own_image_and_the_others_go_on(tmp_path: Path) -> None:
    """-j 2 ended in a traceback (BrokenProcessPool) when a worker was killed (out of memory on a
    huge photo): no summary, and the images after it were never cut out."""
    names = ["a.jpg", "b.jpg", "doomed.jpg", "c.jpg", "d.jpg", "e.jpg", "f.jpg"]
    jobs = [Job(tmp_path / name, tmp_path / "o" / name) for name in names]
    records = list(run_parallel(jobs, Options(), EngineSettings(threads=2), 2, _dies_on_doomed))
    assert sorted(str(r["input"]) for r in records) == sorted(str(job.source) for job in jobs)
    failed = [r for r in records if not r["ok"]]
    assert [(Path(str(r["input"])).name, r["error"]) for r in failed] == [("doomed.jpg", "worker_died")]


def test_a_worker_that_cannot_load_the_model_stops_the_run_with_the_reason(tmp_path: Path) -> None:
    """A worker whose start failed (its model could not load) ended its process, which read as a
    dead worker: every image was cut out again alone, in one fresh process each, and every one
    failed as worker_died, the reason only in the tracebacks on stderr. The run now stops at the
    first, with the start's error, as a run without -j does (the CLI: exit 2, 'error: ...')."""
    jobs = [Job(tmp_path / f"p{index}.jpg", tmp_path / "o" / f"p{index}.png") for index in range(6)]
    config = EngineSettings(threads=2, model_dir=tmp_path / "no-models")
    with pytest.raises(ModelNotFoundError, match="no-models"):
        list(run_parallel(jobs, Options(), config, 2, _dies_on_doomed))


def _killed_mid_write(job: Job, options: Options, config: EngineSettings) -> dict[str, object]:
    """A worker's runner whose process is killed halfway through writing the cut-out of an image
    named doomed* (its hidden temporary file written, not yet renamed), as the OOM killer would end
    it; the others are cut out as the command line does."""
    if job.source.name.startswith("doomed"):
        job.target.parent.mkdir(parents=True, exist_ok=True)
        job.target.with_name(partial_name(job.target.name, os.getpid())).write_bytes(b"half a PNG")
        os.kill(os.getpid(), signal.SIGKILL)
    return run_job(job, options, config)


def test_a_worker_killed_mid_write_leaves_no_hidden_file_in_the_output_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each worker killed while writing (the first time in the pool, again alone) left its hidden
    `.doomed.png.<pid>.partial` in --out for good."""
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    for index, name in enumerate(["a", "doomed", "b"]):
        (photos / f"{name}.jpg").write_bytes(encode(scene(160, 120, seed=index)[0]))
    monkeypatch.setattr(cli, "run_job", _killed_mid_write)
    monkeypatch.setattr(cli, "usable_cpus", lambda: 2)  # -j 2 is not capped to 1 on a one-CPU machine
    assert cli.main([str(photos), "--out", str(out), "-j", "2", "-q"]) == EXIT_FAILURES
    assert f"FAILED {photos / 'doomed.jpg'}: worker_died" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]


def _kill_this_process() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class _DiesAtStart:
    """A worker's runner that kills each worker process it is sent to as that process starts (as it
    reads its start arguments: before it loads the model or takes an image), as the OOM killer or a
    crash while loading the model would end it."""

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return _kill_this_process, ()

    def __call__(self, job: Job, options: Options, config: EngineSettings) -> dict[str, object]:
        raise AssertionError("a worker that died at its start ran an image")


def _killed_at_the_first_start(marker: str) -> object:
    """The first worker process to start is killed (`marker` made by it); the others get the runner."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return _dies_on_doomed
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("killed")


class _DiesAtFirstStart:
    """A worker's runner whose first worker process is killed as it starts: the OOM killer once, while
    two workers load the model at the same time."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return _killed_at_the_first_start, (str(self.marker),)

    def __call__(self, job: Job, options: Options, config: EngineSettings) -> dict[str, object]:
        raise AssertionError("runs in the worker as _dies_on_doomed")


def test_a_worker_killed_once_at_its_start_fails_no_image(tmp_path: Path) -> None:
    """Only a worker that dies at its start when alone stops the run: one killed while the pool's
    workers all load the model is taken for a dead worker, and its images are cut out again."""
    jobs = [Job(tmp_path / f"p{index}.jpg", tmp_path / "o" / f"p{index}.png") for index in range(6)]
    records = list(run_parallel(jobs, Options(), EngineSettings(threads=2), 2, _DiesAtFirstStart(tmp_path / "m")))
    assert sorted(str(r["input"]) for r in records) == sorted(str(job.source) for job in jobs)
    assert all(r["ok"] for r in records) and (tmp_path / "m").exists()


def test_workers_that_die_at_start_stop_the_run_with_one_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Workers killed at their start (loading the model), before taking any image, failed the
    images one by one: each cut out again alone in a fresh worker that died too, the summary a
    'FAILED ...: worker_died' line per image, exit 1. The run now stops at the first worker that
    dies so alone, with one error and exit 2, as a worker whose model cannot load does."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(6):
        (photos / f"p{index}.jpg").write_bytes(encode(scene(64, 48, seed=index)[0]))
    monkeypatch.setattr(cli, "run_job", _DiesAtStart())
    monkeypatch.setattr(cli, "usable_cpus", lambda: 2)
    assert cli.main([str(photos), "--out", str(tmp_path / "out"), "-j", "2", "-q"]) == EXIT_USAGE
    captured = capsys.readouterr()
    assert "worker_died" not in captured.out and "FAILED" not in captured.out
    errors = captured.err.splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: a worker process ended abruptly while starting"), errors


def test_watch_cuts_out_files_as_they_land_until_ctrl_c(tmp_path: Path) -> None:
    """... and at its end removes the hidden partial a killed watcher left beside an output it made
    again (a watcher taken by SIGKILL mid-write left it for good), as a batch run does."""
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    out.mkdir()
    (inbox / "early.jpg").write_bytes(encode(scene(160, 120, seed=0)[0]))
    left = out / partial_name("early.png", 2**22 + 1)  # above Linux's largest pid: a process that is gone
    left.write_bytes(b"half a PNG")
    command = [sys.executable, "-c", TERMINAL, "--watch", str(inbox), "--out", str(out), "--interval", "0.2"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(out / "early.png", process)
        (inbox / "late.png").write_bytes(encode(scene(160, 120, seed=1)[0], ".png"))
        _wait_for(out / "late.png", process)
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "2 written" in stdout and "Traceback" not in stderr
    assert sorted(p.name for p in out.iterdir()) == ["early.png", "late.png"]


def _wait_for(path: Path, process: subprocess.Popen[str], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not path.is_file():
        assert time.monotonic() < deadline and process.poll() is None, f"no {path.name}"
        time.sleep(0.1)
