"""infra/Dockerfile and .dockerignore (no Docker here: the checks read them, and run the model
selection step the build runs)."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from samtranslator.yaml_helper import yaml_parse

from engine.settings import DEFAULT_MODEL
from infra import select_models
from infra.select_models import shipped_models

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "infra" / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    return [line.split(None, 1)[1] for line in DOCKERFILE.splitlines() if line.startswith(name + " ")]


def included(path: str) -> bool:
    """Whether .dockerignore lets `path` into the build context (last matching rule wins)."""
    keep = True
    for rule in (ROOT / ".dockerignore").read_text().splitlines():
        rule = rule.strip()
        if not rule or rule.startswith("#"):
            continue
        negated, pattern = rule.startswith("!"), rule.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
            keep = negated
    return keep


def test_image_is_the_lambda_python_312_base_running_the_s3_entry():
    assert "ARG BASE_IMAGE=public.ecr.aws/lambda/python:3.12" in DOCKERFILE
    assert instructions("CMD") == ['["handler.s3_entry.lambda_handler"]']


def test_only_runtime_requirements_are_installed():
    (install,) = [run for run in instructions("RUN") if "pip install" in run]
    assert "-r /build/requirements.txt" in install and "--target" in install
    runtime = (ROOT / "requirements.txt").read_text().lower()
    for dev_only in ("pytest", "moto", "aws-sam-cli", "awslambdaric"):
        assert dev_only not in runtime


def test_every_copied_source_exists_and_is_in_the_build_context():
    sources = []
    for copy in instructions("COPY"):
        if copy.startswith("--from="):
            continue
        sources += copy.split()[:-1]
    assert sources, "no COPY instructions"
    for source in sources:
        matches = list(ROOT.glob(source.rstrip("/"))) if "*" in source else [ROOT / source]
        assert matches and all(m.exists() for m in matches), source
        for match in matches:
            assert included(str(match.relative_to(ROOT))), f"{source} is excluded by .dockerignore"
    for excluded in (
        ".venv/bin/python",
        ".git/HEAD",
        "tests/conftest.py",
        "samples/astronaut.jpg",
        "engine/__pycache__/x.pyc",
    ):
        assert not included(excluded)


SHIPPED = shipped_models(ROOT / "engine" / "models")


def test_the_shipped_models_are_named_by_their_manifests_alone():
    assert SHIPPED, "at least the default model is shipped"
    assert "ARG ENGINE_MODELS=\n" in DOCKERFILE, "extra models only: the shipped ones come from the manifests"
    template = yaml_parse((ROOT / "template.yaml").read_text())
    assert not [r for r in template["Resources"].values() if "DockerBuildArgs" in r.get("Metadata", {})]
    assert template["Parameters"]["EngineModel"]["Default"] in SHIPPED
    assert DEFAULT_MODEL in SHIPPED


def models_folder(folder: Path, baked: bytes | None) -> Path:
    """The shipped models and u2netp (fp32) copied into `folder`, with a baked model whose file
    holds `baked` (None: its file was not built)."""
    folder.mkdir()
    for model_id in [*SHIPPED, "u2netp"]:
        manifest = json.loads((ROOT / "engine" / "models" / f"{model_id}.json").read_text())
        shutil.copy(ROOT / "engine" / "models" / f"{model_id}.json", folder)
        shutil.copy(ROOT / "engine" / "models" / manifest["file"], folder)
    payload = baked or b"built by make models-all"
    manifest = {
        "id": "big",
        "baked": True,
        "file": "big.onnx",
        "bytes": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    (folder / "big.json").write_text(json.dumps(manifest))
    if baked is not None:
        (folder / "big.onnx").write_bytes(baked)
    return folder


def test_model_selection_copies_the_shipped_and_baked_models_and_the_extra_ones(tmp_path: Path):
    source = models_folder(tmp_path / "models", baked=b"weights")
    select_models.main([str(source), str(tmp_path / "out"), "u2netp"])
    for model_id in [*SHIPPED, "big", "u2netp"]:
        manifest = json.loads((tmp_path / "out" / f"{model_id}.json").read_text())
        assert (tmp_path / "out" / manifest["file"]).stat().st_size == manifest["bytes"]
    assert len(list((tmp_path / "out").glob("*.json"))) == len(SHIPPED) + 2


def test_a_baked_model_that_was_not_built_stops_the_image_build_with_the_command_that_builds_it(tmp_path: Path):
    source = models_folder(tmp_path / "models", baked=None)
    with pytest.raises(SystemExit, match="make models-all"):
        select_models.main([str(source), str(tmp_path / "out")])


def test_the_image_bakes_in_u2net_int8_as_the_high_quality_option():
    assert "u2net-int8" in select_models.baked_models(ROOT / "engine" / "models")
    assert "u2net-int8" not in SHIPPED  # 44 MB: built by make models-all, never committed


def test_model_selection_refuses_a_model_that_does_not_match_its_manifest(tmp_path: Path):
    source = tmp_path / "models"
    source.mkdir()
    manifest = json.loads((ROOT / "engine" / "models" / "u2netp-int8.json").read_text())
    shutil.copy(ROOT / "engine" / "models" / "u2netp-int8.json", source)
    data = bytearray((ROOT / "engine" / "models" / manifest["file"]).read_bytes())
    data[-1] ^= 0xFF
    (source / manifest["file"]).write_bytes(bytes(data))

    with pytest.raises(SystemExit) as refused:
        select_models.main([str(source), str(tmp_path / "out"), "u2netp-int8"])

    assert refused.value.code != 0 and "does not match" in str(refused.value.code)


def test_model_selection_refuses_an_unknown_model(tmp_path: Path):
    source = models_folder(tmp_path / "models", baked=None)  # even when a baked model is not built yet
    with pytest.raises(SystemExit, match="unknown model 'no-such-model'"):
        select_models.main([str(source), str(tmp_path / "out"), "no-such-model"])
