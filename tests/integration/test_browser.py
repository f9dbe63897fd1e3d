"""The page in headless Chromium: served by the API function through a local API Gateway stand-in
(local/api_gateway.py), a user picks a photo and gets the cut-out back in the page, directly
(POST /remove, the result by redirect when it is too large for the reply) or, for a file over the
request limit, through a presigned upload that the worker processes; the options travel either way.

Chromium and its driver come from Debian packages, installed by `make browser` (`make test` runs it first).
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from handler.payload import MAX_REQUEST_BODY_BYTES
from local.api_gateway import ApiGatewayBridge
from local.browser import READ_RESULT_JS, BrowserError, choose_photo, chromium, cut_out_in_page
from local.queue_trigger import QueueTrigger
from local.samples import SAMPLES_DIR
from reliability.memory import photo_jpeg
from tests.integration.buckets import image_size

OVERLAP_JS = """
const box = (id) => document.getElementById(id).getBoundingClientRect();
const apart = (a, b) => a.bottom <= b.top || b.bottom <= a.top || a.right <= b.left || b.right <= a.left;
const drop = box("drop");
const shown = [...document.querySelectorAll(".pane img")].filter((img) => img.getBoundingClientRect().width > 0);
return {
  title: apart(drop, document.querySelector("h1").getBoundingClientRect()),
  options: apart(drop, document.querySelector("fieldset").getBoundingClientRect()),
  images: shown.length,
};
"""
READ_OPTIONS_JS = """
const $ = (id) => document.getElementById(id);
return {crop: $("crop").checked, mask: $("mask").checked, flatten: $("flatten").checked,
        colour: $("color").value, format: $("format").value};
"""
PICK_COLOUR_JS = """
const picker = document.getElementById("color");
picker.value = arguments[0];
picker.dispatchEvent(new Event("change", { bubbles: true }));
"""


@pytest.fixture(scope="module")
def page_url(stack, api, worker) -> Iterator[str]:
    """The page behind the API Gateway stand-in; uploads reach the worker through S3 and SQS."""
    with QueueTrigger(stack.server, worker, stack.input_bucket), ApiGatewayBridge(api) as bridge:
        yield bridge.url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as driver:
        yield driver


def test_page_cuts_out_a_chosen_photo(browser, page_url):
    photo = SAMPLES_DIR / "chelsea.jpg"

    with cut_out_in_page(browser, page_url, photo) as cutout:
        assert (cutout.format, cutout.mode, cutout.size) == ("PNG", "RGBA", image_size(photo.read_bytes()))


def test_the_drop_zone_overlaps_nothing_and_empty_panes_show_no_broken_image(browser, page_url):
    browser.get(page_url)

    assert browser.execute_script(OVERLAP_JS) == {"title": True, "options": True, "images": 0}


@pytest.fixture(scope="module")
def phone_photo(tmp_path_factory) -> object:
    """A 12 MP photo as phones write them (a few MB: it goes straight to POST /remove)."""
    path = tmp_path_factory.mktemp("photos") / "phone.jpg"
    path.write_bytes(photo_jpeg(12))
    assert path.stat().st_size <= MAX_REQUEST_BODY_BYTES
    return path


def test_a_12_mp_photo_round_trips_with_its_options(browser, page_url, phone_photo):
    """Its cut-out is too large for the reply: the page follows the redirect to the stored copy."""
    with cut_out_in_page(browser, page_url, phone_photo, crop=True, colour="#00ff00") as cutout:
        width, height = image_size(phone_photo.read_bytes())
        assert cutout.mode == "RGB", "flattened onto the colour"
        assert cutout.size[0] <= width and cutout.size[1] <= height


def test_a_photo_over_the_request_limit_goes_through_an_upload_with_its_options(browser, page_url, tmp_path):
    photo = tmp_path / "large photo.jpg"
    photo.write_bytes(photo_jpeg(12, quality=99))
    assert photo.stat().st_size > MAX_REQUEST_BODY_BYTES, "the page sends larger files through /uploads"

    with cut_out_in_page(browser, page_url, photo, mask=True) as cutout:
        assert (cutout.format, cutout.mode, cutout.size) == ("PNG", "L", image_size(photo.read_bytes()))
    assert "error" not in browser.find_element("id", "status").get_attribute("class")


def test_a_large_photo_without_an_extension_goes_through_the_upload_too(browser, page_url, tmp_path):
    """/uploads names the object after the file, and the worker takes image suffixes only: the page
    said "not an image we can read" of a valid JPEG over the limit named BIGNOEXT."""
    photo = tmp_path / "BIGNOEXT"
    photo.write_bytes(photo_jpeg(12, quality=99))
    assert photo.stat().st_size > MAX_REQUEST_BODY_BYTES

    with cut_out_in_page(browser, page_url, photo) as cutout:
        assert (cutout.format, cutout.size) == ("PNG", image_size(photo.read_bytes()))


def test_a_large_file_that_is_no_image_is_told_in_words_too(browser, page_url, tmp_path):
    """Through the upload route the page showed the failure record's developer text."""
    fake = tmp_path / "big fake.jpg"
    fake.write_bytes(bytes(range(256)) * (MAX_REQUEST_BODY_BYTES // 256 + 1))

    with pytest.raises(BrowserError) as refused:
        cut_out_in_page(browser, page_url, fake)

    assert "not an image we can read" in str(refused.value) and "bytes starting" not in str(refused.value)


def test_errors_are_told_in_words_not_status_codes(browser, page_url, tmp_path):
    """The page used to show the developer's text: "413 payload_too_large: ... POST /uploads"."""
    fake = tmp_path / "holiday.jpg"
    fake.write_text("this is not a photo")

    with pytest.raises(BrowserError) as refused:
        cut_out_in_page(browser, page_url, fake)

    assert "not an image we can read" in str(refused.value)
    assert "415" not in str(refused.value) and "unsupported_format" not in str(refused.value)


def test_the_format_menu_offers_jpeg_and_its_cut_out_is_flattened_onto_the_colour(browser, page_url):
    """JPEG has no transparency: the page sends the background colour with it, ticked or not."""
    photo = SAMPLES_DIR / "chelsea.jpg"

    with cut_out_in_page(browser, page_url, photo, output_format="jpeg") as cutout:
        assert (cutout.format, cutout.mode, cutout.size) == ("JPEG", "RGB", image_size(photo.read_bytes()))
    assert browser.find_element("id", "download").text == "Download JPEG"


@pytest.fixture
def forgetful_browser(browser, page_url) -> Iterator[object]:
    """The module's browser, its stored options cleared after the test (the page's origin keeps them)."""
    yield browser
    browser.get(page_url)
    browser.execute_script("localStorage.clear()")


def test_the_page_remembers_its_options_across_a_reload(forgetful_browser, page_url):
    from selenium.webdriver.support.ui import Select  # noqa: PLC0415 - only the browser tests need selenium

    browser = forgetful_browser
    browser.get(page_url)
    browser.find_element("id", "crop").click()
    browser.find_element("id", "flatten").click()
    browser.execute_script(PICK_COLOUR_JS, "#00ff00")
    Select(browser.find_element("id", "format")).select_by_visible_text("webp")

    browser.refresh()

    chosen = {"crop": True, "mask": False, "flatten": True, "colour": "#00ff00", "format": "webp"}
    assert browser.execute_script(READ_OPTIONS_JS) == chosen
    photo = SAMPLES_DIR / "chelsea.jpg"
    with choose_photo(browser, photo) as cutout:
        width, height = image_size(photo.read_bytes())
        assert (cutout.format, cutout.mode) == ("WEBP", "RGB"), "flattened onto the colour, as WebP"
        assert cutout.size[0] * cutout.size[1] < width * height, "cropped to the subject"


def test_the_colour_is_not_offered_for_a_mask_which_has_none(browser, page_url):
    """Ticking "mask only" with a background colour dropped the colour without a word."""
    browser.get(page_url)
    browser.execute_script("localStorage.clear()")
    browser.refresh()
    disabled = "return ['flatten', 'color'].map((id) => document.getElementById(id).disabled);"
    assert browser.execute_script(disabled) == [False, False]
    browser.find_element("id", "mask").click()
    assert browser.execute_script(disabled) == [True, True]
    browser.refresh()  # remembered, and still not offered
    assert browser.execute_script(disabled) == [True, True]
    browser.find_element("id", "mask").click()
    assert browser.execute_script(disabled) == [False, False]


SLOW_FIRST_REQUEST_JS = """
// The page's first request waits (a large photo, a slow line); the ones after it go at once.
const send = window.fetch;
let first = true;
window.fetch = (...request) => {
  const wait = first ? arguments[0] : 0;
  first = false;
  return new Promise((go) => setTimeout(go, wait)).then(() => send(...request));
};
"""
SHOWN_JS = """
const $ = (id) => document.getElementById(id);
return {status: $("status").textContent, cls: $("status").className, download: $("download").download,
        before: $("before").naturalWidth, after: $("after").naturalWidth};
"""


def test_a_photo_chosen_while_another_is_cut_out_is_not_replaced_by_the_first_ones_result(browser, page_url):
    """Two photos one after another: the first one's late answer replaced the second one's cut-out
    (the astronaut beside the cat, its download named astronaut.png, "Done" for the wrong photo)."""
    browser.get(page_url)
    browser.execute_script("localStorage.clear()")
    browser.refresh()
    browser.execute_script(SLOW_FIRST_REQUEST_JS, 3000)
    browser.find_element("id", "file").send_keys(str(SAMPLES_DIR / "astronaut.jpg"))  # 512 px wide
    with choose_photo(browser, SAMPLES_DIR / "chelsea.jpg") as cutout:  # 451 px wide
        assert cutout.size == image_size((SAMPLES_DIR / "chelsea.jpg").read_bytes())

    time.sleep(5)  # the first photo's answer has come by now
    shown = browser.execute_script(SHOWN_JS)
    assert (shown["before"], shown["after"], shown["download"]) == (451, 451, "chelsea.png")
    assert shown["status"].startswith("Done") and shown["cls"] == ""


TAB_ORDER_JS = """
const outline = () => getComputedStyle(document.getElementById("drop")).outlineStyle;
return {focused: document.activeElement.id, dropOutline: outline()};
"""


def test_a_photo_can_be_chosen_with_the_keyboard_alone(browser, page_url):
    """The file input was `hidden` and the drop zone a label: Tab went from the page straight to
    the options, so a keyboard user (or a screen reader's) had no way to choose a photo."""
    from selenium.webdriver.common.action_chains import ActionChains  # noqa: PLC0415 - only the browser tests need selenium
    from selenium.webdriver.common.keys import Keys  # noqa: PLC0415 - (as above)

    browser.get(page_url)
    unfocused = browser.execute_script(TAB_ORDER_JS)["dropOutline"]
    ActionChains(browser).send_keys(Keys.TAB).perform()

    focused = browser.execute_script(TAB_ORDER_JS)
    assert focused["focused"] == "file", "the first stop is the photo chooser"
    assert focused["dropOutline"] != unfocused, "the drop zone shows it has the focus"
    assert browser.execute_script("return document.getElementById('file').labels[0].id") == "drop"
    with choose_photo(browser, SAMPLES_DIR / "chelsea.jpg") as cutout:
        assert cutout.format == "PNG"


def _wait_for_a_new_cut_out(browser) -> Image.Image:
    """Wait for the cut-out the page shows after its status was cleared, and read it."""
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415 - only the browser tests need selenium

    status = browser.find_element("id", "status")
    WebDriverWait(browser, 30).until(
        lambda _: status.text.startswith("Done") or "error" in status.get_attribute("class")
    )
    assert status.text.startswith("Done"), status.text
    encoded = browser.execute_async_script(READ_RESULT_JS)
    return Image.open(io.BytesIO(base64.b64decode(encoded)))


def test_an_option_changed_after_a_cut_out_applies_to_the_photo_shown(forgetful_browser, page_url):
    """Ticking "mask only" (or crop, a colour, a format) under a cut-out changed nothing: the
    cut-out no longer matched the options, and choosing the same photo again did nothing either
    (the file input's value had not changed, so it fired no change event)."""
    browser = forgetful_browser
    photo = SAMPLES_DIR / "chelsea.jpg"
    with cut_out_in_page(browser, page_url, photo) as cutout:
        assert cutout.mode == "RGBA"

    browser.execute_script("document.getElementById('status').textContent = ''")
    browser.find_element("id", "mask").click()
    with _wait_for_a_new_cut_out(browser) as mask:
        assert (mask.mode, mask.size) == ("L", image_size(photo.read_bytes()))
    assert browser.find_element("id", "download").get_attribute("download") == "chelsea.png"

    browser.execute_script("document.getElementById('status').textContent = ''")
    browser.find_element("id", "file").send_keys(str(photo))  # the same photo again
    with _wait_for_a_new_cut_out(browser) as again:
        assert again.mode == "L"


PREVIEW_JS = """
const before = document.getElementById("before");
return {src: before.hasAttribute("src"), caption: getComputedStyle(before.parentElement, "::after").content};
"""


def test_a_photo_the_browser_cannot_show_gets_a_caption_not_a_broken_image(browser, page_url):
    """Chromium shows no HEIC (the iPhone's format, which the service reads): the left pane held a
    broken-image icon and the word 'original' beside a good cut-out."""
    photo = Path(__file__).parents[1] / "data" / "rotated-6.heic"
    with cut_out_in_page(browser, page_url, photo) as cutout:
        assert cutout.format == "PNG"

    shown = browser.execute_script(PREVIEW_JS)
    assert not shown["src"], "no broken image"
    assert "preview" in shown["caption"], shown["caption"]

    with choose_photo(browser, SAMPLES_DIR / "chelsea.jpg"):  # the next photo is shown again
        assert browser.execute_script("return document.getElementById('before').naturalWidth") == 451


def test_the_page_says_when_no_subject_was_found_or_only_a_first_frame_was_cut_out(browser, page_url, tmp_path):
    """The reply's findings went unread: a photo with no subject said 'Done' over an empty
    checkerboard (it looked broken), and an animated GIF's first frame came back without a word."""
    blank = tmp_path / "blank.png"
    Image.new("RGB", (64, 64), (200, 10, 10)).save(blank)
    with cut_out_in_page(browser, page_url, blank):
        assert "no subject" in browser.find_element("id", "status").text.lower()

    animated = tmp_path / "animated.gif"
    with Image.open(SAMPLES_DIR / "chelsea.jpg") as still:
        frames = [still.rotate(angle) for angle in (0, 10, 20)]
    frames[0].save(animated, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with choose_photo(browser, animated) as cutout:
        assert cutout.size == (451, 300)
        status = browser.find_element("id", "status").text
    assert status.startswith("Done") and "first frame" in status and "no subject" not in status.lower()

    with choose_photo(browser, SAMPLES_DIR / "chelsea.jpg"):  # a still photo with a subject: no word
        assert "first frame" not in browser.find_element("id", "status").text


DROP_ON_JS = """
// A photo dragged from the desktop and let go over the given element, as Chromium delivers it.
const [id, name, encoded] = arguments;
const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
const files = new DataTransfer();
files.items.add(new File([bytes], name, { type: "image/jpeg" }));
const target = id ? document.getElementById(id) : document.body;
const over = new DragEvent("dragover", { dataTransfer: files, bubbles: true, cancelable: true });
target.dispatchEvent(over);
const drop = new DragEvent("drop", { dataTransfer: files, bubbles: true, cancelable: true });
target.dispatchEvent(drop);
return [over.defaultPrevented, drop.defaultPrevented];
"""


def test_a_photo_dropped_beside_the_drop_zone_is_cut_out_and_does_not_replace_the_page(browser, page_url):
    """Let go a little off the dashed box (on the panes, the options), a photo was opened by the
    browser in place of the page, the options and any cut-out lost."""
    photo = SAMPLES_DIR / "chelsea.jpg"
    encoded = base64.b64encode(photo.read_bytes()).decode()
    for target in ("after", None, "drop"):
        browser.get(page_url)
        browser.execute_script("document.getElementById('status').textContent = ''")
        assert browser.execute_script(DROP_ON_JS, target, photo.name, encoded) == [True, True], target
        with _wait_for_a_new_cut_out(browser) as cutout:
            assert cutout.size == image_size(photo.read_bytes())


COPY_JS = """
// What a user's copy puts on the clipboard: an image (PNG, the type a page may write), or a text.
const [encoded, text] = arguments;
const done = arguments[arguments.length - 1];
const copied = encoded === null
  ? navigator.clipboard.writeText(text)
  : navigator.clipboard.write([new ClipboardItem({
      "image/png": new Blob([Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0))], { type: "image/png" }),
    })]);
copied.then(() => done(null), (error) => done(String(error)));
"""
COUNT_REQUESTS_JS = """
// The page's requests from now on, counted (window.sent).
const send = window.fetch;
window.sent = 0;
window.fetch = (...request) => { window.sent += 1; return send(...request); };
"""


def copy_to_clipboard(browser, *, png: bytes | None = None, text: str = "") -> None:
    """Put a PNG (as a screenshot or a browser's "Copy image" does) or a text on the clipboard."""
    origin = browser.execute_script("return location.origin")
    permissions = ["clipboardReadWrite", "clipboardSanitizedWrite"]
    browser.execute_cdp_cmd("Browser.grantPermissions", {"origin": origin, "permissions": permissions})
    encoded = None if png is None else base64.b64encode(png).decode()
    assert browser.execute_async_script(COPY_JS, encoded, text) is None


def paste(browser) -> None:
    """Ctrl+V, wherever the focus is: Chromium's own paste, from the clipboard."""
    from selenium.webdriver.common.action_chains import ActionChains  # noqa: PLC0415 - only the browser tests need selenium
    from selenium.webdriver.common.keys import Keys  # noqa: PLC0415 - (as above)

    ActionChains(browser).key_down(Keys.CONTROL).send_keys("v").key_up(Keys.CONTROL).perform()


def png_of(photo: Path) -> bytes:
    with Image.open(photo) as image, io.BytesIO() as out:
        image.save(out, "PNG")
        return out.getvalue()


def test_a_pasted_image_is_cut_out_with_the_options_shown(forgetful_browser, page_url):
    """A screenshot or a browser's "Copy image" pasted with Ctrl+V did nothing: the page took a
    photo only from its chooser or a drop."""
    from selenium.webdriver.support.ui import Select  # noqa: PLC0415 - only the browser tests need selenium

    browser = forgetful_browser
    browser.get(page_url)
    browser.find_element("id", "crop").click()
    browser.find_element("id", "flatten").click()
    browser.execute_script(PICK_COLOUR_JS, "#00ff00")
    Select(browser.find_element("id", "format")).select_by_visible_text("webp")  # the focus stays on the menu
    photo = SAMPLES_DIR / "chelsea.jpg"
    copy_to_clipboard(browser, png=png_of(photo))
    browser.execute_script("document.getElementById('status').textContent = ''")

    paste(browser)

    with _wait_for_a_new_cut_out(browser) as cutout:
        width, height = image_size(photo.read_bytes())
        assert (cutout.format, cutout.mode) == ("WEBP", "RGB"), "flattened onto the colour, as WebP"
        assert cutout.size[0] * cutout.size[1] < width * height, "cropped to the subject"
    shown = browser.execute_script(SHOWN_JS)
    assert (shown["before"], shown["download"]) == (width, "image.webp"), "Chromium names a pasted image image.png"
    assert browser.find_element("id", "download").is_displayed()


def test_a_paste_with_no_image_sends_nothing_and_says_what_to_paste(browser, page_url):
    """An image's address copied in place of the image ("Copy image address") pasted onto the page."""
    browser.get(page_url)
    browser.execute_script(COUNT_REQUESTS_JS)
    copy_to_clipboard(browser, text="https://example.com/cat.jpg")

    paste(browser)

    time.sleep(1)
    status = browser.find_element("id", "status")
    assert browser.execute_script("return window.sent") == 0
    assert "image" in status.text and "error" not in status.get_attribute("class"), status.text
    assert browser.execute_script("return document.getElementById('before').hasAttribute('src')") is False


def test_a_lost_connection_is_told_in_words(browser, page_url):
    """With the network gone (or the API unreachable) the page showed fetch's own 'Failed to fetch'."""
    browser.get(page_url)
    browser.execute_script("window.fetch = () => Promise.reject(new TypeError('Failed to fetch'));")

    with pytest.raises(BrowserError) as refused:
        choose_photo(browser, SAMPLES_DIR / "chelsea.jpg")

    assert "Could not reach the service" in str(refused.value) and "Failed to fetch" not in str(refused.value)


def test_every_control_of_the_page_has_a_name_a_screen_reader_reads(browser, page_url):
    """The colour picker sat in the label of the 'background colour' checkbox, which names that
    checkbox alone: a screen reader announced the picker as 'colour well', with nothing to say
    what colour it sets."""
    browser.get(page_url)
    controls = browser.find_elements("css selector", "input, select, button")
    unnamed = [c.get_attribute("id") for c in controls if c.is_displayed() and not c.accessible_name.strip()]
    assert not unnamed, f"controls with no accessible name: {unnamed}"
    assert "colour" in browser.find_element("id", "color").accessible_name.lower()


FETCHES_JS = """
const done = arguments[arguments.length - 1];
Promise.all(arguments[0].map((url) => fetch(url).then(() => true, () => false))).then(done);
"""


def test_a_photo_replaced_by_the_next_frees_its_images(browser, page_url):
    """Each photo's preview and cut-out stayed in the tab's memory (object URLs never revoked), so
    a session of many 12 MP photos grew by the photo and its cut-out, each time."""
    browser.get(page_url)
    choose_photo(browser, SAMPLES_DIR / "chelsea.jpg").close()
    first = browser.execute_script(
        "return [document.getElementById('before').src, document.getElementById('after').src]"
    )
    choose_photo(browser, SAMPLES_DIR / "coffee.jpg").close()
    now = browser.execute_script("return [document.getElementById('before').src, document.getElementById('after').src]")
    assert browser.execute_async_script(FETCHES_JS, now) == [True, True]
    assert browser.execute_async_script(FETCHES_JS, first) == [False, False]
