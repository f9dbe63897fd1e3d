"""One naming rule for every cut-out the command line writes (batch and --watch alike).

An output's name is a function of its input's path under its root alone: `a.jpg` -> `a.png`; the
input's extension is kept (`a.jpg.png`) only where another image in the same folder shares the stem
or the output would replace the input; with several roots each is written under its own name.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import EXIT_OK, EXIT_USAGE, capped_jobs, main
from engine.cpus import usable_cpus
from engine.files import find_images, plan_jobs
from engine.watch import landed_jobs
from tests.synthetic import encode, scene


def _photo(path: Path, seed: int, size: tuple[int, int] = (96, 64)) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = encode(scene(*size, seed=seed)[0])
    path.write_bytes(data)
    return data


def _alpha(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))[..., 3]


def _records(report: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in report.read_text().splitlines()]


def test_clashing_names_in_several_roots_go_under_each_roots_name_whatever_the_order(tmp_path: Path) -> None:
    """day1/IMG_0001.jpg and day2/IMG_0001.jpg were written as IMG_0001.jpg.png and .2 by argument order."""
    days = tmp_path / "days"
    for seed, day in enumerate(("day1", "day2")):
        _photo(days / day / "IMG_0001.jpg", seed, (96 + 32 * seed, 64))
    first, second = tmp_path / "cut1", tmp_path / "cut2"
    assert main([str(days / "day1"), str(days / "day2"), "--out", str(first), "-q"]) == EXIT_OK
    assert main([str(days / "day2"), str(days / "day1"), "--out", str(second), "-q"]) == EXIT_OK
    for out in (first, second):
        assert sorted(str(p.relative_to(out)) for p in out.rglob("*.png")) == ["day1/IMG_0001.png", "day2/IMG_0001.png"]
        assert Image.open(out / "day2" / "IMG_0001.png").size == (128, 64)


def test_skip_existing_skips_only_outputs_made_from_the_same_input_and_reports_every_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's repro: a goldfish added as day0 was never cut out, and the horse's file was read as done."""
    days = tmp_path / "days"
    _photo(days / "day1" / "IMG_0001.jpg", 1, (96, 64))
    _photo(days / "day2" / "IMG_0001.jpg", 2, (128, 64))
    out = tmp_path / "cut"
    assert main([str(days / "day1"), str(days / "day2"), "--out", str(out), "-q", "--skip-existing"]) == EXIT_OK
    _photo(days / "day0" / "IMG_0001.jpg", 0, (160, 64))
    capsys.readouterr()
    report = tmp_path / "report.jsonl"
    roots = [str(days / day) for day in ("day0", "day1", "day2")]
    assert main([*roots, "--out", str(out), "-q", "--skip-existing", "--report", str(report)]) == EXIT_OK
    assert "3 inputs: 1 written, 2 skipped" in capsys.readouterr().out
    assert Image.open(out / "day0" / "IMG_0001.png").size == (160, 64)
    assert Image.open(out / "day2" / "IMG_0001.png").size == (128, 64)
    records = {Path(str(r["input"])).parent.name: r for r in _records(report)}
    assert sorted(records) == ["day0", "day1", "day2"]
    assert records["day1"]["skipped"] is True and records["day1"]["output"] == str(out / "day1" / "IMG_0001.png")
    assert "skipped" not in records["day0"]


def test_skip_existing_redoes_an_output_older_than_its_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "in" / "a.jpg"
    _photo(photo, 0)
    out = tmp_path / "out"
    assert main([str(photo), "--out", str(out), "-q"]) == EXIT_OK
    later = (out / "a.png").stat().st_mtime + 10
    _photo(photo, 1)
    os.utime(photo, (later, later))  # the input changed after its cut-out was made
    capsys.readouterr()
    assert main([str(photo), "--out", str(out), "-q", "--skip-existing"]) == EXIT_OK
    assert "1 inputs: 1 written, 0 skipped" in capsys.readouterr().out


def test_the_name_depends_on_the_inputs_own_folder_not_on_the_other_inputs(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    for seed, name in enumerate(("a.jpg", "a.png", "b.jpg")):
        _photo(folder / name, seed)
    alone = plan_jobs(find_images([folder / "a.jpg"]).images, tmp_path / "o", ".png")
    together = plan_jobs(find_images([folder]).images, tmp_path / "o", ".png")
    assert [j.target.name for j in alone] == ["a.jpg.png"]  # its folder has a.png too
    assert [j.target.name for j in together] == ["a.jpg.png", "a.png.png", "b.png"]


def test_files_from_several_folders_go_under_their_folders_names(tmp_path: Path) -> None:
    inputs = [tmp_path / folder / "a.jpg" for folder in ("d1", "d2")]
    for seed, path in enumerate(inputs):
        _photo(path, seed)
    jobs = plan_jobs(find_images(inputs).images, tmp_path / "o", ".png")
    assert [str(j.target.relative_to(tmp_path / "o")) for j in jobs] == ["d1/a.png", "d2/a.png"]


def test_roots_with_the_same_name_are_told_apart_by_their_parents(tmp_path: Path) -> None:
    roots = [tmp_path / side / "photos" for side in ("left", "right")]
    for seed, root in enumerate(roots):
        _photo(root / "x.jpg", seed)
    jobs = plan_jobs(find_images(roots).images, tmp_path / "o", ".png")
    assert [str(j.target.relative_to(tmp_path / "o")) for j in jobs] == ["left/photos/x.png", "right/photos/x.png"]


def test_batch_and_watch_name_an_output_alike(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    _photo(folder / "sub" / "a.jpg", 0)
    batch = plan_jobs(find_images([folder]).images, tmp_path / "o", ".png")
    polls = iter(range(2))

    def sleep(_: float) -> None:
        if next(polls, None) is None:
            raise KeyboardInterrupt

    watched = []
    with pytest.raises(KeyboardInterrupt):
        watched.extend(landed_jobs(folder, tmp_path / "o", ".png", 0.0, sleep, settle=0.0))
    assert [j.target for j in watched] == [j.target for j in batch] == [tmp_path / "o" / "sub" / "a.png"]


def test_hidden_and_appledouble_files_are_passed_over(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    _photo(folder / "photo.jpg", 0)
    (folder / "._photo.jpg").write_bytes(b"\x00\x05\x16\x07 AppleDouble resource fork")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    _photo(folder / ".thumbnails" / "photo.jpg", 1)
    assert main([str(folder), "--out", str(tmp_path / "o"), "-q"]) == EXIT_OK
    assert "1 inputs: 1 written, 0 skipped, 0 failed" in capsys.readouterr().out


def test_outputs_that_would_still_clash_are_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    _photo(folder / "a.jpg", 0)
    _photo(folder / "a.png", 1)
    _photo(folder / "a.jpg.png", 2)  # stem a.jpg: would take a.jpg's output
    assert main([str(folder), "--out", str(tmp_path / "o"), "-q"]) == EXIT_USAGE
    assert "a.jpg.png" in capsys.readouterr().err
    assert not list((tmp_path / "o").rglob("*.png"))


def test_no_subject_is_said_only_of_a_fully_transparent_cutout_and_skip_empty_writes_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A gradient (the model's peak 0.01) was reported NO SUBJECT while 71 of its pixels were written opaque."""
    folder = tmp_path / "in"
    folder.mkdir()
    gradient = np.tile(np.linspace(0, 255, 400, dtype=np.uint8)[None, :, None], (300, 1, 3))
    (folder / "gradient.png").write_bytes(encode(gradient, ".png"))
    _photo(folder / "photo.jpg", 0, (200, 150))
    report = tmp_path / "report.jsonl"
    assert main([str(folder), "--out", str(tmp_path / "o"), "-q", "--report", str(report)]) == EXIT_OK
    records = {Path(str(r["input"])).name: r for r in _records(report)}
    assert records["gradient.png"]["no_subject"] is True
    assert _alpha(tmp_path / "o" / "gradient.png").max() == 0, "the image written agrees with the finding"
    assert records["photo.jpg"]["no_subject"] is False and _alpha(tmp_path / "o" / "photo.png").max() == 255

    capsys.readouterr()
    assert main([str(folder), "--out", str(tmp_path / "o2"), "-q", "--skip-empty", "--report", str(report)]) == EXIT_OK
    assert sorted(p.name for p in (tmp_path / "o2").iterdir()) == ["photo.png"]
    assert "2 inputs: 1 written, 0 skipped, 0 failed, 1 with no subject, not written" in capsys.readouterr().out
    assert {Path(str(r["input"])).name: r["written"] for r in _records(report)} == {
        "gradient.png": False,
        "photo.jpg": True,
    }


@pytest.mark.parametrize(
    ("flags", "warning"),
    [
        (["--quality", "80"], "--quality does nothing with png"),
        (["--margin", "0.1"], "--margin does nothing without --crop"),
        (["--mask", "--background", "#ffffff"], "--background does nothing with --mask"),
        (["--format", "webp", "--compress-level", "9"], "--compress-level does nothing with lossy webp"),
        (["-j", "64"], "--jobs 64 capped to"),
    ],
)
def test_flags_that_would_do_nothing_are_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], warning: str
) -> None:
    _photo(tmp_path / "a.jpg", 0)
    assert main([str(tmp_path / "a.jpg"), "--out", str(tmp_path / "o"), "-q", *flags]) == EXIT_OK
    assert f"warning: {warning}" in capsys.readouterr().err


def test_compress_level_is_lossless_webps_effort_and_no_warning_says_otherwise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _photo(tmp_path / "a.jpg", 0)
    sizes = []
    for level in ("0", "9"):
        flags = ["--format", "webp", "--quality", "100", "--compress-level", level]
        assert main([str(tmp_path / "a.jpg"), "--out", str(tmp_path / level), "-q", *flags]) == EXIT_OK
        sizes.append((tmp_path / level / "a.webp").stat().st_size)
    assert "warning" not in capsys.readouterr().err and sizes[1] < sizes[0]


@pytest.mark.parametrize(
    "flag", [["--report", "r.jsonl"], ["--review", "s.html"], ["--skip-existing"], ["--jobs", "2"]]
)
def test_batch_flags_that_one_streamed_image_ignores_are_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, flag: list[str]
) -> None:
    _photo(tmp_path / "a.jpg", 0)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO((tmp_path / "a.jpg").read_bytes())))
    assert main(["-", "--out", str(tmp_path / "o"), *flag]) == EXIT_OK
    assert (tmp_path / "o" / "stdin.png").exists()
    assert f"warning: {flag[0]} does nothing with one image streamed" in capsys.readouterr().err


def test_jobs_are_capped_to_the_usable_cpus() -> None:
    assert capped_jobs(1) == (1, None)
    assert capped_jobs(usable_cpus() + 14)[0] == usable_cpus()


def test_crisp_edges_gives_the_firm_contour_from_the_command_line(tmp_path: Path) -> None:
    _photo(tmp_path / "a.jpg", 0, (200, 150))
    assert main([str(tmp_path / "a.jpg"), "--out", str(tmp_path / "o"), "-q", "--crisp-edges", "--mask"]) == EXIT_OK
    crisp = np.asarray(Image.open(tmp_path / "o" / "a.png"))
    assert main([str(tmp_path / "a.jpg"), "--out", str(tmp_path / "d"), "-q", "--mask"]) == EXIT_OK
    default = np.asarray(Image.open(tmp_path / "d" / "a.png"))
    assert np.count_nonzero((crisp > 0) & (crisp < 255)) <= np.count_nonzero((default > 0) & (default < 255))


def test_a_plain_run_writes_the_review_sheet_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--review` was prep's alone; a user checking any batch wants the worst cut-outs beside their photos."""
    folder = tmp_path / "in"
    for seed in range(3):
        _photo(folder / f"p{seed}.jpg", seed, (160, 120))
    sheet = tmp_path / "sheet.html"
    assert main([str(folder), "--out", str(tmp_path / "o"), "-q", "--review", str(sheet)]) == EXIT_OK
    page = sheet.read_text()
    assert page.count("<figure>") == 3 and all(f"p{seed}.jpg" in page for seed in range(3))
    assert "review sheet:" in capsys.readouterr().out


@pytest.mark.parametrize("target", ["a-folder", "sheet.pdf", "sheet.html/x.html"])
def test_a_review_sheet_that_cannot_be_written_is_refused_before_any_work(
    tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was found out after the whole batch had run: a traceback (IsADirectoryError), or HTML
    written into a .pdf."""
    _photo(tmp_path / "in" / "p.jpg", 0, (160, 120))
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "sheet.html").write_text("a file, where a folder would have to be")
    out = tmp_path / "o"
    assert main([str(tmp_path / "in"), "--out", str(out), "-q", "--review", str(tmp_path / target)]) == EXIT_USAGE
    assert not out.exists() and "--review" in capsys.readouterr().err


def test_a_review_sheet_names_files_whose_names_are_not_utf8(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    _photo(folder / "p.jpg", 0, (160, 120))
    odd = folder / os.fsdecode(b"\xff\xfe.jpg")
    (folder / "p.jpg").rename(odd)
    sheet = tmp_path / "sheet.html"
    assert main([str(folder), "--out", str(tmp_path / "o"), "-q", "--review", str(sheet)]) == EXIT_OK
    assert sheet.read_text(encoding="utf-8").count("<figure>") == 1


def test_a_refused_run_leaves_an_existing_report_alone(tmp_path: Path) -> None:
    _photo(tmp_path / "p.jpg", 0, (160, 120))
    report, not_a_folder = tmp_path / "report.jsonl", tmp_path / "afile"
    report.write_text('{"kept": true}\n')
    not_a_folder.write_text("")
    assert main([str(tmp_path / "p.jpg"), "--out", str(not_a_folder), "-q", "--report", str(report)]) == EXIT_USAGE
    assert report.read_text() == '{"kept": true}\n'


def test_an_image_given_twice_through_a_folder_and_inside_it_is_cut_out_once(tmp_path: Path) -> None:
    """`left left/photos` (or `left left/photos/a.png`) wrote the same cut-out twice, under two names."""
    _photo(tmp_path / "left" / "photos" / "a.png", 0, (160, 120))
    for extra in ("left/photos", "left/photos/a.png"):
        out = tmp_path / f"o-{extra.count('/')}"
        assert main([str(tmp_path / "left"), str(tmp_path / extra), "--out", str(out), "-q"]) == EXIT_OK
        assert len(list(out.rglob("*.png"))) == 1


def test_watch_with_inputs_beside_it_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The inputs were silently ignored."""
    _photo(tmp_path / "a.jpg", 0)
    (tmp_path / "inbox").mkdir()
    with pytest.raises(SystemExit) as refused:
        main(["--watch", str(tmp_path / "inbox"), str(tmp_path / "a.jpg"), "--out", str(tmp_path / "o")])
    assert refused.value.code == EXIT_USAGE and "--watch" in capsys.readouterr().err


def test_help_names_the_prep_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "prep FOLDER --out OUT" in capsys.readouterr().out


def test_an_unwritable_report_is_named_in_the_refusal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _photo(tmp_path / "a.jpg", 0)
    (tmp_path / "a-file").write_text("")  # a folder cannot be made under a file, even by root
    report = tmp_path / "a-file" / "r.jsonl"
    assert main([str(tmp_path / "a.jpg"), "--out", str(tmp_path / "o"), "--report", str(report)]) == EXIT_USAGE
    assert "--report" in capsys.readouterr().err


def test_a_negative_worst_is_refused(tmp_path: Path) -> None:
    _photo(tmp_path / "a.jpg", 0)
    with pytest.raises(SystemExit) as refused:
        main([str(tmp_path / "a.jpg"), "--out", str(tmp_path / "o"), "--worst", "-1"])
    assert refused.value.code == EXIT_USAGE


def test_the_review_sheet_tells_apart_files_of_one_name_in_two_folders(tmp_path: Path) -> None:
    """Both were captioned `a.jpg`: a curator could not tell which of the two to look at."""
    _photo(tmp_path / "set" / "a.jpg", 0, (160, 120))
    _photo(tmp_path / "set" / "sub" / "a.jpg", 1, (160, 120))
    sheet = tmp_path / "sheet.html"
    assert main([str(tmp_path / "set"), "--out", str(tmp_path / "o"), "-q", "--review", str(sheet)]) == EXIT_OK
    page = sheet.read_text()
    assert page.count("<figure>") == 2 and f"sub{os.sep}a.jpg" in page


def test_two_names_in_a_folder_linking_to_one_file_each_get_their_cut_out(tmp_path: Path) -> None:
    """A training set whose b.jpg is a link to a.jpg (a duplicate kept by a link, its caption b.txt
    beside it) had b.png silently left out: the two names were taken for one image given twice."""
    folder = tmp_path / "set"
    _photo(folder / "a.jpg", 0)
    (folder / "b.jpg").symlink_to("a.jpg")
    out, report = tmp_path / "out", tmp_path / "report.jsonl"
    assert main([str(folder), "--out", str(out), "-q", "--report", str(report)]) == EXIT_OK
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    assert len(_records(report)) == 2


@pytest.mark.parametrize("flag", ["--report", "--review"])
def test_a_photo_taken_for_the_report_or_the_sheet_is_refused_and_kept(
    tmp_path: Path, flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`bgremove --report photos/*.jpg --out cut` (a glob after the flag) replaced the first photo
    with the report, or with the review sheet, and exited 0: the photo was gone."""
    photos = [tmp_path / "photos" / f"p{seed}.jpg" for seed in range(2)]
    originals = [_photo(path, seed, (160, 120)) for seed, path in enumerate(photos)]
    out = tmp_path / "o"
    assert main([flag, *map(str, photos), "--out", str(out), "-q"]) == EXIT_USAGE
    assert [path.read_bytes() for path in photos] == originals
    assert not out.exists() and flag in capsys.readouterr().err


def test_a_review_sheet_of_an_earlier_run_is_replaced(tmp_path: Path) -> None:
    """The guard above keeps photos, not the sheet a run made before (a .jpg too)."""
    _photo(tmp_path / "in" / "p.jpg", 0, (160, 120))
    sheet = tmp_path / "sheet.jpg"
    for _ in range(2):
        assert main([str(tmp_path / "in"), "--out", str(tmp_path / "o"), "-q", "--review", str(sheet)]) == EXIT_OK
    assert Image.open(sheet).format == "JPEG"


@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_stdin_into_an_unusable_out_is_refused_as_a_batch_run_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """`bgremove - --out afile < a.jpg` ended in a traceback (FileExistsError, NotADirectoryError)
    after the cut-out was made; a batch run refuses such an --out with exit 2 before any work."""
    _photo(tmp_path / "a.jpg", 0)
    (tmp_path / "afile").write_text("x")
    out = {"a file": tmp_path / "afile", "under a file": tmp_path / "afile" / "sub"}[where]
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO((tmp_path / "a.jpg").read_bytes())))
    assert main(["-", "--out", str(out)]) == EXIT_USAGE
    assert "--out" in capsys.readouterr().err and (tmp_path / "afile").read_text() == "x"
