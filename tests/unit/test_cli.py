"""`python -m engine`: folders in, PNGs out, honest exit codes and a summary."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import NoReturn
from urllib.parse import parse_qsl

import numpy as np
import pytest
from PIL import Image

from engine import cli
from engine.cli import EXIT_FAILURES, EXIT_OK, EXIT_USAGE, main
from engine.files import RECIPE_XATTR, Job, is_done, partial_name, remove_dead_partials, write_whole
from engine.manifest import load_manifest
from engine.options import Options
from engine.settings import DEFAULT_MODEL, MODELS_DIR
from tests.synthetic import encode, scene

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    (folder / "nested" / "deeper").mkdir(parents=True)
    (folder / "a.jpg").write_bytes(encode(scene(200, 150, seed=0)[0]))
    (folder / "a.png").write_bytes(encode(scene(200, 150, seed=1)[0], ".png"))
    (folder / "nested" / "deeper" / "b.JPG").write_bytes(encode(scene(160, 120, seed=2)[0]))
    (folder / "notes.txt").write_text("not an image, and not picked up from a folder")
    return folder


def test_folder_is_processed_recursively_without_overwrites(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main([str(photos), "--out", str(out), "--quiet"]) == EXIT_OK
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.png"))
    assert written == ["a.jpg.png", "a.png.png", "nested/deeper/b.png"]
    image = Image.open(out / "nested" / "deeper" / "b.png")
    assert image.mode == "RGBA" and image.size == (160, 120)


def test_a_bad_file_fails_alone_with_its_reason(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = photos / "broken.jpg"
    bad.write_bytes(b"GIF89a truncated")
    report = tmp_path / "report.jsonl"
    code = main([str(photos), "--out", str(tmp_path / "out"), "--quiet", "--report", str(report)])
    assert code == EXIT_FAILURES
    summary = capsys.readouterr().out
    assert "4 inputs: 3 written, 0 skipped, 1 failed" in summary and "broken.jpg" in summary
    records = [json.loads(line) for line in report.read_text().splitlines()]
    assert [r["ok"] for r in records].count(False) == 1
    assert all(0 <= r["uncertainty"] <= 1 for r in records if r["ok"])


@pytest.mark.parametrize(("fmt", "width"), [("webp", 16384), ("jpeg", 65501)])
def test_an_image_too_wide_for_the_format_fails_alone(
    photos: Path, tmp_path: Path, fmt: str, width: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """It ended the batch with exit 2, as if the model were broken, with every later input left undone."""
    (photos / "wide.png").write_bytes(encode(np.full((2, width, 3), 90, np.uint8), ".png"))
    report = tmp_path / "report.jsonl"
    args = ["--format", fmt, "--background", "#ffffff", "--quiet", "--report", str(report)]
    assert main([str(photos), "--out", str(tmp_path / "out"), *args]) == EXIT_FAILURES
    records = {Path(r["input"]).name: r for r in map(json.loads, report.read_text().splitlines())}
    assert len(records) == 4 and [name for name, r in records.items() if not r["ok"]] == ["wide.png"]
    assert records["wide.png"]["error"] == "image_too_large" and f"{width}x2 px" in records["wide.png"]["reason"]
    assert "4 inputs: 3 written, 0 skipped, 1 failed" in capsys.readouterr().out


def test_an_unexpected_error_on_one_image_fails_that_image_alone(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug met by one image (an OpenCV error, say) ended the batch with a traceback: no summary,
    an empty report, every later input undone. Now it is that image's failure, with its reason."""
    real = cli.remove_background

    def failing_on_a_png(data: bytes, *args: object, **kwargs: object) -> object:
        if data.startswith(b"\x89PNG"):
            raise RuntimeError("an OpenCV error, say")
        return real(data, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cli, "remove_background", failing_on_a_png)
    report = tmp_path / "report.jsonl"
    assert main([str(photos), "--out", str(tmp_path / "out"), "--quiet", "--report", str(report)]) == EXIT_FAILURES
    records = {Path(r["input"]).name: r for r in map(json.loads, report.read_text().splitlines())}
    assert [name for name, r in records.items() if not r["ok"]] == ["a.png"] and len(records) == 3
    assert records["a.png"]["error"] == "internal_error" and "an OpenCV error, say" in records["a.png"]["reason"]


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [("ENGINE_MODEL", "zzz", "zzz"), ("ENGINE_MODEL_DIR", "/nonexistent", "/nonexistent"), ("ENGINE_THREADS", "x", "")],
)
def test_list_models_refuses_a_bad_setting_as_a_run_does(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, value: str, said: str
) -> None:
    """It exited 0: with an unknown default, or an empty table for a model folder that is not there."""
    monkeypatch.setenv(variable, value)
    assert main(["--list-models"]) == EXIT_USAGE
    assert said in capsys.readouterr().err


def test_mask_and_background_options(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main([str(photos / "a.jpg"), "--out", str(out), "--mask", "--quiet"]) == EXIT_OK
    assert Image.open(out / "a.jpg.png").mode == "L"  # a.png beside it shares the stem
    assert main([str(photos / "a.jpg"), "--out", str(out), "--background", "#00ff00", "--quiet"]) == EXIT_OK
    corner = np.asarray(Image.open(out / "a.jpg.png"))[0, 0]
    assert Image.open(out / "a.jpg.png").mode == "RGB" and corner[1] > 240 and corner[0] < 15


def test_skip_existing(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    main([str(photos), "--out", str(out), "--quiet"])
    capsys.readouterr()
    assert main([str(photos), "--out", str(out), "--quiet", "--skip-existing"]) == EXIT_OK
    assert "3 skipped" in capsys.readouterr().out


def _recipe_of(output: Path) -> dict[str, str]:
    """The options an output records having been made with (files.RECIPE_XATTR), by name."""
    return dict(parse_qsl(os.getxattr(output, RECIPE_XATTR).decode(), keep_blank_values=True))


@pytest.mark.usefixtures("user_xattrs")
def test_skip_existing_redoes_the_outputs_made_with_other_options(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--skip-existing --background ffffff --crop` after a plain run kept the plain cut-outs: an
    output is taken as done only when the options it records are the ones asked for now."""
    out = tmp_path / "out"
    assert main([str(photos), "--out", str(out), "--quiet"]) == EXIT_OK
    plain = (out / "a.jpg.png").read_bytes()
    weights = load_manifest(DEFAULT_MODEL, MODELS_DIR).sha256
    assert os.getxattr(out / "a.jpg.png", RECIPE_XATTR).decode() == Options().recorded_recipe(DEFAULT_MODEL, weights)
    resolved = Options(model=DEFAULT_MODEL).to_strings()  # the model resolved and its weights, no time
    assert _recipe_of(out / "a.jpg.png") == {**resolved, "weights": weights[:16]}
    capsys.readouterr()
    again = [str(photos), "--out", str(out), "--quiet", "--skip-existing", "--background", "ffffff", "--crop"]
    assert main(again) == EXIT_OK
    assert "3 inputs: 3 written, 0 skipped, 0 failed" in capsys.readouterr().out
    cut = Image.open(out / "a.jpg.png")
    assert cut.mode == "RGB" and cut.width < 200 and (out / "a.jpg.png").read_bytes() != plain
    assert _recipe_of(out / "a.jpg.png")["crop"] == "true"
    the_same = [str(photos), "--out", str(out), "--quiet", "--skip-existing", "--background", "white", "--crop"]
    assert main(the_same) == EXIT_OK  # white is ffffff: the same options, however spelt
    assert "3 inputs: 0 written, 3 skipped, 0 failed" in capsys.readouterr().out
    assert main([str(photos / "a.jpg"), "--out", str(out), "--quiet"]) == EXIT_OK  # one made plain again
    capsys.readouterr()
    assert main(again) == EXIT_OK
    assert "3 inputs: 1 written, 2 skipped, 0 failed" in capsys.readouterr().out
    assert Image.open(out / "a.jpg.png").mode == "RGB"


@pytest.mark.usefixtures("user_xattrs")
def test_skip_existing_redoes_the_outputs_of_another_model_however_it_was_chosen(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The recipe names the model resolved: ENGINE_MODEL=u2netp-int8 is --model u2netp-int8, not the default."""
    out, deeper = tmp_path / "out", str(photos / "nested")
    assert main([deeper, "--out", str(out), "--quiet"]) == EXIT_OK
    monkeypatch.setenv("ENGINE_MODEL", "u2netp-int8")
    capsys.readouterr()
    assert main([deeper, "--out", str(out), "--quiet", "--skip-existing"]) == EXIT_OK
    assert "1 inputs: 1 written, 0 skipped" in capsys.readouterr().out
    assert _recipe_of(out / "deeper" / "b.png")["model"] == "u2netp-int8"
    monkeypatch.delenv("ENGINE_MODEL")
    assert main([deeper, "--out", str(out), "--quiet", "--skip-existing", "--model", "u2netp-int8"]) == EXIT_OK
    assert "1 inputs: 0 written, 1 skipped" in capsys.readouterr().out


def _install(folder: Path, model_id: str, weights: str) -> Path:
    """The model file and manifest of the shipped model `weights` installed in `folder` under
    `model_id`, as a user installs a fine-tuned model under the id it had (ENGINE_MODEL_DIR)."""
    folder.mkdir()
    manifest = json.loads((MODELS_DIR / f"{weights}.json").read_text())
    (folder / f"{model_id}.onnx").symlink_to((MODELS_DIR / manifest["file"]).resolve())
    (folder / f"{model_id}.json").write_text(json.dumps({**manifest, "id": model_id, "file": f"{model_id}.onnx"}))
    return folder


@pytest.mark.usefixtures("user_xattrs")
def test_skip_existing_redoes_the_outputs_of_other_weights_under_the_same_model_id(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model replaced under its id (fine-tuned and installed again, a new default shipped) kept
    the cut-outs of the old weights: the recipe names the weights too, the sha256 of the manifest
    that the model file is checked against when it is loaded."""
    out, deeper = tmp_path / "out", str(photos / "nested")
    monkeypatch.setenv("ENGINE_MODEL", "mine")
    monkeypatch.setenv("ENGINE_MODEL_DIR", str(_install(tmp_path / "old", "mine", "u2netp-int8")))
    assert main([deeper, "--out", str(out), "--quiet"]) == EXIT_OK
    capsys.readouterr()
    assert main([deeper, "--out", str(out), "--quiet", "--skip-existing"]) == EXIT_OK
    assert "1 inputs: 0 written, 1 skipped" in capsys.readouterr().out  # the same weights: kept
    monkeypatch.setenv("ENGINE_MODEL_DIR", str(_install(tmp_path / "moved", "mine", "u2netp-int8")))
    assert main([deeper, "--out", str(out), "--quiet", "--skip-existing"]) == EXIT_OK
    assert "1 inputs: 0 written, 1 skipped" in capsys.readouterr().out  # in another folder: the same weights
    monkeypatch.setenv("ENGINE_MODEL_DIR", str(_install(tmp_path / "new", "mine", "u2netp-256-int8")))
    assert main([deeper, "--out", str(out), "--quiet", "--skip-existing"]) == EXIT_OK
    assert "1 inputs: 1 written, 0 skipped" in capsys.readouterr().out
    recorded, new_weights = _recipe_of(out / "deeper" / "b.png"), load_manifest("u2netp-256-int8", MODELS_DIR).sha256
    assert recorded["model"] == "mine" and recorded["weights"] == new_weights[:16]
    assert main([deeper, "--out", str(out), "--quiet", "--skip-existing"]) == EXIT_OK
    assert "1 inputs: 0 written, 1 skipped" in capsys.readouterr().out


@pytest.mark.usefixtures("user_xattrs")
def test_skip_existing_redoes_once_an_output_whose_recipe_names_no_weights(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An output of a version that recorded the options alone was made by weights unknown: it is
    cut out again once, and then records them and is kept."""
    out = tmp_path / "out"
    assert main([str(photos / "nested"), "--out", str(out), "--quiet"]) == EXIT_OK
    output = out / "deeper" / "b.png"
    os.setxattr(output, RECIPE_XATTR, Options().recipe(DEFAULT_MODEL).encode())  # as recorded before
    capsys.readouterr()
    assert main([str(photos / "nested"), "--out", str(out), "--quiet", "--skip-existing"]) == EXIT_OK
    assert "1 inputs: 1 written, 0 skipped" in capsys.readouterr().out
    assert "weights" in _recipe_of(output)
    assert main([str(photos / "nested"), "--out", str(out), "--quiet", "--skip-existing"]) == EXIT_OK
    assert "1 inputs: 0 written, 1 skipped" in capsys.readouterr().out


@pytest.mark.usefixtures("user_xattrs")
def test_skip_existing_takes_an_output_that_records_no_options_as_done(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The rule for an output without the attribute (an older version's, one copied without its
    xattrs, one on a filesystem without them): made by unknown options, it is kept, as before."""
    out = tmp_path / "out"
    assert main([str(photos / "nested"), "--out", str(out), "--quiet"]) == EXIT_OK
    output = out / "deeper" / "b.png"
    os.removexattr(output, RECIPE_XATTR)
    before = output.read_bytes()
    capsys.readouterr()
    assert main([str(photos / "nested"), "--out", str(out), "--quiet", "--skip-existing", "--crop"]) == EXIT_OK
    assert "1 inputs: 0 written, 1 skipped" in capsys.readouterr().out
    assert output.read_bytes() == before


@pytest.mark.usefixtures("user_xattrs")
def test_the_options_are_recorded_on_the_output_through_its_rename(tmp_path: Path) -> None:
    source = tmp_path / "a.jpg"
    source.write_bytes(b"photo")
    job = Job(source, tmp_path / "out" / "a.png")
    write_whole(job.target, b"cut-out", "crop=true")
    assert os.getxattr(job.target, RECIPE_XATTR) == b"crop=true"
    assert [p.name for p in job.target.parent.iterdir()] == ["a.png"]
    assert is_done(job, "crop=true") and not is_done(job, "crop=false")
    write_whole(job.target, b"cut-out again", "crop=false")  # the new file's own, not the old one's
    assert is_done(job, "crop=false") and not is_done(job, "crop=true")


@pytest.mark.parametrize("platform", ["no xattr functions (macOS, Windows)", "ENOTSUP (a FAT or network mount)"])
def test_without_extended_attributes_an_output_is_written_and_taken_as_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, platform: str
) -> None:
    if platform.startswith("no"):
        monkeypatch.delattr(os, "setxattr", raising=False)
        monkeypatch.delattr(os, "getxattr", raising=False)
    else:

        def refuse(*_: object) -> NoReturn:
            raise OSError(errno.ENOTSUP, os.strerror(errno.ENOTSUP))

        monkeypatch.setattr(os, "setxattr", refuse)
        monkeypatch.setattr(os, "getxattr", refuse)
    source = tmp_path / "a.jpg"
    source.write_bytes(b"photo")
    job = Job(source, tmp_path / "out" / "a.png")
    write_whole(job.target, b"cut-out", "crop=true")
    assert [p.name for p in job.target.parent.iterdir()] == ["a.png"] and job.target.read_bytes() == b"cut-out"
    assert is_done(job, "crop=true") and is_done(job, "crop=false")  # made by unknown options: kept


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert main([str(tmp_path / "missing.jpg"), "--out", str(tmp_path)]) == EXIT_USAGE
    with pytest.raises(SystemExit) as bad_colour:
        main([str(tmp_path), "--out", str(tmp_path), "--background", "purplish"])
    assert bad_colour.value.code == EXIT_USAGE
    with pytest.raises(SystemExit) as bad_format:
        main([str(tmp_path), "--out", str(tmp_path), "--format", "bmp"])
    assert bad_format.value.code == EXIT_USAGE


@pytest.mark.parametrize(("variable", "value"), [("ENGINE_MAX_MEGAPIXELS", "64MP"), ("ENGINE_THREADS", "abc")])
def test_a_bad_engine_setting_exits_2_before_any_image(
    photos: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
) -> None:
    monkeypatch.setenv(variable, value)
    assert main([str(photos), "--out", str(tmp_path / "out"), "--quiet"]) == EXIT_USAGE
    assert variable in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_unknown_model_exits_2_naming_the_installed_ones(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(photos), "--out", str(tmp_path / "out"), "--model", "nope", "--quiet"]) == EXIT_USAGE
    assert "u2netp-int8" in capsys.readouterr().err


def test_the_report_and_the_summary_name_images_without_a_subject(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deeper = photos / "nested" / "deeper"
    (deeper / "blank.png").write_bytes(encode(np.full((60, 80, 3), 200, np.uint8), ".png"))
    report = tmp_path / "report.jsonl"
    assert main([str(deeper), "--out", str(tmp_path / "out"), "--quiet", "--report", str(report)]) == EXIT_OK
    records = {Path(r["input"]).name: r for r in map(json.loads, report.read_text().splitlines())}
    assert records["blank.png"]["no_subject"] is True and records["b.JPG"]["no_subject"] is False
    assert "1 with no subject found" in capsys.readouterr().out


def test_worst_lists_the_highest_estimated_errors_first(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.jsonl"
    assert main([str(photos), "--out", str(tmp_path / "out"), "-q", "--worst", "2", "--report", str(report)]) == EXIT_OK
    errors = {r["input"]: r["estimated_error"] for r in map(json.loads, report.read_text().splitlines())}
    out = capsys.readouterr().out
    assert "2 with the highest estimated error" in out
    listed = [
        line.split(maxsplit=1)[1] for line in out.splitlines() if line.startswith("  0.") or line.startswith("  1.")
    ]
    assert listed == sorted(errors, key=lambda k: -errors[k])[:2]


def _bytes_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_out_equal_to_an_input_folder_is_refused_and_nothing_is_overwritten(
    photos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _bytes_of(photos)
    assert main([str(photos), "--out", str(photos), "--quiet"]) == EXIT_USAGE
    assert "input folder" in capsys.readouterr().err
    assert _bytes_of(photos) == before


def test_a_cutout_never_replaces_its_own_input(photos: Path) -> None:
    """`a.png --out .` used to write the cut-out of a.png over a.png."""
    source = (photos / "a.png").read_bytes()
    assert main([str(photos / "a.png"), "--out", str(photos), "--quiet"]) == EXIT_OK
    assert (photos / "a.png").read_bytes() == source
    assert Image.open(photos / "a.png.png").mode == "RGBA"


def test_inputs_that_share_a_name_each_get_their_own_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """d1/a.jpg d2/a.jpg used to report "2 written" and leave one file."""
    inputs = []
    for index, folder in enumerate(("d1", "d2", "d3")):
        (tmp_path / folder).mkdir()
        inputs.append(tmp_path / folder / "a.jpg")
        inputs[-1].write_bytes(encode(scene(96, 64, seed=index)[0]))
    (tmp_path / "d1" / "a.png").write_bytes(encode(scene(96, 64, seed=7)[0], ".png"))
    out = tmp_path / "o"
    assert main([*map(str, inputs), str(tmp_path / "d1" / "a.png"), "--out", str(out), "--quiet"]) == EXIT_OK
    assert "4 inputs: 4 written" in capsys.readouterr().out
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.png"))
    assert written == ["d1/a.jpg.png", "d1/a.png.png", "d2/a.png", "d3/a.png"]


def test_an_output_folder_inside_the_input_is_not_read_back(photos: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """photos --out photos/cutouts re-processed the previous outputs on every run (cutouts/cutouts/...)."""
    out = photos / "cutouts"
    assert main([str(photos), "--out", str(out), "--quiet"]) == EXIT_OK
    capsys.readouterr()
    assert main([str(photos), "--out", str(out), "--quiet", "--skip-existing"]) == EXIT_OK
    assert "3 inputs: 0 written, 3 skipped" in capsys.readouterr().out
    assert not (out / "cutouts").exists()


def test_outputs_are_written_whole_so_an_empty_one_is_not_taken_as_done(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.png").write_bytes(b"")  # what a run killed mid-write used to leave
    assert main([str(photos / "nested"), "--out", str(out), "--quiet", "--skip-existing"]) == EXIT_OK
    assert Image.open(out / "deeper" / "b.png").size == (160, 120)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == ["b.png", "deeper/b.png"]


def _a_pid_no_process_has() -> int:
    """The id of a process that is gone: what a killed run's process id is once it has been reaped."""
    pid = 2**22  # above Linux's largest pid_max
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid -= 1


def test_a_rerun_removes_the_hidden_partials_a_killed_run_left_and_no_other_file(photos: Path, tmp_path: Path) -> None:
    """A run killed mid-write (the OOM killer, SIGKILL) left its hidden `.<name>.<pid>.partial`
    beside the output for good: a rerun wrote the output and left the partial. Now a run removes
    those of its outputs whose process is gone, never one of a live process (another run writing
    the same folder) nor any other file."""
    out = tmp_path / "out"
    (out / "deeper").mkdir(parents=True)
    gone, live = _a_pid_no_process_has(), os.getppid()
    (out / "deeper" / f".b.png.{gone}.partial").write_bytes(b"half a PNG")
    kept = [f".b.png.{live}.partial", f".c.png.{gone}.partial", f".b.png.{gone}.partial.txt", ".DS_Store"]
    for name in kept:
        (out / "deeper" / name).write_bytes(b"not ours to remove")
    assert main([str(photos / "nested"), "--out", str(out), "--quiet"]) == EXIT_OK
    assert sorted(p.name for p in (out / "deeper").iterdir()) == sorted([*kept, "b.png"])


def test_the_partial_of_an_output_named_as_long_as_a_name_can_be_is_removed_too(tmp_path: Path) -> None:
    """Its temporary name is the output's cut short (files.partial_name), not the whole of it."""
    name = "é" * 125 + "x.png"  # 255 bytes
    gone, live = _a_pid_no_process_has(), os.getppid()
    for pid in (gone, live):
        (tmp_path / partial_name(name, pid)).write_bytes(b"half a PNG")
    remove_dead_partials([tmp_path / name])
    assert [p.name for p in tmp_path.iterdir()] == [partial_name(name, live)]


@pytest.mark.parametrize("where", ["a file", "under a file", "not writable"])
def test_an_unusable_out_exits_2_before_any_work(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    (tmp_path / "file").write_text("x")
    out = {"a file": tmp_path / "file", "under a file": tmp_path / "file" / "sub", "not writable": Path("/proc/o")}
    assert main([str(photos), "--out", str(out[where]), "--quiet"]) == EXIT_USAGE
    assert "--out" in capsys.readouterr().err


def test_the_report_is_opened_first_and_written_as_images_finish(photos: Path, tmp_path: Path) -> None:
    report = tmp_path / "missing" / "folder" / "report.jsonl"  # created, not a traceback after the work
    assert main([str(photos / "nested"), "--out", str(tmp_path / "out"), "-q", "--report", str(report)]) == EXIT_OK
    assert len(report.read_text().splitlines()) == 1
    (tmp_path / "taken").mkdir()
    assert main([str(photos), "--out", str(tmp_path / "o2"), "--quiet", "--report", str(tmp_path / "taken")]) == 2
    assert not (tmp_path / "o2").exists(), "refused before any image"


def test_files_it_cannot_read_as_images_are_counted_and_listed(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = photos / "nested"
    os.mkfifo(folder / "pipe.jpg")
    (folder / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (folder / "phone.JXL").write_bytes(b"\xff\x0a")
    (folder / "deeper" / "still.psd").write_bytes(b"8BPS")
    report = tmp_path / "report.jsonl"
    code = main([str(folder), "--out", str(tmp_path / "out"), "--quiet", "--report", str(report)])
    summary = capsys.readouterr().out
    assert code == EXIT_FAILURES
    assert "4 not readable as images" in summary
    for name in ("pipe.jpg", "gone.png", "phone.JXL", "still.psd"):
        assert name in summary
    records = [json.loads(line) for line in report.read_text().splitlines()]
    assert sorted(Path(r["input"]).name for r in records if r.get("error") == "not_readable") == [
        "gone.png",
        "phone.JXL",
        "pipe.jpg",
        "still.psd",
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder")
def test_an_unreadable_subfolder_is_listed(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    locked = photos / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        assert main([str(photos), "--out", str(tmp_path / "out"), "--quiet"]) == EXIT_FAILURES
    finally:
        locked.chmod(0o755)
    assert "locked" in capsys.readouterr().out


def test_an_input_whose_name_is_as_long_as_a_name_can_be_is_written(tmp_path: Path) -> None:
    """A 255-byte output name failed as write_error 'File name too long': its temporary name added
    a dot, the process id and '.partial' to it."""
    folder = tmp_path / "in"
    folder.mkdir()
    longest = os.pathconf(folder, "PC_NAME_MAX")
    stem = "é" * ((longest - 4) // 2) + "x" * ((longest - 4) % 2)  # 2-byte characters: cut on a character
    (folder / f"{stem}.jpg").write_bytes(encode(scene(96, 64, seed=0)[0]))
    out = tmp_path / "out"
    assert main([str(folder), "--out", str(out), "--quiet"]) == EXIT_OK
    assert [p.name for p in out.iterdir()] == [f"{stem}.png"]


def test_files_passed_over_for_their_names_are_counted_in_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder of photos saved without a suffix (hash names) or as .jpg_large said '0 inputs: 0
    written' and exited 0, with no word of the files it had passed over."""
    folder = tmp_path / "in"
    folder.mkdir()
    photo = encode(scene(96, 64, seed=0)[0])
    for name in ("0a1b2c3d", "9f8e7d6c", "photo.jpg_large"):
        (folder / name).write_bytes(photo)
    (folder / "a.jpg").write_bytes(photo)
    (folder / "a.txt").write_text("a caption")  # an image's caption: its sidecar, not a file passed over
    (folder / ".DS_Store").write_bytes(b"\0")  # hidden: passed over without a word, as before
    assert main([str(folder), "--out", str(tmp_path / "out"), "--quiet"]) == EXIT_OK
    summary = capsys.readouterr().out
    assert "1 inputs: 1 written" in summary
    assert "3 files passed over, not named as images (.jpg, .png, ...): 2 without a suffix, 1 .jpg_large" in summary


def test_the_summary_names_inputs_of_which_only_the_first_frame_was_cut_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An animated GIF in a training folder was cut out from its first frame, said only by the
    report's first_frame_only: the summary, which lists what a user must look at, was silent."""
    folder = tmp_path / "in"
    folder.mkdir()
    frames = [Image.fromarray(scene(96, 64, seed=seed)[0][..., ::-1]) for seed in range(3)]
    frames[0].save(folder / "clip.gif", save_all=True, append_images=frames[1:], duration=100)
    (folder / "still.jpg").write_bytes(encode(scene(96, 64, seed=0)[0]))
    assert main([str(folder), "--out", str(tmp_path / "out"), "--quiet"]) == EXIT_OK
    summary = capsys.readouterr().out
    assert "1 animated or multi-page, only the first frame cut out:" in summary
    assert f"FIRST FRAME ONLY {folder / 'clip.gif'}" in summary and "still.jpg" not in summary
