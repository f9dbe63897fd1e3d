"""Options as text (CLI flags, query parameters, the recipe stored with a cut-out): parsed, merged,
written back."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from engine import InvalidOptionError, Options, OutputMode, Size
from engine.library import options_from
from engine.options import Pixels

EVERY_FIELD_SET = Options(
    model="u2netp",
    output=OutputMode.MASK,
    crop=True,
    crop_margin=0.2,
    background=(255, 128, 0),
    refine=False,
    soft_edges=True,
    crisp_edges=True,
    decontaminate=False,
    compress_level=6,
)


def test_parses_every_option_from_text() -> None:
    options = Options.from_strings(
        {
            "output": "mask",
            "crop": "true",
            "crop_margin": "0.2",
            "background": "#ff8000",
            "refine": "0",
            "soft_edges": "yes",
            "crisp_edges": "1",
            "decontaminate": "no",
            "compress_level": "6",
            "model": "u2netp",
        }
    )
    assert options == EVERY_FIELD_SET
    assert Options.from_strings({"background": "10,20,30"}).background == (10, 20, 30)
    assert Options.from_strings({"background": " 10 , 20, 30 "}).background == (10, 20, 30)
    assert Options.from_strings({}) == Options()


@pytest.mark.parametrize(
    "values",
    [
        {"crop": "maybe"},
        {"compress_level": "11"},
        {"crop_margin": "-1"},
        {"background": "#12"},
        {"background": "300,0,0"},
        {"output": "jpeg"},
        {"model": "../etc/passwd"},
        {"format": "bmp"},
        {"colour": "red"},
        {"background": "\u00b2,1,1"},  # '²'.isdigit() is true, int('²') raises
        {"background": "\uff11\uff12\uff13,0,0"},  # full-width digits
        {"compress_level": "\uff17"},  # int() reads a full-width 7
        {"crop_margin": "\u0660.\u0661"},  # float() reads Arabic-Indic digits
    ],
)
def test_bad_values_are_refused_with_the_option_name(values: dict[str, str]) -> None:
    with pytest.raises(InvalidOptionError) as error:
        Options.from_strings(values)
    assert next(iter(values)).split("_")[0] in str(error.value)


def test_request_options_override_only_what_they_name():
    base = Options(crop=True, refine=False)
    merged = base.merged({"output": "mask"})
    assert merged == Options(crop=True, refine=False, output=OutputMode.MASK)
    with pytest.raises(InvalidOptionError):
        base.merged({"compress_level": "12"})


@pytest.mark.parametrize(
    ("defaults", "request_options", "expected"),
    [
        (Options(background=(255, 255, 255)), {"format": "jpeg"}, Options(background=(255, 255, 255), format="jpeg")),
        (Options(output=OutputMode.MASK), {"format": "jpeg"}, Options(output=OutputMode.MASK, format="jpeg")),
        (Options(format="jpeg", background=(0, 0, 0)), {"background": "fff"}, Options(format="jpeg", background="fff")),
    ],
)
def test_request_options_are_checked_laid_over_the_defaults(defaults, request_options, expected) -> None:
    """A deployment's DEFAULT_OPTIONS background (or output=mask) lets a request ask for JPEG alone."""
    assert defaults.merged(request_options) == expected


def test_merged_options_that_together_cannot_be_made_are_refused() -> None:
    with pytest.raises(InvalidOptionError, match="no transparency"):
        Options(format="jpeg", background=(0, 0, 0)).merged({"background": "none"})


@pytest.mark.parametrize("options", [Options(), EVERY_FIELD_SET, Options(background=(0, 0, 0), crop_margin=0.0)])
def test_text_round_trips(options: Options) -> None:
    assert Options.from_strings(options.to_strings()) == options
    assert Options().merged(options.to_strings()) == options


def test_the_recipe_resolves_the_model_and_reads_back() -> None:
    assert Options().recipe("u2netp") == Options(model="u2netp").recipe("other")
    assert Options(crop=True).recipe("u2netp") != Options().recipe("u2netp")
    recipe = EVERY_FIELD_SET.recipe("ignored: the options name their model")
    assert Options.from_strings(dict(parse_qsl(recipe, keep_blank_values=True))) == EVERY_FIELD_SET


WEIGHTS, OTHER_WEIGHTS = "ab" * 32, "cd" * 32  # two models' sha256, as their manifests name them


def test_the_recorded_recipe_is_the_recipe_and_the_weights_or_when_long_its_hash() -> None:
    """What an output records (S3 metadata, the CLI's extended attribute) stays bounded."""
    recorded = Options(crop=True).recorded_recipe("u2netp", WEIGHTS)
    assert recorded == Options(crop=True).recipe("u2netp") + "&weights=" + WEIGHTS[:16]
    long = Options.from_strings({"roi": f"0px,0px,{'9' * 600}px,10px"})
    other = Options.from_strings({"roi": f"0px,0px,{'9' * 599}8px,10px"})
    assert long.recorded_recipe("u2netp", WEIGHTS).startswith("sha256:")
    assert len(long.recorded_recipe("u2netp", WEIGHTS)) == 71
    assert long.recorded_recipe("u2netp", WEIGHTS) != other.recorded_recipe("u2netp", WEIGHTS)
    assert long.recorded_recipe("u2netp", WEIGHTS) != long.recorded_recipe("u2netp", OTHER_WEIGHTS)


def test_the_recorded_recipe_tells_the_weights_behind_a_model_id_apart() -> None:
    """A model re-installed under its id (fine-tuned, a new default) is another recipe, the same
    weights the same one; a recipe recorded before the weights were (the options alone) is never
    this one, so such an output is made again once."""
    recorded = Options(crop=True).recorded_recipe("u2netp", WEIGHTS)
    assert recorded != Options(crop=True).recorded_recipe("u2netp", OTHER_WEIGHTS)
    assert recorded == Options(crop=True, model="u2netp").recorded_recipe("other", WEIGHTS)
    assert dict(parse_qsl(recorded, keep_blank_values=True)) == {
        **Options(crop=True, model="u2netp").to_strings(),
        "weights": WEIGHTS[:16],
    }
    assert recorded != Options(crop=True).recipe("u2netp")


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ({"size": "auto"}, {"size": Size.FULL}),
        ({"size": "regular"}, {"size": Size.PREVIEW}),
        ({"size": "hd"}, {"size": Size.FULL}),
        ({"crop_margin": "10%"}, {"crop_margin": 0.1}),
        ({"crop_margin": "30px"}, {"crop_margin": Pixels(30)}),
        ({"background": "green"}, {"background": (0, 128, 0)}),
        ({"background": "fff"}, {"background": (255, 255, 255)}),
    ],
)
def test_remove_bg_values_are_read_and_round_trip(text: dict[str, str], parsed: dict[str, object]) -> None:
    options = Options.from_strings(text)
    assert {name: getattr(options, name) for name in parsed} == parsed
    assert Options.from_strings(options.to_strings()) == options


def test_format_auto_is_png_with_transparency_and_jpeg_on_a_colour() -> None:
    assert Options.from_strings({"format": "auto"}).output_format.name == "png"
    assert Options.from_strings({"format": "auto", "background": "white"}).output_format.name == "jpeg"
    with pytest.raises(InvalidOptionError, match="zip"):
        Options.from_strings({"format": "zip"})
    with pytest.raises(InvalidOptionError, match="500px"):
        Options.from_strings({"crop_margin": "501px"})


@pytest.mark.parametrize(
    ("values", "said", "not_said"),
    [
        ({"position": "10,10"}, "X%,Y%", "or px"),  # "or px", then 10px,10px refused
        ({"position": "10px,10px"}, "X%,Y%", None),
        ({"scale": "nan"}, "10%-100%", "inf"),  # was "0%-inf% (a share 0-inf) or px"
        ({"format": "bmp"}, "auto", None),  # auto and jpg are taken too
        ({"size": "huge"}, "regular", None),  # remove.bg's sizes are taken too
    ],
)
def test_a_refusal_names_what_is_taken(values: dict[str, str], said: str, not_said: str | None) -> None:
    with pytest.raises(InvalidOptionError) as refused:
        Options.from_strings(values)
    assert said in str(refused.value) and (not_said is None or not_said not in str(refused.value))


def test_none_in_the_python_api_leaves_an_option_unset() -> None:
    assert options_from({"crop": None, "format": None, "background": None}) == Options()
