"""HEIF item checks made before libheif reads a file.

pi-heif 1.4.0 (libheif 1.23.0) hands a HEIF file's metadata items to Python with their item type
and content type as text, and a type that is not text kills the process there instead of raising
(tests/data/damaged-metadata.heic: the `Exif` item's type damaged to `Ex\\x80f`). An upload like
that would take a Lambda runtime down with every retry, and leave no failure record. So the
`meta` box's item infos (ISO/IEC 14496-12 `iinf`/`infe`) are read here first, and a file whose item
types or content types are not printable ASCII is refused as corrupt; libheif never sees it. A file
whose boxes do not parse is left to libheif, which refuses it with an error of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

_HEADER = 8  # a box's 32-bit size and its 4-character type
_PRINTABLE = range(0x20, 0x7F)


class _Truncated(Exception):
    """A box or field runs past the bytes it is in."""


def damaged_item(data: bytes) -> str | None:
    """A description of the first item info whose type or content type is not printable ASCII
    (which pi-heif cannot take), or None when every one is (or the boxes do not parse)."""
    try:
        for item_type, content_type in _item_infos(data):
            if not _printable(item_type):
                return f"an item's type is not text ({item_type!r})"
            if content_type is not None and not _printable(content_type):
                return f"an item's content type is not text ({content_type[:40]!r})"
    except _Truncated:
        return None
    return None


def _printable(text: bytes) -> bool:
    return all(byte in _PRINTABLE for byte in text)


def _item_infos(data: bytes) -> Iterator[tuple[bytes, bytes | None]]:
    """(item type, content type or None) of each `infe` box of the file's `meta` box."""
    for kind, start, end in _boxes(data, 0, len(data)):
        if kind == b"meta":
            for child, child_start, child_end in _boxes(data, start + 4, end):  # meta is a full box
                if child == b"iinf":
                    yield from _infe_entries(data, child_start, child_end)


def _infe_entries(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, bytes | None]]:
    version = _byte(data, start, end)
    first = start + 4 + (2 if version == 0 else 4)  # full box, then the entry count
    for kind, entry_start, entry_end in _boxes(data, first, end):
        if kind == b"infe":
            yield _infe(data, entry_start, entry_end)


def _infe(data: bytes, start: int, end: int) -> tuple[bytes, bytes | None]:
    """An item info entry's type (none before version 2: b"") and its content type, which a `mime`
    item and every version 0/1 entry have (None for the others)."""
    version = _byte(data, start, end)
    at = start + 4
    if version < 2:  # item_ID, protection index, name, content type
        name_end = _string_end(data, at + 4, end)
        content_end = _string_end(data, name_end + 1, end)
        return b"", data[name_end + 1 : content_end]
    at += (2 if version == 2 else 4) + 2  # item_ID, protection index
    if at + 4 > end:
        raise _Truncated
    item_type = data[at : at + 4]
    name_end = _string_end(data, at + 4, end)
    if item_type != b"mime":
        return item_type, None
    return item_type, data[name_end + 1 : _string_end(data, name_end + 1, end)]


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, content start, content end) of each box between start and end."""
    at = start
    while at + _HEADER <= end:
        size, kind = int.from_bytes(data[at : at + 4], "big"), data[at + 4 : at + 8]
        header = _HEADER
        if size == 1:  # a 64-bit size follows the type
            if at + 16 > end:
                raise _Truncated
            size, header = int.from_bytes(data[at + 8 : at + 16], "big"), 16
        elif size == 0:  # to the end of the enclosing box
            size = end - at
        if size < header or at + size > end:
            raise _Truncated
        yield kind, at + header, at + size
        at += size


def _byte(data: bytes, at: int, end: int) -> int:
    if at >= end:
        raise _Truncated
    return data[at]


def _string_end(data: bytes, at: int, end: int) -> int:
    """Where the null-terminated string starting at `at` ends (its terminator, or `end`)."""
    found = data.find(b"\0", at, end)
    return end if found < 0 else found
