"""Small ICC profiles made here for tests (no profile file ships with the system or Pillow): a gray
profile with a chosen tone curve, a CMYK printer profile whose colours are the plain
subtractive ones and a wide-gamut RGB one (Adobe RGB (1998)'s primaries and tone curve). All are
read by LittleCMS (Pillow's ImageCms), which the engine converts with."""

from __future__ import annotations

import io
import itertools
import struct

import numpy as np
from PIL import Image, ImageCms

_D50 = (0.9642, 1.0, 0.8249)


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _srgb_tags() -> dict[bytes, bytes]:
    """The description, copyright and white point tags of Pillow's own sRGB profile."""
    data = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    (count,) = struct.unpack(">I", data[128:132])
    tags = {}
    for index in range(count):
        signature, offset, size = struct.unpack(">4sII", data[132 + 12 * index : 144 + 12 * index])
        tags[signature] = data[offset : offset + size]
    return {name: tags[name] for name in (b"desc", b"cprt", b"wtpt")}


def build_profile(device_class: bytes, space: bytes, pcs: bytes, tags: dict[bytes, bytes]) -> bytes:
    """An ICC v4 profile from its header fields and tag payloads."""
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    entries, payload = b"", b""
    for name, body in tags.items():
        entries += struct.pack(">4sII", name, offset + len(payload), len(body))
        payload += body + b"\0" * (-len(body) % 4)
    size = 128 + table_size + len(payload)
    header = struct.pack(">I4sI4s4s4s", size, b"lcms", 0x04300000, device_class, space, pcs)
    header += b"\0" * 12 + b"acsp" + b"APPL" + b"\0" * 4 + b"\0" * 8 + b"\0" * 8 + b"\0" * 4
    header += b"".join(_s15(v) for v in _D50) + b"lcms" + b"\0" * 16 + b"\0" * 28
    return header + struct.pack(">I", len(tags)) + entries + payload


def gray_profile(gamma: float) -> bytes:
    """A monitor gray profile whose tone curve is a pure power `gamma` (1.0 = linear light)."""
    curve = b"curv" + b"\0" * 4 + struct.pack(">IH", 1, round(gamma * 256)) + b"\0" * 2
    return build_profile(b"mntr", b"GRAY", b"XYZ ", {**_srgb_tags(), b"kTRC": curve})


_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])


def _xyz(x: float, y: float) -> np.ndarray:
    return np.array([x / y, 1.0, (1 - x - y) / y])


def adobe_rgb_profile() -> bytes:
    """A monitor RGB profile with Adobe RGB (1998)'s primaries, D65 white and gamma 563/256: its
    (129, 212, 250) is sRGB's (61, 213, 252), its white is sRGB's."""
    primaries = np.stack([_xyz(0.64, 0.33), _xyz(0.21, 0.71), _xyz(0.15, 0.06)], axis=1)
    white = _xyz(0.3127, 0.3290)
    colorants = primaries * np.linalg.solve(primaries, white)  # columns: the XYZ of R, G, B under D65
    cone_ratio = (_BRADFORD @ np.array(_D50)) / (_BRADFORD @ white)
    d50 = np.linalg.inv(_BRADFORD) @ np.diag(cone_ratio) @ _BRADFORD @ colorants  # chromatically adapted
    curve = b"curv" + b"\0" * 4 + struct.pack(">IH", 1, 563) + b"\0" * 2
    tags = {**_srgb_tags()}
    for name, column in zip((b"rXYZ", b"gXYZ", b"bXYZ"), d50.T, strict=True):
        tags[name] = b"XYZ " + b"\0" * 4 + b"".join(_s15(v) for v in column)
    tags.update({b"rTRC": curve, b"gTRC": curve, b"bTRC": curve})
    return build_profile(b"mntr", b"RGB ", b"XYZ ", tags)


def cmyk_profile() -> bytes:
    """A printer profile mapping CMYK to the Lab of (255 (1-c)(1-k), 255 (1-m)(1-k), 255 (1-y)(1-k))."""
    corners = list(itertools.product((0, 1), repeat=4))  # c, m, y, k; the first varies slowest
    rgb = Image.new("RGB", (len(corners), 1))
    rgb.putdata([tuple(round(255 * (1 - v) * (1 - k)) for v in (c, m, y)) for c, m, y, k in corners])
    lab = ImageCms.applyTransform(
        rgb, ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB")
    )
    identity = bytes(range(256))
    lut = b"mft1" + b"\0" * 4 + bytes([4, 3, 2, 0])
    lut += b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    lut += identity * 4 + np.asarray(lab).tobytes() + identity * 3
    return build_profile(b"prtr", b"CMYK", b"Lab ", {**_srgb_tags(), b"A2B0": lut})


def space_of(profile: bytes | None) -> str | None:
    """The colour space an ICC profile describes ("RGB", "GRAY", "CMYK"), None without one."""
    return profile[16:20].decode("ascii").strip() if profile else None


def opens(profile: bytes) -> bool:
    try:
        ImageCms.ImageCmsProfile(io.BytesIO(profile))
    except (OSError, ImageCms.PyCMSError):
        return False
    return True
