"""The page after a real round trip: the API function under the Lambda emulator behind the local
API Gateway stand-in, a photo chosen in headless Chromium (local/browser.py, the code the page
tests use), then a screenshot."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from local.api_gateway import ApiGatewayBridge
from local.browser import chromium, cut_out_in_page
from local.deployment import LocalDeployment


def page_screenshot(photo: Path, target: Path) -> Path:
    with (
        LocalDeployment() as stack,
        ApiGatewayBridge(stack.emulator(stack.api_function)) as bridge,
        chromium((1000, 800)) as driver,
    ):
        cut_out_in_page(driver, bridge.url, photo).close()
        png = target.with_suffix(".png")
        driver.save_screenshot(str(png))
    with Image.open(png) as shot:
        shot.convert("RGB").save(target, "JPEG", quality=80)
    png.unlink()
    return target
