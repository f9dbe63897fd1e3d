"""The gallery regenerates docs/LICENSES.md without dropping its hand-written sections."""

from __future__ import annotations

from gallery.photos import keep_hand_written

GENERATED = "# Gallery photos\n\n| photo | subject | licence |\n|---|---|---|\n| `rocket` | a rocket | PD |\n"


def test_hand_written_sections_after_the_generated_one_are_kept() -> None:
    previous = (
        "# Gallery photos\n\nan older table\n\n# Libraries whose licence a deployer should know\n\n| pi-heif | LGPL |\n"
        "\n# Test files\n\nours\n"
    )
    merged = keep_hand_written(GENERATED, previous)
    assert merged.startswith(GENERATED) and "an older table" not in merged
    tail = "\n# Libraries whose licence a deployer should know\n\n| pi-heif | LGPL |\n\n# Test files\n\nours\n"
    assert merged.endswith(tail)


def test_a_new_or_purely_generated_file_is_just_the_generated_part() -> None:
    assert keep_hand_written(GENERATED, None) == GENERATED
    assert keep_hand_written(GENERATED, "# Gallery photos\n\nold rows\n") == GENERATED
