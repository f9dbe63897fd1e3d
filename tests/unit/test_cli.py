"""`python -m engine`: folders in, PNGs out, honest exit codes and a summary."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import EXIT_FAILURES, EXIT_OK, EXIT_USAGE, main
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


def test_mask_and_background_options(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main([str(photos / "a.jpg"), "--out", str(out), "--mask", "--quiet"]) == EXIT_OK
    assert Image.open(out / "a.png").mode == "L"
    assert main([str(photos / "a.jpg"), "--out", str(out), "--background", "#00ff00", "--quiet"]) == EXIT_OK
    corner = np.asarray(Image.open(out / "a.png"))[0, 0]
    assert Image.open(out / "a.png").mode == "RGB" and corner[1] > 240 and corner[0] < 15


def test_skip_existing(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    main([str(photos), "--out", str(out), "--quiet"])
    capsys.readouterr()
    assert main([str(photos), "--out", str(out), "--quiet", "--skip-existing"]) == EXIT_OK
    assert "3 skipped" in capsys.readouterr().out


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert main([str(tmp_path / "missing.jpg"), "--out", str(tmp_path)]) == EXIT_USAGE
    with pytest.raises(SystemExit) as bad_colour:
        main([str(tmp_path), "--out", str(tmp_path), "--background", "purple"])
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
    (photos / "blank.png").write_bytes(encode(np.full((60, 80, 3), 200, np.uint8), ".png"))
    report = tmp_path / "report.jsonl"
    assert main([str(photos), "--out", str(tmp_path / "out"), "--quiet", "--report", str(report)]) == EXIT_OK
    records = {Path(r["input"]).name: r for r in map(json.loads, report.read_text().splitlines())}
    assert records["blank.png"]["no_subject"] is True and records["a.jpg"]["no_subject"] is False
    assert "1 with no subject found" in capsys.readouterr().out
