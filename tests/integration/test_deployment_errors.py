"""A deployment mistake (a bad engine setting, a default model not baked in) fails the function's
cold start, loudly, under the Lambda emulator: it must not become a failure record per upload."""

from __future__ import annotations

import pytest

from local.api_gateway import call_api
from local.deployment import LocalDeployment
from local.events import EVENTS_DIR, load_event, s3_put_event
from tests.integration.buckets import output_keys, sample_bytes, upload

TEST_EVENT = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2025-01-15T12:00:00Z", "Bucket": "input"}


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ENGINE_MAX_MEGAPIXELS", "64MP"),
        ("ENGINE_THREADS", "abc"),
        ("ENGINE_MODEL", "not-baked-in"),
        ("DEFAULT_OPTIONS", "model=not-baked-in"),
    ],
)
def test_a_bad_engine_setting_fails_the_workers_cold_start_and_records_nothing(
    stack, moto_endpoint, input_prefix, variable, value
):
    source = upload(stack, f"{input_prefix}photo.jpg", sample_bytes("coffee.jpg"))

    with LocalDeployment(extra_env={variable: value}, s3_endpoint=moto_endpoint) as broken:
        worker = broken.emulator(broken.s3_function)
        no_image = worker.invoke(TEST_EVENT)  # S3's test event names no object: only the init can fail it
        invocation = worker.invoke(s3_put_event([source]))

    for failed in (no_image, invocation):
        assert failed.function_error is not None, failed.payload()
        assert value.split("=")[-1] in failed.function_error["errorMessage"]
    assert output_keys(stack) == [], "neither a cut-out nor a failure record: the image is not at fault"


def test_a_bad_engine_setting_fails_the_apis_cold_start(moto_endpoint):
    with LocalDeployment(extra_env={"ENGINE_THREADS": "abc"}, s3_endpoint=moto_endpoint) as broken:
        api = broken.emulator(broken.api_function)
        invocation = api.invoke(load_event(EVENTS_DIR / "api-page.json"))
        response = call_api(api, "POST", "/remove", sample_bytes("coffee.jpg"), {"Content-Type": "image/jpeg"})

    assert invocation.function_error is not None and "ENGINE_THREADS" in invocation.function_error["errorMessage"]
    assert response.status == 502  # API Gateway's answer to a function that cannot start
