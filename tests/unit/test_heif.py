"""HEIF item checks before libheif (engine/heif.py): a damaged item type that pi-heif would die on
is refused as a corrupt image; sound files, and files whose boxes libheif must judge, pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.decode import decode_image
from engine.errors import CorruptImageError
from engine.heif import damaged_item

DATA = Path(__file__).resolve().parents[1] / "data"
HEIC = (DATA / "rotated-6.heic").read_bytes()


def _box(kind: bytes, payload: bytes) -> bytes:
    return (8 + len(payload)).to_bytes(4, "big") + kind + payload


def _heif_with(*infe: bytes) -> bytes:
    """A HEIF-branded file whose meta box holds these item info entries (no image: check only)."""
    iinf = _box(b"iinf", b"\0\0\0\0" + len(infe).to_bytes(2, "big") + b"".join(infe))
    return _box(b"ftyp", b"heic\0\0\0\0mif1heic") + _box(b"meta", b"\0\0\0\0" + iinf)


def _infe(item_type: bytes, name: bytes = b"", content_type: bytes | None = None) -> bytes:
    tail = name + b"\0" + (content_type + b"\0" if content_type is not None else b"")
    return _box(b"infe", b"\x02\0\0\0" + b"\0\x01" + b"\0\0" + item_type + tail)


def test_the_damaged_file_that_killed_pi_heif_is_refused_as_corrupt() -> None:
    damaged = (DATA / "damaged-metadata.heic").read_bytes()
    assert damaged_item(damaged) == "an item's type is not text (b'Ex\\x80f')"
    with pytest.raises(CorruptImageError, match="HEIF file is corrupt: an item's type is not text"):
        decode_image(damaged, 4.0)


@pytest.mark.parametrize(
    ("entries", "found"),
    [
        ((_infe(b"hvc1"), _infe(b"Exif")), None),
        ((_infe(b"hvc1"), _infe(b"mime", b"xmp", b"application/rdf+xml")), None),
        ((_infe(b"hvc1"), _infe(b"E\xffif")), "an item's type is not text (b'E\\xffif')"),
        ((_infe(b"mime", b"xmp", b"application/\x80"),), "an item's content type is not text (b'application/\\x80')"),
    ],
)
def test_item_types_and_content_types_must_be_text(entries: tuple[bytes, ...], found: str | None) -> None:
    assert damaged_item(_heif_with(*entries)) == found


def test_a_sound_file_and_boxes_that_do_not_parse_are_left_to_libheif() -> None:
    assert damaged_item(HEIC) is None
    assert damaged_item(HEIC[:150]) is None  # cut short inside the meta box: libheif refuses it itself
    assert decode_image(HEIC, 4.0).bgr.size


def test_libheif_is_asked_for_the_primary_image_alone() -> None:
    """Thumbnails, depth maps and auxiliary images (a portrait's matte) are never used: pi-heif is
    registered without them, so a damaged one of them is never read either."""
    decode_image(HEIC, 4.0)  # registers pi-heif's opener

    from pi_heif import options  # noqa: PLC0415 - imported by the first HEIF, as the engine does

    assert (options.THUMBNAILS, options.DEPTH_IMAGES, options.AUX_IMAGES) == (False, False, False)
