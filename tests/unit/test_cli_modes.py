"""The command line's other modes: --version, --list-models, the watch loop, the stream and -j
argument rules, the workers' thread share (the processes themselves: tests/integration)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.catalog import model_rows
from engine.cli import EXIT_OK, STREAM, build_parser, main, usage_problem
from engine.files import Job, write_whole
from engine.parallel import worker_settings
from engine.settings import DEFAULT_MODEL, MODELS_DIR, EngineSettings
from engine.version import __version__
from engine.watch import landed_jobs
from tests.synthetic import encode, scene


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def test_version_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip().endswith(__version__)


def test_list_models_shows_each_manifest_with_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list-models"]) == EXIT_OK
    table = capsys.readouterr().out
    assert f"{DEFAULT_MODEL} *" in table and "320x320" in table and "u2netp-int8 " in table
    rows = {row["id"]: row for row in model_rows(MODELS_DIR)}
    assert rows["u2netp-int8"]["installed"] is True and rows["u2netp-int8"]["ms"] > 0
    assert rows["u2netp-distilled-int8"]["sod_max_fbeta"] > 0.5


def test_list_models_gives_times_measured_side_by_side_so_they_compare() -> None:
    """Each build timed its model against its own float original, on whatever else the machine was
    doing then: the default (U²-Netp's graph) showed 160 ms beside u2netp-int8's 76 and U²-Net
    INT8's 119. The times shown are one run's, every model beside the others."""
    rows = {row["id"]: row for row in model_rows(MODELS_DIR) if row["ms"] is not None}  # a model of your own: "-"
    assert {tuple(row["timed_with"]) for row in rows.values()} == {tuple(sorted(rows))}
    assert {"u2netp-distilled-int8", "u2netp-int8", "u2netp", "u2net-int8", "modnet-int8"} <= set(rows)
    ms = {model_id: row["ms"] for model_id, row in rows.items()}
    assert 0.85 < ms["u2netp-distilled-int8"] / ms["u2netp-int8"] < 1.15  # the same graph, other weights
    assert ms["u2netp-int8"] < ms["u2netp"] and ms["u2netp-int8"] < ms["u2net-int8"]


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["a.jpg"], "--out"),
        (["--out", "o"], "--watch"),
        (["a.jpg", "b.jpg", "--out", "-"], "exactly one"),
        (["-", "a.jpg", "--out", "o"], "alone"),
        (["a.jpg", "--out", "o", "-j", "0"], "--jobs"),
    ],
)
def test_argument_combinations_that_cannot_work_are_refused(argv: list[str], problem: str) -> None:
    found = usage_problem(_args(*argv))
    assert found is not None and problem in found


def test_streams_and_watching_are_accepted() -> None:
    assert usage_problem(_args("-", "--out", "-")) is None
    assert usage_problem(_args("--watch", "in", "--out", "o")) is None
    assert _args("-", "--out", "-").out == STREAM


def test_workers_share_the_threads_out() -> None:
    assert worker_settings(EngineSettings(threads=8), 2).threads == 4
    assert worker_settings(EngineSettings(threads=2), 4).threads == 1


def _watched_until_the_steps_run_out(folder: Path, out: Path, steps: Iterator[Callable[[], object]]) -> list[Job]:
    """The jobs a watcher of `folder` hands out, running one step at each poll's sleep until none is left."""
    taken: list[Job] = []

    def sleep(_: float) -> None:
        step = next(steps, None)
        if step is None:
            raise KeyboardInterrupt
        step()

    with pytest.raises(KeyboardInterrupt):
        taken.extend(landed_jobs(folder, out, ".png", 0.0, sleep, settle=0.0))
    return taken


def test_watch_takes_a_file_once_it_has_settled_and_each_new_version(tmp_path: Path) -> None:
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    photo = encode(scene(64, 48)[0])
    (folder / "a.jpg").write_bytes(photo[:100])  # still being copied
    (folder / ".b.jpg.partial").write_bytes(photo)
    steps = iter(
        [
            lambda: (folder / "a.jpg").write_bytes(photo),  # copy finished: settles from the next poll
            lambda: None,
            lambda: (folder / "c.jpg").write_bytes(photo),
            lambda: None,
        ]
    )
    taken = _watched_until_the_steps_run_out(folder, out, steps)
    assert [job.source.name for job in taken] == ["a.jpg", "c.jpg"]
    assert taken[0].target == out / "a.png"


def test_watch_does_not_redo_an_output_newer_than_its_input(tmp_path: Path) -> None:
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    (folder / "a.jpg").write_bytes(b"x" * 10)
    (out / "a.png").write_bytes(b"done")
    polls = iter(range(3))

    def sleep(_: float) -> None:
        if next(polls, None) is None:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        assert list(landed_jobs(folder, out, ".png", 0.0, sleep, settle=0.0)) == []


@pytest.mark.usefixtures("user_xattrs")
def test_watch_redoes_an_output_made_with_other_options(tmp_path: Path) -> None:
    """A watcher restarted with other flags kept the outputs the first one made, as --skip-existing did."""
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"x" * 10)
    write_whole(out / "a.png", b"done", "crop=false")

    def watched(recipe: str) -> list[Job]:
        polls = iter(range(3))

        def sleep(_: float) -> None:
            if next(polls, None) is None:
                raise KeyboardInterrupt

        taken: list[Job] = []
        with pytest.raises(KeyboardInterrupt):
            taken.extend(landed_jobs(folder, out, ".png", 0.0, sleep, settle=0.0, recipe=recipe))
        return taken

    assert watched("crop=false") == []
    assert [job.target for job in watched("crop=true")] == [out / "a.png"]


def test_watch_waits_out_a_watched_folder_that_is_gone_for_a_while(tmp_path: Path) -> None:
    """The drop folder removed and made again (a sync tool, a remounted share) while watching: the
    watcher ended in a FileNotFoundError traceback, with no summary, instead of going on."""
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    photo = encode(scene(64, 48)[0])
    steps = iter(
        [
            folder.rmdir,
            lambda: None,
            lambda: folder.mkdir(),
            lambda: (folder / "a.jpg").write_bytes(photo),
            lambda: None,
        ]
    )
    taken = _watched_until_the_steps_run_out(folder, out, steps)
    assert [job.source.name for job in taken] == ["a.jpg"]
