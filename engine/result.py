"""What the engine returns for one image."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class StageTimings:
    """Wall time of each stage, in milliseconds."""

    decode: float = 0.0
    infer: float = 0.0
    refine: float = 0.0
    encode: float = 0.0

    @property
    def total(self) -> float:
        return self.decode + self.infer + self.refine + self.encode

    def as_dict(self) -> dict[str, float]:
        return {
            "decode_ms": round(self.decode, 2),
            "infer_ms": round(self.infer, 2),
            "refine_ms": round(self.refine, 2),
            "encode_ms": round(self.encode, 2),
            "total_ms": round(self.total, 2),
        }


@dataclass(frozen=True)
class Cutout:
    """The encoded result and what a caller needs to log or store beside it."""

    png: bytes
    width: int  # of the output image (after any crop)
    height: int
    source_width: int  # of the decoded, orientation-corrected input
    source_height: int
    model_id: str
    uncertainty: float  # share of the matte that is neither clearly foreground nor background
    foreground: float  # share of the image that is foreground (alpha >= 0.5)
    timings: StageTimings = field(default_factory=StageTimings)
    media_type: str = "image/png"

    @property
    def megapixels(self) -> float:
        return self.source_width * self.source_height / 1e6
