"""The engine's memory estimate (engine/memory.py) against the peak of a fresh interpreter: one that
has loaded the model and cut out one small photo, and holds nothing else. A warm worker's resident
memory (what earlier images left to the allocator) is in its estimate and can hide a shortfall,
as it hid the decoded copy Pillow kept of PNG and TIFF inputs (tests/integration/test_memory.py
measures the worker itself). The peak is VmHWM, reset before the image."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MEGAPIXELS = 24  # where the Pillow copy (4 bytes a pixel) was 90 MiB over the estimate's slack

CHILD = """
import json, os, sys
from engine.decode import decodes_with_opencv, open_image
from engine.memory import resident_mb, working_mb
from engine.options import Options
from engine.pipeline import remove_background
from engine.settings import settings
from local.processes import peak_rss_mb, reset_peak_rss
from reliability.memory import INPUTS, photo_jpeg

name, megapixels, arguments = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3])
config, options, data = settings(), Options.from_strings(arguments), INPUTS[name](megapixels)
remove_background(photo_jpeg(0.2), Options(), config)  # the model has run and holds its arena
header = open_image(data, config.max_megapixels)
needed = working_mb(header, len(data), options, decodes_with_opencv(header, data))
del header
estimate = resident_mb() + needed
reset_peak_rss(os.getpid())
cutout = remove_background(data, options, config)
print(json.dumps({"peak": peak_rss_mb(os.getpid()), "estimate": estimate, "width": cutout.width}))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="VmHWM is reset through Linux's /proc")
@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("RGBA-16 TIFF", {"compress_level": "4"}),  # Pillow decodes it; the cut-out is stacked for the encoder
        ("16-bit gray TIFF", {"compress_level": "4"}),
        ("float TIFF", {}),
        ("JPEG photo", {"compress_level": "4"}),  # OpenCV decodes it
    ],
)
def test_the_estimate_is_never_below_a_fresh_interpreters_peak(name: str, arguments: dict[str, str]) -> None:
    ran = subprocess.run(  # our own child, in a fresh interpreter
        [sys.executable, "-c", CHILD, name, str(MEGAPIXELS), json.dumps(arguments)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    measured = json.loads(ran.stdout.strip().splitlines()[-1])

    assert measured["width"] > 0
    assert measured["peak"] <= measured["estimate"], measured
