"""What the engine returns for one image."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from .formats import PNG, OutputFormat


@dataclass(frozen=True)
class StageTimings:
    """Wall time of each stage of the pipeline, in milliseconds, in the order they run."""

    decode: float = 0.0  # bytes -> pixels
    infer: float = 0.0  # the model's low-resolution map
    refine: float = 0.0  # the full-resolution alpha
    compose: float = 0.0  # crop, edge colours (decontamination), background or transparency
    encode: float = 0.0  # pixels -> the output format

    @classmethod
    def stages(cls) -> tuple[str, ...]:
        """The stage names, in order: the keys of `as_dict` are these plus `_ms`, then `total_ms`."""
        return tuple(f.name for f in fields(cls))

    @property
    def total(self) -> float:
        return float(sum(getattr(self, stage) for stage in self.stages()))

    def as_dict(self) -> dict[str, float]:
        durations = {f"{stage}_ms": round(getattr(self, stage), 2) for stage in self.stages()}
        return {**durations, "total_ms": round(self.total, 2)}


@dataclass(frozen=True)
class Cutout:
    """The encoded result and what a caller needs to log or store beside it."""

    data: bytes  # the encoded image, in `format`
    width: int  # of the output image (after any crop)
    height: int
    source_width: int  # of the decoded, orientation-corrected input
    source_height: int
    model_id: str
    uncertainty: float  # share of the matte that is neither clearly foreground nor background
    foreground: float  # share of the image that is foreground (alpha >= 0.5)
    timings: StageTimings = field(default_factory=StageTimings)
    format: OutputFormat = PNG

    @property
    def media_type(self) -> str:
        return self.format.media_type

    @property
    def megapixels(self) -> float:
        return self.source_width * self.source_height / 1e6
