"""Output, failure and upload keys: one-to-one, never outside their prefix, within S3's limits."""

from __future__ import annotations

import posixpath
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.formats import PNG as PNG_FORMAT
from handler.errors import KeyTooLongError
from handler.keys import failure_key, has_supported_suffix, output_key, path_safe, upload_key

PNG = PNG_FORMAT.suffix

keys = st.text(alphabet=st.sampled_from("ab./\\%+ é☕25ECec"), max_size=24)


def restored(output: str) -> str:
    """The source key an output key (prefix and suffix removed) was made from: path_safe's inverse."""
    dots = {"%2E": ".", "%2E%2E": ".."}
    return "/".join(dots.get(s) or re.sub(r"%25(?=25|2E|5C)|%5C", _unescape, s, flags=re.I) for s in output.split("/"))


def _unescape(match: re.Match[str]) -> str:
    return "%" if match.group() == "%25" else "\\"


def test_inputs_that_differ_only_by_suffix_get_different_outputs():
    assert output_key("photo.jpg", "cutouts/", PNG) == "cutouts/photo.jpg.png"
    assert output_key("photo.png", "cutouts/", PNG) == "cutouts/photo.png.png"
    assert failure_key("photo.jpg", "failures/") == "failures/photo.jpg.json"


def test_plain_keys_keep_their_path():
    assert output_key("a/b c/café + 1.jpg", "", PNG) == "a/b c/café + 1.jpg.png"


@pytest.mark.parametrize("name", ["50% off.jpg", "100%.jpg", "a%20b.jpg", "%E2%98%95.jpg", "%.jpg", "%%2.jpg"])
def test_a_percent_sign_stays_as_it_is_in_the_output_key(name):
    """The documented key (OUTPUT_PREFIX + key + suffix): `50% off.jpg` was written as `50%25 off.jpg.png`."""
    assert output_key(f"samples/{name}", "cutouts/", PNG) == f"cutouts/samples/{name}.png"
    assert failure_key(f"samples/{name}", "failures/") == f"failures/samples/{name}.json"


@given(keys)
def test_every_source_key_can_be_told_back_from_its_output_key(key):
    assert restored(path_safe(key)) == key


@pytest.mark.parametrize("key", ["../../etc/passwd.jpg", "a/../../x.jpg", "./x.jpg", "..\\..\\x.jpg", "/../x.jpg"])
def test_dot_segments_cannot_climb_out_of_the_prefix(key):
    out = output_key(key, "cutouts/", PNG)
    assert posixpath.normpath(out).startswith("cutouts/")
    assert ".." not in out.split("/") and "\\" not in out


@given(keys, keys)
def test_the_mapping_is_one_to_one(first, second):
    if first != second:
        assert output_key(first, "out/", PNG) != output_key(second, "out/", PNG)


@given(keys)
def test_every_output_normalises_to_a_path_under_the_prefix(key):
    assert posixpath.normpath(output_key(key, "out/", PNG)).startswith("out/")
    assert path_safe(key).count("/") == key.count("/")


def test_a_key_that_would_pass_s3s_limit_is_refused():
    with pytest.raises(KeyTooLongError):
        output_key("k" * 1020 + ".jpg", "cutouts/", PNG)


def test_the_refusal_tells_the_uploader_how_much_shorter_the_key_must_be():
    """S3 took the 1,020-byte key, so 'longer than 1024 bytes' alone reads as a mistake: the failure
    record says how long the key is, what the cut-out's key adds to it, and by how much to shorten it."""
    key = "samples/" + "k" * 1008 + ".jpg"
    with pytest.raises(KeyTooLongError) as refusal:
        output_key(key, "cutouts/", PNG)
    message = str(refusal.value)
    assert "the key is 1020 bytes" in message
    assert "'cutouts/'" in message and "'.png'" in message and "1032 bytes" in message
    assert "at least 8 bytes shorter" in message
    assert len(output_key(key[:-12] + ".jpg", "cutouts/", PNG).encode()) == 1024  # 8 bytes shorter fits


@given(st.text(alphabet=st.sampled_from("ab./%☕"), min_size=1, max_size=40))
def test_a_failure_record_has_a_key_even_when_the_output_key_passes_s3s_limit(tail):
    first, second = ("samples/" + "☕" * 335 + tail + ending for ending in (".jpg", ".JPG"))
    with pytest.raises(KeyTooLongError):
        output_key(first, "cutouts/", PNG)
    records = failure_key(first, "failures/"), failure_key(second, "failures/")
    assert all(len(key.encode()) <= 1024 and key.endswith(".json") for key in records)
    assert records[0] != records[1] and records[0].startswith("failures/samples/☕☕☕")
    assert posixpath.normpath(records[0]).startswith("failures/samples/")
    assert failure_key("samples/a.jpg", "failures/") == "failures/samples/a.jpg.json"


def test_suffix_check_ignores_case():
    assert has_supported_suffix("A.JPG") and has_supported_suffix("b.Tiff") and not has_supported_suffix("c.txt")


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("My Photo.JPG", "in/uploads/t0k/My_Photo.jpg"),
        ("C:\\Users\\me\\shot.Jpeg", "in/uploads/t0k/shot.jpeg"),
        ("../../etc/passwd", "in/uploads/t0k/passwd"),
        ("", "in/uploads/t0k/image"),
        ("café ☕.png", "in/uploads/t0k/caf_.png"),
    ],
)
def test_upload_keys_are_clean_and_under_the_input_prefix(filename, expected):
    assert upload_key("in/", "t0k", filename) == expected
