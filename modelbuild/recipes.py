"""What each shipped INT8 model is built from, and the accuracy it must keep."""

from __future__ import annotations

from dataclasses import dataclass, field

from .manifests import Feed
from .paths import DATA
from .photos import PhotoSplit


@dataclass(frozen=True)
class Recipe:
    """One quantized engine model.

    The exclusion search stops once the output MAE vs fp32 on the calibration photos is at most
    `target_mae` (or nothing more pays off); the model is written only if its MAE vs fp32 on the
    held-out photos is at most `max_mae`.
    """

    source: str  # a key of sources.SOURCES (or a name for a model made here, e.g. by training/)
    model_id: str
    input_size: int = 320  # side of the model's square input
    target_mae: float = 0.005
    max_mae: float = 0.01
    photos: PhotoSplit = field(default_factory=PhotoSplit)
    search_gain: float = 0.1  # a float island must cut the MAE by this share to be kept (quantize.py)
    search_patience: int = 3  # islands tried per round before the search stops
    side_output: bool = False  # also expose side outputs for the error estimate (graph.expose_side_outputs)
    feed: Feed = field(default_factory=Feed)  # its family, input mean/std and output normalisation


RECIPES: dict[str, Recipe] = {
    "u2netp": Recipe(source="u2netp", model_id="u2netp-int8"),
    "u2net": Recipe(source="u2net", model_id="u2net-int8"),
    # the same weights at a 256x256 input: 0.64x the pixels; on the dev sets as good as at 320
    "u2netp-256": Recipe(source="u2netp", model_id="u2netp-256-int8", input_size=256),
    # MODNet, portrait matting: its alpha as it is, at 512 x 512 (square, as the engine feeds every model;
    # studies.modnet_matte measured that beside its authors' aspect-kept input), calibrated on people
    "modnet": Recipe(
        source="modnet",
        model_id="modnet-int8",
        input_size=512,
        photos=PhotoSplit(DATA / "extra" / "people" / "images", calibration_count=32, holdout_count=16),
        search_patience=2,
        feed=Feed("modnet", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), normalize="none"),
    ),
}
