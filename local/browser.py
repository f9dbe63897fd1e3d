"""Headless Chromium driving the page (GET /): used by the browser tests and by `make gallery`'s
screenshot, so the picture in the README is what the tests check.

Chromium and its driver come from Debian's packages (chromium, chromium-driver); `make browser`
installs them (`make test` and `make gallery` do it first). Nothing here installs anything.
"""

from __future__ import annotations

import base64
import io
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PIL import Image

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


class BrowserError(RuntimeError):
    """Chromium is missing and cannot be installed, or the page did not finish a cut-out."""


def require_chromium() -> None:
    """Refuse, with the command that fixes it, when Chromium or its driver is not installed."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        packages = "Debian's chromium and chromium-driver"
        raise BrowserError(f"{' and '.join(missing)} not installed: `make browser` installs {packages}")


@contextmanager
def chromium(window: tuple[int, int] = (1000, 900)) -> Iterator[Any]:
    """A selenium driver for headless Chromium with a fresh profile, closed on exit."""
    require_chromium()
    from selenium import webdriver  # noqa: PLC0415 - only browser work needs selenium
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415 - (as above)

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={window[0]},{window[1]}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        try:
            yield driver
        finally:
            driver.quit()


SET_OPTIONS_JS = """
const [crop, mask, colour, format] = arguments;
const menu = document.getElementById("format");
if (![...menu.options].some((option) => option.value === format)) throw new Error(`no format ${format} in the menu`);
menu.value = format;
document.getElementById("crop").checked = crop;
document.getElementById("mask").checked = mask;
document.getElementById("flatten").checked = colour !== null;
if (colour !== null) document.getElementById("color").value = colour;
"""


def cut_out_in_page(
    driver: Any,
    page_url: str,
    photo: Path,
    timeout: float = 120,
    *,
    crop: bool = False,
    mask: bool = False,
    colour: str | None = None,
    output_format: str = "png",
    api_key: str | None = None,
) -> Image.Image:
    """Open the page, set its options (crop, mask only, a background `colour` such as "#00ff00",
    the format menu), type `api_key` into its key field (ApiAuth=API_KEY), choose `photo`, wait
    for the result, and return the cut-out the page shows."""
    from selenium.webdriver.common.by import By  # noqa: PLC0415 - only browser work needs selenium

    driver.get(page_url)
    if driver.title != "Background remover":
        raise BrowserError(f"unexpected page title {driver.title!r}")
    driver.execute_script(SET_OPTIONS_JS, crop, mask, colour, output_format)
    if api_key is not None:
        field = driver.find_element(By.ID, "apikey")
        field.clear()
        field.send_keys(api_key + "\t")  # leaving the field stores it (its change event)
    return choose_photo(driver, photo, timeout)


def choose_photo(driver: Any, photo: Path, timeout: float = 120) -> Image.Image:
    """Choose `photo` in the open page with its options as they stand, wait for the result, and
    return the cut-out the page shows."""
    from selenium.webdriver.common.by import By  # noqa: PLC0415 - only browser work needs selenium
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415 - (as above)

    driver.find_element(By.ID, "file").send_keys(str(photo))
    status = driver.find_element(By.ID, "status")
    WebDriverWait(driver, timeout).until(
        lambda _: status.text.startswith("Done") or "error" in status.get_attribute("class")
    )
    if not status.text.startswith("Done"):
        raise BrowserError(f"the page reports: {status.text}")
    if not driver.find_element(By.ID, "download").is_displayed():
        raise BrowserError("no download link after the cut-out")
    if not driver.execute_script("return document.getElementById('after').naturalWidth") > 0:
        raise BrowserError("the result image did not load")
    encoded = driver.execute_async_script(READ_RESULT_JS)
    if encoded.startswith("ERROR"):
        raise BrowserError(encoded)
    return Image.open(io.BytesIO(base64.b64decode(encoded)))
