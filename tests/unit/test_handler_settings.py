"""Handler settings: read once from the environment; a bad variable fails at cold start."""

from __future__ import annotations

import pytest

from engine import InvalidOptionError, Options, OutputMode
from handler.keys import MAX_KEY_BYTES, PREFIX_MAX_BYTES, failure_key
from handler.settings import HandlerSettings, SettingsError


def test_defaults_process_the_whole_bucket():
    settings = HandlerSettings.from_env({"INPUT_BUCKET": "in-bucket", "OUTPUT_BUCKET": "out-bucket"})
    assert settings.input_prefix == "" and settings.output_prefix == "" and settings.failure_prefix == "failures/"
    assert settings.min_remaining_ms == 10_000 and settings.default_options == Options()
    assert settings.require_output_bucket() == "out-bucket"


def test_every_variable_is_read():
    settings = HandlerSettings.from_env(
        {
            "INPUT_BUCKET": "in-bucket",
            "INPUT_PREFIX": "incoming/",
            "OUTPUT_BUCKET": "out-bucket",
            "OUTPUT_PREFIX": "cutouts/",
            "FAILURE_PREFIX": "errors/",
            "MIN_REMAINING_MS": "2500",
            "MAX_INPUT_BYTES": "1000",
            "DEFAULT_OPTIONS": "crop=true&output=mask&background=%23ffffff",
            "API_MAX_BODY_BYTES": "500",
            "UPLOAD_URL_EXPIRES": "60",
        }
    )
    assert (settings.input_prefix, settings.output_prefix, settings.failure_prefix) == (
        "incoming/",
        "cutouts/",
        "errors/",
    )
    assert (settings.min_remaining_ms, settings.max_input_bytes, settings.api_max_body_bytes) == (2500, 1000, 500)
    assert settings.upload_url_expires == 60
    assert settings.default_options == Options(crop=True, output=OutputMode.MASK, background=(255, 255, 255))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OUTPUT_BUCKET", "Not_A_Bucket"),
        ("INPUT_BUCKET", "a..b"),
        ("OUTPUT_PREFIX", "../escape/"),
        ("FAILURE_PREFIX", "/rooted/"),
        ("FAILURE_PREFIX", "records/" * 120),
        ("OUTPUT_PREFIX", "é" * 300),
        ("MIN_REMAINING_MS", "soon"),
        ("MIN_REMAINING_MS", "-1"),
        ("MAX_INPUT_BYTES", "0"),
        ("DEFAULT_OPTIONS", "crop=maybe"),
        ("DEFAULT_OPTIONS", "sharpen=true"),
        ("DEFAULT_OPTIONS", "crop=true&crop=false"),  # the last one was taken, without a word
        ("DEFAULT_OPTIONS", "bg_color=fff&background=000"),  # remove.bg's name against ours
        ("DEFAULT_OPTIONS", "image_url=https://example.com/a.jpg"),
        ("UPLOAD_URL_EXPIRES", "604801"),  # S3 refuses every SigV4 presigned URL valid over 7 days
    ],
)
def test_a_bad_variable_fails_fast(name, value):
    env = {"INPUT_BUCKET": "in-bucket", "OUTPUT_BUCKET": "out-bucket", name: value}
    with pytest.raises(SettingsError, match=name):
        HandlerSettings.from_env(env)


def test_default_options_read_remove_bgs_names_as_every_entry_point_does():
    """The API's query and body, an object's options metadata and a Batch Operations job's
    arguments take bg_color and channels; DEFAULT_OPTIONS=bg_color=ffffff failed the cold start."""
    env = {
        "INPUT_BUCKET": "in-bucket",
        "OUTPUT_BUCKET": "out-bucket",
        "DEFAULT_OPTIONS": "bg_color=ffffff&channels=alpha",
    }
    options = HandlerSettings.from_env(env).default_options
    assert options.background == (255, 255, 255) and options.output is OutputMode.MASK


def test_presigned_urls_may_last_up_to_s3s_seven_days():
    """UPLOAD_URL_EXPIRES=1209600 started, and /uploads (and a large reply) answered with presigned
    GET URLs that S3 refuses (AuthorizationQueryParametersError: X-Amz-Expires must be less than a
    week)."""
    env = {"INPUT_BUCKET": "in-bucket", "OUTPUT_BUCKET": "out-bucket", "UPLOAD_URL_EXPIRES": "604800"}
    assert HandlerSettings.from_env(env).upload_url_expires == 7 * 24 * 3600


def test_the_longest_prefix_leaves_room_for_a_failure_record_of_any_key():
    prefix = "p" * (PREFIX_MAX_BYTES - 1) + "/"
    env = {"INPUT_BUCKET": "in-bucket", "OUTPUT_BUCKET": "out-bucket", "FAILURE_PREFIX": prefix}
    settings = HandlerSettings.from_env(env)
    record = failure_key("k" * MAX_KEY_BYTES, settings.failure_prefix)
    assert record.startswith(prefix) and len(record.encode()) <= MAX_KEY_BYTES


def test_one_bucket_for_inputs_and_outputs_needs_output_prefixes():
    with pytest.raises(SettingsError, match="OUTPUT_PREFIX"):
        HandlerSettings.from_env({"INPUT_BUCKET": "one-bucket", "OUTPUT_BUCKET": "one-bucket"})
    shared = HandlerSettings.from_env(
        {"INPUT_BUCKET": "one-bucket", "OUTPUT_BUCKET": "one-bucket", "OUTPUT_PREFIX": "out/"}
    )
    assert shared.output_prefix == "out/"


def test_the_s3_entry_needs_an_output_bucket():
    with pytest.raises(SettingsError, match="OUTPUT_BUCKET"):
        HandlerSettings.from_env({}).require_output_bucket()


def test_the_engine_settings_are_read_with_them_and_fail_the_same_way():
    settings = HandlerSettings.from_env({"ENGINE_MODEL": "u2netp", "ENGINE_MEMORY_BUDGET_MB": "800"})
    assert settings.engine.model == "u2netp" and settings.engine.memory_budget_mb == 800
    with pytest.raises(SettingsError, match="ENGINE_MAX_MEGAPIXELS"):
        HandlerSettings.from_env({"ENGINE_MAX_MEGAPIXELS": "64MP"})


def test_the_api_serves_fast_compress_levels_only():
    settings = HandlerSettings.from_env({"DEFAULT_OPTIONS": "compress_level=9&crop=true"})
    assert settings.default_options.compress_level == 9  # the worker has the time
    assert settings.api_options({}) == Options(crop=True, compress_level=3)  # the API lowers the default
    assert settings.api_options({"compress_level": "2"}).compress_level == 2
    with pytest.raises(InvalidOptionError, match="compress_level must be at most 3"):
        settings.api_options({"compress_level": "9"})
    with pytest.raises(SettingsError, match="API_MAX_COMPRESS_LEVEL"):
        HandlerSettings.from_env({"API_MAX_COMPRESS_LEVEL": "10"})
    with pytest.raises(SettingsError, match="API_MAX_BODY_BYTES"):
        HandlerSettings.from_env({"API_MAX_BODY_BYTES": "6291456"})  # more than an invoke can carry


@pytest.mark.parametrize("defaults", ["background=ffffff", "output=mask"])
def test_a_request_for_jpeg_is_served_when_default_options_make_it_possible(defaults):
    settings = HandlerSettings.from_env({"DEFAULT_OPTIONS": defaults})
    assert settings.api_options({"format": "jpeg"}).output_format.name == "jpeg"
