"""Where results go: output, failure-record and upload keys derived from a source key.

Two rules hold for every key: distinct sources never share an output (the source name is kept
whole and the output format's suffix appended, so `photo.jpg` -> `photo.jpg.png` and `photo.png`
-> `photo.png.png`),
and a result never leaves its prefix, even for a tool that normalises keys as paths (`.` and `..`
segments and backslashes are percent-encoded, as `%2E` and `%5C`). A `%` stays as it is (`50% off.jpg`
-> `50% off.jpg.png`) unless it is followed by `25`, `2E` or `5C` (any case): that one is written `%25`,
so that the mapping stays one-to-one.
"""

from __future__ import annotations

import hashlib
import re

from engine import INPUT_SUFFIXES

from .errors import KeyTooLongError

MAX_KEY_BYTES = 1024  # S3's limit on a key, in UTF-8 bytes
PREFIX_MAX_BYTES = 512  # a prefix's limit: under it, a failure record always has a key (see `failure_key`)
REPLY_FOLDER = "api/"  # under the output prefix: API results too large for the reply (expired by a lifecycle rule)
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_AMBIGUOUS_PERCENT = re.compile(r"%(?=25|2E|5C)", re.IGNORECASE)  # reads like one of our escapes


def path_safe(key: str) -> str:
    """The key with every segment made inert as a path segment (see the module docstring)."""
    return "/".join(_safe_segment(segment) for segment in key.split("/"))


def _safe_segment(segment: str) -> str:
    escaped = _AMBIGUOUS_PERCENT.sub("%25", segment).replace("\\", "%5C")
    if escaped in (".", ".."):
        return escaped.replace(".", "%2E")
    return escaped


def output_key(source_key: str, prefix: str, suffix: str) -> str:
    """Key of the cut-out of `source_key`: `prefix + source key + suffix` (the output format's)."""
    return _under(prefix, source_key, suffix)


def failure_key(source_key: str, prefix: str) -> str:
    """Key of the JSON failure record of `source_key`: `prefix + source key + ".json"`; when that
    would pass S3's limit (key_too_long is such a failure), the source key is cut short and
    followed by `~`, the SHA-256 of the whole key and ".json" (the record holds the key whole)."""
    try:
        return _under(prefix, source_key, ".json")
    except KeyTooLongError:
        return _shortened(prefix, source_key, ".json")


def _shortened(prefix: str, source_key: str, suffix: str) -> str:
    tail = f"~{hashlib.sha256(source_key.encode('utf-8')).hexdigest()}{suffix}"
    room = MAX_KEY_BYTES - len((prefix + tail).encode("utf-8"))
    if room < 0:
        raise KeyTooLongError(f"the prefix {prefix!r} leaves no room for a key under {MAX_KEY_BYTES} bytes")
    kept = path_safe(source_key).encode("utf-8")[:room].decode("utf-8", errors="ignore")  # no character cut
    return prefix + kept + tail


def _under(prefix: str, source_key: str, suffix: str) -> str:
    key = prefix + path_safe(source_key) + suffix
    size = len(key.encode("utf-8"))
    if size > MAX_KEY_BYTES:
        raise KeyTooLongError(
            f"the key is {len(source_key.encode('utf-8'))} bytes, and its result's key ({prefix!r} + the key + "
            f"{suffix!r}) would be {size} bytes, over S3's limit of {MAX_KEY_BYTES}: "
            f"upload it again under a key at least {size - MAX_KEY_BYTES} bytes shorter"
        )
    return key


def reply_key(output_prefix: str, token: str, suffix: str) -> str:
    """Key of an API result answered by URL: `output_prefix + "api/" + token + suffix`. No cut-out
    of the worker can have it: theirs end in an image suffix and then the format's."""
    return f"{output_prefix}{REPLY_FOLDER}{token}{suffix}"


def has_supported_suffix(name: str) -> bool:
    """Whether the name ends in one of the image suffixes the S3 notifications filter on (any case)."""
    return name.lower().endswith(INPUT_SUFFIXES)


def upload_key(input_prefix: str, token: str, filename: str) -> str:
    """Key for a browser upload: `input_prefix + "uploads/" + token + "/" + cleaned file name`.

    The suffix is lower-cased (the rule that routes uploads matches any case; tidier names).
    """
    base = re.split(r"[/\\]", filename)[-1]
    stem, dot, suffix = _UNSAFE_NAME_CHARS.sub("_", base).strip("._").rpartition(".")
    cleaned = f"{stem[-96:]}{dot}{suffix.lower()}" if dot else suffix[-100:]
    return f"{input_prefix}uploads/{token}/{cleaned or 'image'}"
