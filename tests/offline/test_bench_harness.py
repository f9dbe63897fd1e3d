"""The benchmark harness end to end on tiny generated data, with the engine as the only contender.

rembg is not needed here: it is imported only inside its contender, which these tests never load.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from bench.__main__ import main
from bench.acceptance import baseline_checks, product_checks
from bench.contenders import U2NET_HOME, EngineContender, RembgContender, TeacherContender, make_contender
from bench.data import discover_sets, load_set, resized_jpeg
from bench.matting import rgba_of
from bench.quality import quality_pass
from bench.report import render, write_results
from bench.speed import cold_pass, warm_pass
from engine.foreground import decontaminate
from engine.refine import refine_alpha
from modelbuild.teachers import Labeller, Member, Teacher
from tests.synthetic import encode, scene

MODEL = "u2netp-int8"  # ships in git, so the test runs on a fresh checkout


@pytest.fixture(scope="module")
def dev_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two labelled sets of two generated 160x120 scenes, plus a folder that is not a set."""
    root = tmp_path_factory.mktemp("dev")
    for name, seeds in {"tiny": (0, 1), "small": (2, 3)}.items():
        (root / name / "images").mkdir(parents=True)
        (root / name / "masks").mkdir()
        for seed in seeds:
            bgr, mask = scene(160, 120, seed=seed)
            (root / name / "images" / f"s{seed}.jpg").write_bytes(encode(bgr, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 92))
            (root / name / "masks" / f"s{seed}.png").write_bytes(encode(mask, ".png"))
    (root / "notes").mkdir()
    return root


@pytest.fixture(scope="module")
def engine_contender() -> EngineContender:
    contender = EngineContender(MODEL)
    assert contender.missing() is None
    contender.import_library()
    contender.load_model()
    return contender


def test_sets_are_found_by_folder_and_pairs_by_stem(dev_dir: Path) -> None:
    assert discover_sets(dev_dir) == ["small", "tiny"]
    samples = load_set("tiny", dev_dir)
    assert [s.stem for s in samples] == ["s0", "s1"]
    assert samples[0].truth().shape == (120, 160)
    assert len(load_set("tiny", dev_dir, limit=1)) == 1


def test_an_image_without_mask_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "broken" / "images").mkdir(parents=True)
    (tmp_path / "broken" / "masks").mkdir()
    (tmp_path / "broken" / "images" / "a.jpg").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="has no mask"):
        load_set("broken", tmp_path)


def test_speed_photos_have_the_requested_size(tmp_path: Path) -> None:
    source = tmp_path / "src.jpg"
    source.write_bytes(encode(scene(160, 120)[0]))
    with Image.open(__import__("io").BytesIO(resized_jpeg(source, (321, 241)))) as image:
        assert (image.format, image.size) == ("JPEG", (321, 241))


def test_contender_keys() -> None:
    assert make_contender("engine").key == "engine"
    assert make_contender("engine:u2netp").key == "engine:u2netp"
    assert make_contender("rembg:u2net").key == "rembg:u2net"
    with pytest.raises(ValueError, match="unknown contender"):
        make_contender("rembg:isnet")


def test_the_teacher_is_a_contender_raw_or_through_the_engines_refinement(tmp_path: Path) -> None:
    raw, crisp, soft = (make_contender(f"teacher:isnet{s}") for s in ("", "+refine", "+soft_edges"))
    assert [c.key for c in (raw, crisp, soft)] == ["teacher:isnet", "teacher:isnet+refine", "teacher:isnet+soft_edges"]
    assert [c.edges for c in (raw, crisp, soft) if isinstance(c, TeacherContender)] == ["raw", "crisp", "soft"]
    with pytest.raises(ValueError, match="unknown contender"):
        make_contender("teacher:rmbg")
    with pytest.raises(ValueError, match="unknown contender"):
        make_contender("teacher:isnet+alpha_matting")
    absent = Teacher((Member("isnet", tmp_path / "isnet-fp32.onnx", 1024),))
    assert "python -m training fetch --teacher isnet" in (TeacherContender("isnet", teacher=absent).missing() or "")


def test_modnet_is_a_reference_contender_raw_or_refined(tmp_path: Path) -> None:
    raw, soft = make_contender("teacher:modnet"), make_contender("teacher:modnet+soft_edges")
    assert isinstance(raw, TeacherContender) and isinstance(soft, TeacherContender)
    assert (raw.key, raw.edges, soft.key, soft.edges) == ("teacher:modnet", "raw", "teacher:modnet+soft_edges", "soft")
    absent = Teacher((Member("modnet", tmp_path / "modnet.onnx", 512, matte=True),))
    assert "python -m training fetch --teacher modnet" in (TeacherContender("modnet", teacher=absent).missing() or "")


def test_a_teacher_contender_cuts_out_with_the_teachers_map(tmp_path: Path) -> None:
    """Any teacher network will do: rembg's u2netp source weights stand in for ISNet's 170 MB."""
    teacher = Teacher((Member("u2netp", U2NET_HOME / "u2netp.onnx", 320),))
    bgr, mask = scene(240, 180)
    data = encode(bgr, ".png")
    labeller = Labeller(teacher, threads=1)
    for edges, expected in (
        ("raw", labeller.label(bgr)),
        ("crisp", refine_alpha(labeller.maps(bgr)[0], bgr)),
        ("soft", refine_alpha(labeller.maps(bgr)[0], bgr, soft=True)),
    ):
        contender = TeacherContender("u2netp", edges, teacher=teacher)
        assert contender.missing() is None
        contender.import_library()
        contender.load_model()
        rgba = rgba_of(contender.cutout(data).png)
        alpha = rgba[..., 3]
        assert np.array_equal(alpha, expected) and np.array_equal(contender.mask(data), expected)
        assert np.array_equal(rgba[..., 2::-1], decontaminate(bgr, alpha))  # colours unmixed, as the engine does
        assert np.mean(np.abs(alpha / 255 - mask / 255)) < 0.1  # the scene's object, cut out


def test_missing_models_are_reported_not_skipped_silently(tmp_path: Path) -> None:
    assert "not found" in (RembgContender("u2netp", tmp_path).missing() or "")
    assert "unknown model" in (EngineContender("no-such-model").missing() or "")


def test_quality_pass_scores_the_engine_on_each_set(dev_dir: Path, engine_contender: EngineContender) -> None:
    sets = {name: load_set(name, dev_dir) for name in discover_sets(dev_dir)}
    results = quality_pass([engine_contender], sets, log=lambda line: None)
    assert set(results) == {"small", "tiny"}
    row = results["tiny"][engine_contender.key]
    assert row["n"] == 2
    assert row["mae"] < 0.1 and row["max_fbeta"] > 0.8 and row["miou"] > 0.8  # easy scenes
    assert row["s_per_img"] > 0


def test_warm_and_cold_passes_report_times_stages_and_memory(tmp_path: Path, engine_contender: EngineContender) -> None:
    image = tmp_path / "photo.jpg"
    image.write_bytes(encode(scene(160, 120)[0]))
    warm, load = warm_pass([engine_contender], {"tiny": image.read_bytes()}, repeats=2)
    row = warm["tiny"][engine_contender.key]
    assert 0 < row["min_s"] <= row["median_s"] <= row["max_s"]
    assert set(row["stages_ms"]) >= {"decode_ms", "infer_ms", "refine_ms", "encode_ms"}
    assert load >= 0
    cold, rss, _ = cold_pass([engine_contender.key], image, image, 1, tmp_path, log=lambda line: None)
    assert cold[engine_contender.key]["median_s"] >= cold[engine_contender.key]["import_s"] > 0
    assert rss[engine_contender.key]["peak_rss_mib"] >= rss[engine_contender.key]["rss_import_mib"] > 0


def _results(ours: dict, base: dict) -> dict:
    quality = {name: {"engine": ours, "rembg:u2netp": base} for name in ("sod", "horse")}
    return {
        "contenders": {"engine": {"model_id": MODEL}, "rembg:u2netp": {"model_id": "u2netp"}},
        "quality": quality,
        "speed": {
            "warm": {
                "2MP": {
                    "engine": {"median_s": 0.1, "min_s": 0.1, "max_s": 0.1},
                    "rembg:u2netp": {"median_s": 0.4, "min_s": 0.4, "max_s": 0.4, "predict_s": 0.3},
                }
            },
            "cold": {"engine": {"median_s": 1.5}, "rembg:u2netp": {"median_s": 2.0}},
            "rss": {"engine": {"peak_rss_mib": 200.0}, "rembg:u2netp": {"peak_rss_mib": 700.0}},
        },
    }


def test_acceptance_lines_pass_fail_and_not_measured() -> None:
    row = {"n": 3, "mae": 0.05, "max_fbeta": 0.9, "miou": 0.8, "s_per_img": 0.1, "other_cpu_cores": 0.0}
    worse = {**row, "mae": 0.06, "max_fbeta": 0.85}
    checks = {c.name: c.status for c in product_checks(_results(row, worse))}
    assert checks["sod MAE <= rembg u2netp"] == "PASS"
    assert checks["horse maxFβ >= rembg u2netp"] == "PASS"
    assert checks["warm 2MP time <= 0.5x rembg u2netp"] == "PASS"  # 0.25x
    assert checks["peak RSS 12MP <= 0.5x rembg u2netp"] == "PASS"  # 0.29x
    assert checks["cold start <= 0.5x rembg u2netp"] == "FAIL"  # 0.75x
    flipped = {c.name: c.status for c in product_checks(_results(worse, row))}
    assert flipped["sod MAE <= rembg u2netp"] == "FAIL"
    assert {c.status for c in product_checks({})} == {"N/A"}


def test_baseline_check_demands_the_reference_figures_to_four_decimals() -> None:
    exact = {"n": 164, "mae": 0.03814, "max_fbeta": 0.95126, "miou": 0.88941}
    off = {**exact, "miou": 0.8895}

    def statuses(row: dict[str, float]) -> dict[str, str]:
        return {c.name: c.status for c in baseline_checks({"quality": {"horse": {"rembg:u2netp": row}}})}

    assert statuses(exact)["reproduces reference horse rembg:u2netp"] == "PASS"
    assert statuses(off)["reproduces reference horse rembg:u2netp"] == "FAIL"
    assert statuses({**exact, "n": 6})["reproduces reference horse rembg:u2netp"] == "N/A"


def test_results_are_written_as_json_and_markdown(tmp_path: Path) -> None:
    row = {"n": 3, "mae": 0.05, "max_fbeta": 0.9, "miou": 0.8, "haze": 0.002, "s_per_img": 0.1, "other_cpu_cores": 0.01}
    results = _results(row, row)
    json_path, md_path = write_results(results, tmp_path / "run" / "latest")
    assert json.loads(json_path.read_text()) == results
    markdown = md_path.read_text()
    assert markdown == render(results)
    assert f"| sod | engine ({MODEL}) | 3 | 0.0500 | 0.9000 | 0.8000 | 0.0020 | 0.100 |" in markdown
    assert "| engine (u2netp-int8) | 0.100 (0.100–0.100) | 0.25x |" in markdown
    assert "- FAIL cold start <= 0.5x rembg u2netp: 0.75x rembg u2netp" in markdown


def test_the_harness_imports_without_rembg() -> None:
    code = "import sys, bench.__main__, bench.probe; assert 'rembg' not in sys.modules, 'rembg imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


def test_command_line_quick_quality_run_writes_both_files(dev_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "quick"
    code = main(
        [
            "--quick",
            "--dev-dir",
            str(dev_dir),
            "--sets",
            "tiny",
            "--models",
            f"engine:{MODEL},rembg:u2netp",
            "--u2net-home",
            str(tmp_path),
            "--parts",
            "quality",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "SKIP rembg:u2netp" in printed  # no model files in tmp_path: said, not hidden
    results = json.loads(out.with_suffix(".json").read_text())
    assert list(results["quality"]) == ["tiny"] and results["quick"] is True
    assert "rembg:u2netp" in results["skipped"]
    assert f"| tiny | engine:{MODEL} | 2 |" in out.with_suffix(".md").read_text()
    assert "N/A  warm 2MP time <= 0.5x rembg u2netp" in printed


def test_a_matting_only_run_loads_only_the_matting_contenders(tmp_path: Path, capsys) -> None:
    matting = tmp_path / "matting"
    (matting / "images").mkdir(parents=True)
    (matting / "alphas").mkdir()
    bgr, mask = scene(160, 120, seed=4)
    (matting / "images" / "m4.jpg").write_bytes(encode(bgr, ".jpg", cv2.IMWRITE_JPEG_QUALITY, 92))
    (matting / "alphas" / "m4.png").write_bytes(encode(cv2.GaussianBlur(mask, (5, 5), 0), ".png"))
    out = tmp_path / "matting-only"
    args = ["--parts", "matting", "--matting-dir", str(matting), "--matting-models", f"engine:{MODEL}"]
    code = main([*args, "--models", "engine,rembg:u2netp", "--u2net-home", str(tmp_path), "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "SKIP" not in printed and "is not running" not in printed  # --models are quality's and speed's
    results = json.loads(out.with_suffix(".json").read_text())
    assert list(results["contenders"]) == [f"engine:{MODEL}"] and results["skipped"] == {}
    assert list(results["matting"]["contenders"]) == [f"engine:{MODEL}"]
