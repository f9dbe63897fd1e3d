"""Full-resolution alpha refinement and colour decontamination on generated photos with known truth."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.refine import SOFT_FLOOR, STEEPNESS, decontaminate, edge_curve, noise_floor, refine_alpha, refine_matte

PRED_SIDE = 320  # the model's output size


def _disc_mask(height: int, width: int, radius: float, centre: tuple[float, float] | None = None) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = centre or (width / 2, height / 2)
    return ((xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2).astype(np.uint8) * 255


def _textured_photo(mask: np.ndarray, seed: int = 0) -> np.ndarray:
    """A light subject on a darker, blotchy and noisy background, with a sharp boundary."""
    rng = np.random.default_rng(seed)
    height, width = mask.shape
    blotches = cv2.GaussianBlur(rng.normal(0, 1, (height, width, 3)).astype(np.float32), (0, 0), 6) * 120
    background = np.float32([70, 90, 60]) + blotches
    subject = np.float32([180, 200, 230]) + rng.normal(0, 6, (height, width, 3)).astype(np.float32)
    photo = np.where(mask[:, :, None] > 0, subject, background)
    return np.clip(photo, 0, 255).astype(np.uint8)


def _model_like_pred(mask: np.ndarray) -> np.ndarray:
    """What a saliency model gives: the truth at 320x320, blurred, min-max normalised float32."""
    small = cv2.resize(mask, (PRED_SIDE, PRED_SIDE), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    small = cv2.GaussianBlur(small, (0, 0), 2.5)
    return (small - small.min()) / (small.max() - small.min())


def _plain_resize(pred: np.ndarray, height: int, width: int) -> np.ndarray:
    resized = cv2.resize(pred, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(resized * 255 + 0.5, 0, 255).astype(np.uint8)


def _mae(alpha: np.ndarray, truth: np.ndarray) -> float:
    return float(np.abs(alpha.astype(np.float32) - truth.astype(np.float32)).mean() / 255)


@pytest.mark.parametrize(("height", "width"), [(480, 640), (1224, 1634)])
def test_refined_alpha_follows_the_true_edge_better_than_a_plain_resize(height: int, width: int) -> None:
    truth = _disc_mask(height, width, radius=0.3 * height)
    photo = _textured_photo(truth)
    pred = _model_like_pred(truth)

    refined = refine_alpha(pred, photo)
    plain = _plain_resize(pred, height, width)

    assert _mae(refined, truth) < 0.5 * _mae(plain, truth)
    edge = cv2.morphologyEx(truth, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    assert np.mean(refined[edge] >= 128) == pytest.approx(np.mean(truth[edge] >= 128), abs=0.1)


def test_specks_and_pinholes_are_removed_while_the_edge_stays_soft() -> None:
    height, width = 600, 800
    truth = _disc_mask(height, width, radius=200)
    speck = _disc_mask(height, width, radius=14, centre=(80, 80))
    pinhole = _disc_mask(height, width, radius=8, centre=(width / 2 + 60, height / 2 - 40))
    flat_photo = np.full((height, width, 3), 128, np.uint8)  # no edges to snap to: only cleaning acts
    pred = _model_like_pred(np.maximum(truth, speck) & ~pinhole)
    plain = _plain_resize(pred, height, width)
    assert plain[speck > 0].max() > 200 and plain[pinhole > 0].min() < 128  # both show in a plain resize

    alpha = refine_alpha(pred, flat_photo)

    assert alpha[speck > 0].max() == 0
    assert alpha[pinhole > 0].min() == 255
    row = alpha[height // 2, : width // 2]  # from the left border into the disc
    ramp = row[(row > 0) & (row < 255)]
    assert ramp.size >= 3 and np.all(np.diff(row.astype(int)) >= 0)  # a monotone soft ramp, not a step


def _soft_disc_scene(height: int = 600, width: int = 800, sigma: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    """A textured orange disc whose edge is a Gaussian blur of `sigma` px (a known soft alpha) over
    a blotchy blue-grey background: the photo is alpha * F + (1 - alpha) * B. (photo, true alpha)."""
    rng = np.random.default_rng(7)
    truth = cv2.GaussianBlur(_disc_mask(height, width, radius=0.3 * height).astype(np.float32) / 255, (0, 0), sigma)
    blotches = cv2.GaussianBlur(rng.normal(0, 1, (height, width, 3)).astype(np.float32), (0, 0), 8) * 60
    background = np.float32([150, 110, 90]) + blotches
    subject = np.float32([40, 130, 230]) + rng.normal(0, 4, (height, width, 3)).astype(np.float32)
    photo = truth[:, :, None] * subject + (1 - truth[:, :, None]) * background
    return np.clip(photo + 0.5, 0, 255).astype(np.uint8), np.clip(truth * 255 + 0.5, 0, 255).astype(np.uint8)


def _visibly_soft(alpha: np.ndarray) -> float:
    """Share of pixels more than 8 levels from 0 and from 255."""
    return float(np.mean((alpha > 8) & (alpha < 247)))


def test_soft_refinement_recovers_a_known_soft_edge() -> None:
    photo, truth = _soft_disc_scene()
    pred = _model_like_pred(truth)  # the model sees the soft edge, blurred further at 320 px
    band = (truth > 0) & (truth < 255)

    soft = refine_alpha(pred, photo, soft=True)
    crisp = refine_alpha(pred, photo)

    # within 0.06 (about 15 levels) on average over the soft band, and closer than the crisp edge
    assert _mae(soft[band], truth[band]) < 0.06
    assert _mae(soft[band], truth[band]) < 0.6 * _mae(crisp[band], truth[band])
    # as many visibly soft pixels as the truth has, within 30 %
    assert _visibly_soft(soft) == pytest.approx(_visibly_soft(truth), rel=0.3)
    for sure in (0, 255):  # no haze off the edge: exact on 99.5 % of those pixels, nowhere beyond 16 levels (6 %)
        off = np.abs(soft[truth == sure].astype(int) - sure)
        assert np.mean(off > 0) < 0.005 and off.max() <= 16


def test_soft_refinement_keeps_a_sharp_edge_sharp() -> None:
    truth = _disc_mask(480, 640, radius=150)
    photo = _textured_photo(truth)
    alpha = refine_alpha(_model_like_pred(truth), photo, soft=True).astype(int)
    assert _mae(alpha, truth) < 0.005
    inner = (truth > 0) & (cv2.erode(truth, np.ones((3, 3), np.uint8)) == 0)  # the disc's outermost pixels
    outer = (truth == 0) & (cv2.dilate(truth, np.ones((3, 3), np.uint8)) > 0)  # the first ones outside
    assert alpha[inner].mean() - alpha[outer].mean() > 0.7 * 255  # most of the step within one pixel


def test_soft_edges_move_to_the_colour_edge_where_brightness_does_not_change() -> None:
    """Red on green of the same gray level, the model's edge 4 px too far out: the soft refinement
    puts it back on the colour edge (a gray guide sees no edge there at all)."""
    height, width = 480, 640
    truth = _disc_mask(height, width, radius=150)
    red, green = np.float32([40, 40, 200]), np.float32([30, 130, 30])  # BGR, both gray ~ 88
    assert np.ptp(cv2.cvtColor(np.uint8([[red, green]]), cv2.COLOR_BGR2GRAY).astype(int)) <= 2
    rng = np.random.default_rng(3)
    photo = np.where(truth[:, :, None] > 0, red, green) + rng.normal(0, 3, (height, width, 3))
    photo = np.clip(photo, 0, 255).astype(np.uint8)
    pred = _model_like_pred(_disc_mask(height, width, radius=154))
    edge = cv2.morphologyEx(truth, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0

    soft = refine_alpha(pred, photo, soft=True)
    crisp = refine_alpha(pred, photo)

    assert np.mean(soft[edge] >= 128) == pytest.approx(0.5, abs=0.1)  # on the true edge, not 4 px out
    assert _mae(soft, truth) < 0.5 * _mae(crisp, truth)
    assert _mae(crisp, truth) < _mae(_plain_resize(pred, height, width), truth)


def _green_screen(height: int = 200, width: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A red disc over green with a soft 6-pixel edge: (photo, alpha, the subject's true colour)."""
    soft = cv2.GaussianBlur(_disc_mask(height, width, radius=60).astype(np.float32) / 255, (0, 0), 2.0)
    red, green = np.float32([20, 30, 220]), np.float32([40, 200, 30])
    photo = soft[:, :, None] * red + (1 - soft[:, :, None]) * green
    return np.clip(photo + 0.5, 0, 255).astype(np.uint8), np.clip(soft * 255 + 0.5, 0, 255).astype(np.uint8), red


def test_decontamination_removes_the_green_halo_from_a_red_subjects_edge() -> None:
    photo, alpha, red = _green_screen()
    edge = (alpha > 25) & (alpha < 230)

    clean = decontaminate(photo, alpha)

    before = np.abs(photo[edge].astype(np.float32) - red).mean()
    after = np.abs(clean[edge].astype(np.float32) - red).mean()
    assert after < 0.2 * before
    assert clean[edge][:, 1].mean() < 60  # the green channel of the edge is (nearly) the subject's own
    assert np.array_equal(clean[alpha == 255], photo[alpha == 255])
    assert np.array_equal(clean[alpha == 0], photo[alpha == 0])


def test_decontamination_leaves_its_input_untouched() -> None:
    photo, alpha, _ = _green_screen()
    copy = photo.copy()
    decontaminate(photo, alpha)
    assert np.array_equal(photo, copy)
    hard = np.where(alpha >= 128, 255, 0).astype(np.uint8)
    assert np.array_equal(decontaminate(photo, hard), photo)  # nothing partial, nothing to change


def test_decontamination_leaves_the_pixels_the_cut_out_hides_and_unmixes_the_rest_alike() -> None:
    """With `shown` (the cut-out's alpha), pixels it makes transparent are skipped, which are a
    third of the work at 12 MP; every pixel it shows gets the very colour it got without it."""
    photo, coverage, _ = _green_screen()
    shown = np.where(coverage >= 100, coverage, 0).astype(np.uint8)  # a crisper alpha inside the coverage
    hidden = (shown == 0) & (coverage > 0) & (coverage < 255)
    assert hidden.any() and ((shown > 0) & (coverage > 0) & (coverage < 255)).any()

    whole = decontaminate(photo, coverage)
    skipped = decontaminate(photo, coverage, shown=shown)

    assert np.array_equal(skipped[shown > 0], whole[shown > 0])
    assert np.array_equal(skipped[hidden], photo[hidden])
    assert not np.array_equal(whole[hidden], photo[hidden])  # there was work to skip


SIZES = [(1, 1), (10, 20000), (20000, 10), (7, 5), (481, 321), (512, 512), (1224, 1634), (1536, 2048)]


@pytest.mark.parametrize("uncertain", [False, True], ids=["disc", "all-uncertain"])
@pytest.mark.parametrize(("height", "width"), SIZES)
def test_shapes_and_dtypes_hold_for_any_photo_size(height: int, width: int, uncertain: bool) -> None:
    rng = np.random.default_rng(height * 31 + width)
    photo = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    pred = _model_like_pred(_disc_mask(PRED_SIDE, PRED_SIDE, radius=100))
    if uncertain:  # every pixel needs the full-resolution computation
        pred = np.full_like(pred, 0.5)

    alpha = refine_alpha(pred, photo)
    foreground = decontaminate(photo, alpha)

    assert alpha.shape == (height, width) and alpha.dtype == np.uint8
    assert foreground.shape == (height, width, 3) and foreground.dtype == np.uint8


@pytest.mark.parametrize("level", [0.0, 1.0])
def test_a_uniform_prediction_gives_a_uniform_alpha(level: float) -> None:
    photo = _textured_photo(_disc_mask(300, 400, radius=90))
    alpha = refine_alpha(np.full((PRED_SIDE, PRED_SIDE), level, np.float32), photo)
    assert np.all(alpha == round(level * 255))


def test_edge_curve_keeps_the_ends_and_steepness_zero_is_the_identity() -> None:
    curve = edge_curve(STEEPNESS)
    assert (curve[0], curve[255]) == (0, 255) and abs(int(curve[128]) - 128) <= 1  # through the middle
    assert np.all(np.diff(curve.astype(int)) >= 0)
    assert curve[64] < 64 and curve[192] > 192  # narrower than the identity on both sides
    assert np.array_equal(edge_curve(0), np.arange(256))


@pytest.mark.parametrize("soft", [False, True], ids=["crisp", "soft"])
def test_the_matte_is_the_styles_alpha_with_the_soft_coverage(soft: bool) -> None:
    photo, truth = _soft_disc_scene()
    pred = _model_like_pred(truth)

    matte = refine_matte(pred, photo, soft=soft, crisp=not soft)

    assert np.array_equal(matte.alpha, refine_alpha(pred, photo, soft=soft))
    soft_alpha = refine_alpha(pred, photo, soft=True)
    assert np.array_equal(soft_alpha, cv2.LUT(matte.coverage, noise_floor(SOFT_FLOOR)))  # before the floor


def test_fringe_pixels_the_crisp_curve_made_opaque_lose_the_backgrounds_colour() -> None:
    """An orange disc with a 5 px soft edge over blue-grey, the model's map 4 px too wide (as on
    fur), cut out crisp: where the curve set alpha to 255 but the pixel is part background, colours
    unmixed with the matte's coverage are the subject's (no blue-grey rim on a plain background);
    unmixed with the crisp alpha they stay the photo's."""
    photo, truth = _soft_disc_scene()
    matte = refine_matte(_model_like_pred(_disc_mask(600, 800, radius=0.3 * 600 + 4)), photo, crisp=True)
    hardened = (matte.alpha == 255) & (truth < 230)  # opaque in the cut-out, under 90 % subject in truth
    assert np.count_nonzero(hardened) > 500  # the curve does harden a rim here
    subject = np.float32([40, 130, 230])

    rim = np.abs(decontaminate(photo, matte.alpha)[hardened] - subject).mean()
    clean = np.abs(decontaminate(photo, matte.coverage)[hardened] - subject).mean()

    assert rim > 10  # the photo's own colour there is visibly mixed
    assert clean < 0.6 * rim
    opaque = matte.coverage == 255
    assert np.array_equal(decontaminate(photo, matte.coverage)[opaque], photo[opaque])


def _scene(truth: np.ndarray, subject: np.ndarray, background: np.ndarray) -> np.ndarray:
    """The photo alpha * subject + (1 - alpha) * background, `truth` the alpha (uint8)."""
    alpha = truth[:, :, None].astype(np.float32) / 255
    return np.clip(alpha * subject + (1 - alpha) * background + 0.5, 0, 255).astype(np.uint8)


def _soft_disc(height: int = 600, width: int = 800, sigma: float = 5.0) -> np.ndarray:
    soft = cv2.GaussianBlur(_disc_mask(height, width, radius=0.3 * height).astype(np.float32), (0, 0), sigma)
    return np.clip(soft + 0.5, 0, 255).astype(np.uint8)


def test_the_default_edge_is_soft_where_a_soft_edge_meets_a_smooth_background() -> None:
    photo, truth = _soft_disc_scene()
    pred = _model_like_pred(truth)
    band = (truth > 0) & (truth < 255)

    default = refine_matte(pred, photo).alpha

    crisp, soft = refine_alpha(pred, photo), refine_alpha(pred, photo, soft=True)
    assert _mae(default[band], truth[band]) < 1.2 * _mae(soft[band], truth[band])
    assert _mae(default[band], truth[band]) < 0.4 * _mae(crisp[band], truth[band])
    assert _visibly_soft(default) == pytest.approx(_visibly_soft(truth), rel=0.3)


def test_the_default_edge_stays_crisp_where_colours_do_not_separate() -> None:
    """A grey disc on a grey ground 8 levels lighter, both with noise of 8 levels: the soft style
    turns the band into grey haze; the default keeps the crisp edge."""
    rng = np.random.default_rng(5)
    truth = _soft_disc()
    noise = rng.normal(0, 8, (*truth.shape, 3)).astype(np.float32)
    photo = _scene(truth, np.float32([120, 120, 120]) + noise, np.float32([128, 128, 128]) + noise[::-1])
    pred = _model_like_pred(truth)

    default = refine_matte(pred, photo).alpha

    crisp, soft = refine_alpha(pred, photo), refine_alpha(pred, photo, soft=True)
    assert _mae(soft, truth) > 2 * _mae(crisp, truth)  # the haze the default must not have
    assert _mae(default, truth) < 1.05 * _mae(crisp, truth)


def test_the_default_edge_stays_crisp_on_a_textured_background() -> None:
    """An orange disc on fine blue-grey texture: the colours separate, but the background is no
    single colour line, so the gate stays shut and the alpha is the crisp one exactly."""
    rng = np.random.default_rng(6)
    truth = _soft_disc()
    subject = np.float32([40, 130, 230]) + rng.normal(0, 3, (*truth.shape, 3)).astype(np.float32)
    texture = cv2.GaussianBlur(rng.normal(0, 1, (*truth.shape, 3)).astype(np.float32), (0, 0), 1.5) * 150
    photo = _scene(truth, subject, np.float32([170, 120, 90]) + texture)
    pred = _model_like_pred(truth)

    assert np.array_equal(refine_matte(pred, photo).alpha, refine_alpha(pred, photo))


def test_the_defaults_soft_edge_on_white_shows_the_subjects_colour_not_the_backgrounds() -> None:
    """The default's cut-out of a soft orange edge on blue-grey, composited on white, matches the
    truth's composite within 6 levels over the band (no blue-grey rim); the photo's own colours
    under the same alpha are visibly off."""
    photo, truth = _soft_disc_scene()
    matte = refine_matte(_model_like_pred(truth), photo)
    band = (truth > 12) & (truth < 243)
    subject = np.float32([40, 130, 230])

    def on_white(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        a = alpha[band][:, None].astype(np.float32) / 255
        return a * colour + (1 - a) * 255

    truth_on_white = on_white(subject, truth)
    cut_out = on_white(decontaminate(photo, matte.coverage)[band].astype(np.float32), matte.alpha)
    as_shot = on_white(photo[band].astype(np.float32), matte.alpha)
    assert np.abs(cut_out - truth_on_white).mean() < 6
    assert np.abs(as_shot - truth_on_white).mean() > 2 * np.abs(cut_out - truth_on_white).mean()
