"""Options parsed from user text (CLI flags, query parameters)."""

from __future__ import annotations

import pytest

from engine import InvalidOptionError, Options, OutputMode


def test_parses_every_option_from_text() -> None:
    options = Options.from_strings(
        {
            "output": "mask",
            "crop": "true",
            "crop_margin": "0.2",
            "background": "#ff8000",
            "refine": "0",
            "decontaminate": "no",
            "compress_level": "6",
            "model": "u2netp",
        }
    )
    assert options == Options(
        model="u2netp",
        output=OutputMode.MASK,
        crop=True,
        crop_margin=0.2,
        background=(255, 128, 0),
        refine=False,
        decontaminate=False,
        compress_level=6,
    )
    assert Options.from_strings({"background": "10,20,30"}).background == (10, 20, 30)
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
        {"colour": "red"},
    ],
)
def test_bad_values_are_refused_with_the_option_name(values: dict[str, str]) -> None:
    with pytest.raises(InvalidOptionError) as error:
        Options.from_strings(values)
    assert next(iter(values)).split("_")[0] in str(error.value)
