"""What the engine returns for one image: the encoded cut-out, its timings and its findings.

Findings are the per-image values a batch user filters on (how unsure the matte is, how much of
the image is subject, whether any subject was found, whether there are several, cut by the frame or
small (subject.py), the predicted error of the matte).
`Cutout.findings` names them once; every entry point carries that dict as it is: S3 object
metadata (`no-subject: true`), HTTP headers (`X-No-Subject: true`), the CLI's JSONL report
(`"no_subject": true`). A new finding is one field and one line of `findings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from .formats import PNG, OutputFormat

FLAGS = ("no_subject", "several_subjects", "subject_cut", "small_subject")  # findings that ask for a look


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
    no_subject: bool = False  # no pixel of the matte is even half opaque: nothing was cut out
    estimated_error: float = 0.0  # the predicted MAE of this matte (quality.py): sort a batch by it
    several_subjects: bool = False  # two or more separate pieces of comparable size (subject.py)
    subject_cut: bool = False  # the subject runs into the frame: part of it is outside the photo
    small_subject: bool = False  # the subject's box covers a small share of the frame
    first_frame_only: bool = False  # the input is animated (or multi-page): only its first frame was cut out
    quality_features: Mapping[str, float] = field(default_factory=dict)  # what the estimate was made from
    timings: StageTimings = field(default_factory=StageTimings)
    format: OutputFormat = PNG

    @property
    def flags(self) -> list[str]:
        """The true boolean findings a curator looks at before training or selling (FLAGS)."""
        findings = self.findings()
        return [name for name in FLAGS if findings[name]]

    def findings(self) -> dict[str, float | bool]:
        """The image's findings by stable name (snake_case; entry points derive their spelling)."""
        return {
            "uncertainty": round(self.uncertainty, 4),
            "foreground": round(self.foreground, 4),
            "no_subject": self.no_subject,
            "several_subjects": self.several_subjects,
            "subject_cut": self.subject_cut,
            "small_subject": self.small_subject,
            "estimated_error": round(self.estimated_error, 4),
            "first_frame_only": self.first_frame_only,
        }

    @property
    def media_type(self) -> str:
        return self.format.media_type

    @property
    def megapixels(self) -> float:
        return self.source_width * self.source_height / 1e6


def finding_text(value: float | bool) -> str:
    """A finding as text (metadata, headers): true/false, or a number with four decimals."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:.4f}"
