"""The page in headless Chromium: served by the API function through a local API Gateway stand-in
(local/api_gateway.py), a user picks a photo and gets the cut-out back in the page, directly
(POST /remove) or, for a large file, through a presigned upload that the worker processes.

Chromium and its driver come from Debian packages; they are installed here when missing.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from local.api_gateway import ApiGatewayBridge
from local.queue_trigger import QueueTrigger
from local.samples import SAMPLES_DIR
from tests.integration.buckets import image_size

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
READ_RESULT_JS = """
const done = arguments[arguments.length - 1];
fetch(document.getElementById("after").src)
  .then((response) => response.arrayBuffer())
  .then((buffer) => {
    let text = "";
    for (const byte of new Uint8Array(buffer)) text += String.fromCharCode(byte);
    done(btoa(text));
  })
  .catch((error) => done("ERROR " + error));
"""


def ensure_chromium() -> None:
    """Install Debian's chromium and chromium-driver when they are missing (needs root)."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.fail(
            "the browser test needs /usr/bin/chromium and chromedriver: apt-get install chromium chromium-driver"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"]):
        subprocess.run(command, check=True, env=env, timeout=900, stdout=subprocess.DEVNULL)  # noqa: S603


@pytest.fixture(scope="module")
def page_url(stack, api, worker, input_prefix) -> Iterator[str]:
    """The page behind the API Gateway stand-in; uploads reach the worker through S3 and SQS."""
    with QueueTrigger(stack.server, worker, stack.input_bucket, input_prefix), ApiGatewayBridge(api) as bridge:
        yield bridge.url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    ensure_chromium()
    from selenium import webdriver  # noqa: PLC0415 - only this module needs selenium
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        try:
            yield driver
        finally:
            driver.quit()


def cut_out_in_page(browser, page_url: str, photo: Path) -> Image.Image:
    """Choose `photo` in the page, wait for the result, and return the cut-out the page shows."""
    from selenium.webdriver.common.by import By  # noqa: PLC0415
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

    browser.get(page_url)
    assert browser.title == "Background remover"
    browser.find_element(By.ID, "file").send_keys(str(photo))
    status = browser.find_element(By.ID, "status")
    WebDriverWait(browser, 120).until(
        lambda _: status.text.startswith("Done") or "error" in status.get_attribute("class")
    )
    assert status.text.startswith("Done"), status.text
    assert browser.find_element(By.ID, "download").is_displayed()
    assert browser.execute_script("return document.getElementById('after').naturalWidth") > 0
    encoded = browser.execute_async_script(READ_RESULT_JS)
    assert not encoded.startswith("ERROR"), encoded
    return Image.open(io.BytesIO(base64.b64decode(encoded)))


def test_page_cuts_out_a_chosen_photo(browser, page_url):
    photo = SAMPLES_DIR / "chelsea.jpg"

    with cut_out_in_page(browser, page_url, photo) as cutout:
        assert (cutout.format, cutout.mode, cutout.size) == ("PNG", "RGBA", image_size(photo.read_bytes()))


def test_large_photo_goes_through_a_presigned_upload_and_the_worker(browser, page_url, tmp_path):
    photo = tmp_path / "large photo.png"
    noise = np.random.default_rng(7).integers(0, 256, (1100, 1300, 3), dtype=np.uint8)
    Image.fromarray(noise).save(photo)
    assert photo.stat().st_size > 4 * 1024 * 1024, "the page sends files over 4 MiB through /uploads"

    with cut_out_in_page(browser, page_url, photo) as cutout:
        assert (cutout.format, cutout.mode, cutout.size) == ("PNG", "RGBA", (1300, 1100))
