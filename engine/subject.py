"""Findings a curator needs about the subject itself, read off the matte (alpha >= 50 % is subject):

- several_subjects: two or more separate pieces of comparable size (a herd, two flowers): a set
  meant to teach one subject is better without them;
- subject_cut: the subject runs into the frame, so part of it is outside the photo;
- small_subject: the subject's box covers under SMALL_BOX_SHARE of the frame (placed on a canvas, it
  is enlarged from few pixels).

Measured on the matte sampled every `stride`-th pixel (as the pipeline's statistics): exact enough
for shares, and cheap; the frame's edges are read whole, so a subject that stops a pixel short of
the frame is not taken for a cut one. Thresholds chosen on the validation photos (reliability/findings.py:
each finding of the cut-out against the same finding of the true mask; figures in docs/prepare.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

OPAQUE = 128  # alpha at least half opaque is subject, as for `foreground` and `no_subject`
# A second piece at least 40 % of the largest's area is a subject of its own. On the 110 labelled
# validation photos, 0.25 flagged 7 cut-outs of which 1 had several subjects in its true mask (the
# rest: one subject the model broke in pieces); 0.4 flagged 3, 1 of them true (of 2).
SEVERAL_SHARE = 0.4
SPECK_SHARE = 0.005  # pieces under 0.5 % of the frame are specks and holes' islands, not subjects
# The subject on one edge of the frame along 15 % of its box's extent there is cut. Validation: 11
# flagged, 10 of them cut in the true mask too (precision 0.91, recall 0.67 of 15); 0.05: 0.83/0.67,
# 0.25: 1.00/0.60.
CUT_SHARE = 0.15
# A subject whose box covers under 4 % of the frame (a fifth of each side) is small. Validation: 9
# flagged, 1 small in the true mask too (recall 1.00); the other 8 cut-outs lost most of a larger
# subject, which a curator must see as well. 0.08 flags 13 (8 truly under 0.08).
SMALL_BOX_SHARE = 0.04


@dataclass(frozen=True)
class SubjectFindings:
    several_subjects: bool = False
    subject_cut: bool = False
    small_subject: bool = False


def inspect(matte: np.ndarray, stride: int) -> SubjectFindings:
    """The findings of a matte (HxW uint8), measured on every `stride`-th pixel but for the frame's
    edges, which are read whole; all false when there is no subject."""
    subject = (matte[::stride, ::stride] >= OPAQUE).view(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(subject, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    if count < 2:
        return SubjectFindings()
    height, width = subject.shape
    _, _, w, h = cv2.boundingRect(subject)
    pieces = areas[(areas >= SEVERAL_SHARE * areas.max()) & (areas >= SPECK_SHARE * subject.size)]
    return SubjectFindings(
        several_subjects=len(pieces) >= 2,
        subject_cut=_cut_share(matte, w * stride, h * stride) >= CUT_SHARE,
        small_subject=w * h < SMALL_BOX_SHARE * width * height,
    )


def _cut_share(matte: np.ndarray, box_width: int, box_height: int) -> float:
    """The longest stretch of the frame's edges the subject lies on, as a share of its box's extent
    along that edge (its width for the top and bottom, its height for the sides)."""
    top, bottom, left, right = (
        np.count_nonzero(edge >= OPAQUE) for edge in (matte[0], matte[-1], matte[:, 0], matte[:, -1])
    )
    rows, columns = max(top, bottom) / box_width, max(left, right) / box_height
    return float(max(rows, columns))
