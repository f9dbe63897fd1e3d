"""The page in headless Chromium: served by the API function through a local API Gateway stand-in
(local/api_gateway.py), a user picks a photo and gets the cut-out back in the page, directly
(POST /remove) or, for a large file, through a presigned upload that the worker processes.

Chromium and its driver come from Debian packages, installed by `make browser` (`make test` runs it first).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from local.api_gateway import ApiGatewayBridge
from local.browser import chromium, cut_out_in_page
from local.queue_trigger import QueueTrigger
from local.samples import SAMPLES_DIR
from tests.integration.buckets import image_size


@pytest.fixture(scope="module")
def page_url(stack, api, worker, input_prefix) -> Iterator[str]:
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


def test_large_photo_goes_through_a_presigned_upload_and_the_worker(browser, page_url, tmp_path):
    photo = tmp_path / "large photo.png"
    noise = np.random.default_rng(7).integers(0, 256, (1100, 1300, 3), dtype=np.uint8)
    Image.fromarray(noise).save(photo)
    assert photo.stat().st_size > 4 * 1024 * 1024, "the page sends files over 4 MiB through /uploads"

    with cut_out_in_page(browser, page_url, photo) as cutout:
        assert (cutout.format, cutout.mode, cutout.size) == ("PNG", "RGBA", (1300, 1100))
