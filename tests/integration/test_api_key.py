"""ApiAuth=API_KEY on the local stack: the gateway enforces x-api-key where the template's routes
want it (403 without, the cut-out with), the page stays open and asks for the key; with the
default (IAM) no key is asked for."""

from __future__ import annotations

import base64
import shlex
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from local.api_gateway import ApiGatewayBridge, curl_example
from local.browser import BrowserError, chromium, cut_out_in_page
from local.deployment import LocalDeployment
from local.samples import SAMPLES_DIR
from tests.integration.buckets import image_size, sample_bytes

KEY = "local-test-key-0123456789abcdef"


@pytest.fixture(scope="module")
def keyed_stack(moto_endpoint: str) -> Iterator[LocalDeployment]:
    with LocalDeployment(s3_endpoint=moto_endpoint, parameters={"ApiAuth": "API_KEY"}) as deployment:
        yield deployment


@contextmanager
def _keyed_page(keyed_stack: LocalDeployment) -> Iterator[tuple[str, Any]]:
    """The page's URL on the keyed stack, and a fresh Chromium (nothing kept from another test)."""
    keyed_stack.create_buckets()
    emulator = keyed_stack.emulator(keyed_stack.api_function)
    with (
        ApiGatewayBridge(emulator, routes=keyed_stack.api_routes(), api_keys=[KEY]) as bridge,
        chromium() as browser,
    ):
        yield bridge.url, browser


def test_the_key_is_enforced_on_the_work_and_the_page_asks_for_it(keyed_stack: LocalDeployment) -> None:
    keyed_stack.create_buckets()
    emulator = keyed_stack.emulator(keyed_stack.api_function)
    with ApiGatewayBridge(emulator, routes=keyed_stack.api_routes(), api_keys=[KEY]) as bridge:
        page = requests.get(f"{bridge.url}", timeout=60)
        head = requests.head(f"{bridge.url}", timeout=60)
        photo = sample_bytes("chelsea.jpg")
        refused = requests.post(f"{bridge.url}remove", data=photo, timeout=60)
        wrong = requests.post(f"{bridge.url}remove", data=photo, headers={"x-api-key": "guess"}, timeout=60)
        uploads = requests.post(f"{bridge.url}uploads", json={"filename": "a.jpg"}, timeout=60)
        done = requests.post(f"{bridge.url}remove", data=photo, headers={"x-api-key": KEY}, timeout=60)
    assert page.status_code == 200 and '<meta name="api-auth" content="API_KEY">' in page.text
    assert head.status_code == 200, "an uptime check of the page needs no key, as the page itself"
    assert 'id="apikey"' in page.text and "sessionStorage" in page.text
    for response in (refused, wrong, uploads):
        assert response.status_code == 403 and response.json() == {"message": "Forbidden"}
    assert done.status_code == 200 and done.headers["Content-Type"] == "image/png"


def test_with_iam_the_page_asks_for_no_key(stack: LocalDeployment, api) -> None:
    with ApiGatewayBridge(api, routes=stack.api_routes(), api_keys=[KEY]) as bridge:
        page = requests.get(f"{bridge.url}", timeout=60)
        done = requests.post(f"{bridge.url}remove", data=sample_bytes("chelsea.jpg"), timeout=60)
    assert '<meta name="api-auth" content="IAM">' in page.text
    assert done.status_code == 200, "SigV4 is API Gateway's to check; the local gateway asks no key"


def _run_printed_example(command: str, cwd: Path) -> bytes:
    """Run the curl line `make serve` prints, from the repository root (it names samples/), into cwd."""
    argv = shlex.split(command)
    argv[argv.index("@samples/astronaut.jpg")] = f"@{SAMPLES_DIR / 'astronaut.jpg'}"
    subprocess.run([*argv, "--fail", "--silent"], cwd=cwd, check=True, timeout=120)
    return (cwd / "cutout.png").read_bytes()


def test_the_curl_line_make_serve_prints_gives_a_cut_out(keyed_stack: LocalDeployment, tmp_path: Path) -> None:
    keyed_stack.create_buckets()
    emulator = keyed_stack.emulator(keyed_stack.api_function)
    with ApiGatewayBridge(emulator, routes=keyed_stack.api_routes(), api_keys=[KEY]) as bridge:
        png = _run_printed_example(curl_example(bridge.url, KEY), tmp_path)
        (tmp_path / "keyless").mkdir()
        with pytest.raises(subprocess.CalledProcessError):  # the keyless line is refused with the key on
            _run_printed_example(curl_example(bridge.url), tmp_path / "keyless")
    assert png.startswith(b"\x89PNG") and max(image_size(png)) <= 512


def test_in_the_browser_the_page_asks_for_the_key_and_keeps_it_for_the_tab(keyed_stack: LocalDeployment) -> None:
    photo = SAMPLES_DIR / "chelsea.jpg"
    with _keyed_page(keyed_stack) as (url, browser):
        with pytest.raises(BrowserError, match="API key was refused"):
            cut_out_in_page(browser, url, photo, api_key="not-the-key")
        with cut_out_in_page(browser, url, photo, api_key=KEY) as cutout:
            assert (cutout.format, cutout.size) == ("PNG", image_size(photo.read_bytes()))
        browser.get(url)  # a reload in the same tab: the key is still there
        assert browser.execute_script("return document.getElementById('apikey').value") == KEY
        assert browser.execute_script("return sessionStorage.getItem('bg-remover-api-key')") == KEY
        assert browser.execute_script("return localStorage.length") == 0, "never kept beyond the tab"


def test_a_key_typed_and_used_at_once_is_the_one_sent_and_kept_for_the_tab(keyed_stack: LocalDeployment) -> None:
    """The key was stored only when the field lost the focus (its change event) and an older stored
    key was sent before the field's: a key typed, then a photo dragged in (the field keeps the focus),
    cut out but was gone after a reload; a corrected key typed over a stored one sent the old one."""
    from selenium.webdriver.common.keys import Keys  # noqa: PLC0415 - only the browser tests need selenium

    from tests.integration.test_browser import DROP_ON_JS, _wait_for_a_new_cut_out  # noqa: PLC0415

    photo = SAMPLES_DIR / "chelsea.jpg"
    encoded = base64.b64encode(photo.read_bytes()).decode()
    with _keyed_page(keyed_stack) as (url, browser):
        browser.get(url)
        browser.execute_script("sessionStorage.setItem('bg-remover-api-key', 'an-old-key')")
        browser.refresh()
        field = browser.find_element("id", "apikey")
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(KEY)  # typed over the old key; the focus stays in the field
        assert browser.execute_script(DROP_ON_JS, "drop", photo.name, encoded) == [True, True]
        with _wait_for_a_new_cut_out(browser) as cutout:
            assert cutout.size == image_size(photo.read_bytes())
        browser.refresh()
        assert browser.execute_script("return document.getElementById('apikey').value") == KEY


def test_a_photo_chosen_before_any_key_was_typed_asks_for_the_key(keyed_stack: LocalDeployment) -> None:
    """With the key field empty the page sent the photo without a key and said 'The API key was
    refused', of a key the user never typed."""
    with _keyed_page(keyed_stack) as (url, browser):
        with pytest.raises(BrowserError) as refused:
            cut_out_in_page(browser, url, SAMPLES_DIR / "chelsea.jpg")
        focused = browser.execute_script("return document.activeElement.id")
    assert "needs an API key" in str(refused.value) and "refused" not in str(refused.value)
    assert focused == "apikey", "the key field has the focus, ready for the key"


def test_a_key_pasted_into_its_field_stays_there_and_an_image_pasted_there_next_is_cut_out(
    keyed_stack: LocalDeployment,
) -> None:
    """Pasting an image anywhere on the page cuts it out, but text pasted into the key field is the
    key; the field keeps the focus after it, and an image pasted next (no text in it for the field)
    is the photo, sent with that key."""
    from tests.integration.test_browser import (  # noqa: PLC0415
        COUNT_REQUESTS_JS,
        _wait_for_a_new_cut_out,
        copy_to_clipboard,
        paste,
        png_of,
    )

    photo = SAMPLES_DIR / "chelsea.jpg"
    with _keyed_page(keyed_stack) as (url, browser):
        browser.get(url)
        browser.execute_script(COUNT_REQUESTS_JS)
        browser.find_element("id", "apikey").click()
        copy_to_clipboard(browser, text=KEY)
        paste(browser)
        assert browser.execute_script("return document.getElementById('apikey').value") == KEY
        assert browser.execute_script("return sessionStorage.getItem('bg-remover-api-key')") == KEY
        assert browser.execute_script("return window.sent") == 0
        assert browser.find_element("id", "status").text == "", "a key pasted is no photo pasted"

        copy_to_clipboard(browser, png=png_of(photo))
        paste(browser)
        with _wait_for_a_new_cut_out(browser) as cutout:
            assert cutout.size == image_size(photo.read_bytes())
        focus_and_key = "return [document.activeElement.id, document.getElementById('apikey').value]"
        assert browser.execute_script(focus_and_key) == ["apikey", KEY], "the key field keeps the focus and the key"
