"""The subject's findings (several_subjects, subject_cut, small_subject) on generated photos, in the
result, the CLI's report and its summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import engine
from engine.cli import EXIT_OK, main
from tests.placed import discs

SUBJECT_FINDINGS = ("several_subjects", "subject_cut", "small_subject")


PHOTOS = {
    "one disc": (discs((200, 150, 80)), set()),
    "two discs": (discs((100, 150, 60), (300, 150, 55)), {"several_subjects"}),
    "a disc and a speck": (discs((200, 150, 80), (370, 30, 6)), set()),
    "a disc cut by the frame": (discs((380, 150, 90)), {"subject_cut"}),
    "a disc grazing the frame": (discs((200, 150, 80), width=400, height=231), set()),
    "a small disc": (discs((200, 150, 20)), {"small_subject"}),
}


@pytest.mark.parametrize("name", PHOTOS)
def test_each_finding_fires_on_its_generated_photo_and_only_there(name: str) -> None:
    photo, expected = PHOTOS[name]
    findings = engine.cut_out(photo).findings()
    assert {f for f in SUBJECT_FINDINGS if findings[f]} == expected


def test_an_empty_photo_has_no_subject_finding() -> None:
    findings = engine.cut_out(discs()).findings()
    assert findings["no_subject"] and not any(findings[f] for f in SUBJECT_FINDINGS)


def test_the_report_and_the_summary_name_the_flagged_photos(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "herd.png").write_bytes(PHOTOS["two discs"][0])
    (folder / "fine.png").write_bytes(PHOTOS["one disc"][0])
    report = tmp_path / "report.jsonl"
    assert main([str(folder), "--out", str(tmp_path / "out"), "--quiet", "--report", str(report)]) == EXIT_OK
    records = {Path(r["input"]).name: r for r in map(json.loads, report.read_text().splitlines())}
    assert records["herd.png"]["several_subjects"] is True and records["fine.png"]["several_subjects"] is False
    summary = capsys.readouterr().out
    assert "SEVERAL SUBJECTS" in summary and "herd.png" in summary and "fine.png" not in summary
