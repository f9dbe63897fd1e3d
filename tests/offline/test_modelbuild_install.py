"""`python -m modelbuild install` on the real u2netp: idempotent, and its manifest states the
memory the model's first run takes (it starts fresh interpreters, so it is not a unit test)."""

from __future__ import annotations

import io
import json
import subprocess  # nosec B404
import sys
from pathlib import Path

from PIL import Image

from engine import Options
from engine.decode import decodes_with_opencv
from engine.manifest import sha256_file
from engine.memory import working_mb
from local.samples import SAMPLES_DIR
from modelbuild.arena import STEP_MIB
from modelbuild.install import install_float
from modelbuild.paths import REPO, SOURCE_MODELS


def test_install_float_is_idempotent(tmp_path: Path) -> None:
    target = install_float("u2netp", tmp_path)
    manifest_text, stamp = (tmp_path / "u2netp.json").read_text(), target.stat().st_mtime_ns
    install_float("u2netp", tmp_path)
    assert (tmp_path / "u2netp.json").read_text() == manifest_text
    assert target.stat().st_mtime_ns == stamp
    assert sha256_file(target) == sha256_file(SOURCE_MODELS / "u2netp.onnx")


def test_the_stated_arena_covers_the_engines_first_photo_in_a_fresh_process(tmp_path: Path) -> None:
    """Before the first photo the engine counts the manifest's arena on top of the photo's own
    estimate (engine.memory); a fresh engine process cutting out its first photo grows by no
    more than the two, and by at least the arena (the photo did allocate it)."""
    install_float("u2netp", tmp_path)
    arena = json.loads((tmp_path / "u2netp.json").read_text())["memory"]["arena_mib"]
    assert arena % STEP_MIB == 0 and arena > 0
    script = (
        "import sys, engine\n"
        "from dataclasses import replace\n"
        "from engine.memory import resident_mb\n"
        "config = replace(engine.settings(), model='u2netp', model_dir=__import__('pathlib').Path(sys.argv[1]))\n"
        "model = engine.load_model(config)\n"
        "before = resident_mb()\n"
        "engine.remove_background(open(sys.argv[2], 'rb').read(), config=config)\n"
        "print(model.pending_arena_mb, resident_mb() - before)\n"
    )
    photo = SAMPLES_DIR / "coffee.jpg"
    done = subprocess.run(  # nosec B603
        [sys.executable, "-c", script, str(tmp_path), str(photo)], cwd=REPO, capture_output=True, text=True, check=True
    )
    pending_after, grown = (float(v) for v in done.stdout.split())
    data = photo.read_bytes()
    with Image.open(io.BytesIO(data)) as header:
        needed = working_mb(header, len(data), Options(), decodes_with_opencv(header, data))
    assert pending_after == 0
    assert arena - STEP_MIB < grown <= arena + needed, (grown, arena, needed)
