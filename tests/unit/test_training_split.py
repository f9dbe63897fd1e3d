"""The validation split keeps whole domains out of training, and choices weigh them first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelbuild.paths import DATA
from training.split import DEFAULT_RULE, POOL, Rule, domain_group, held_out_domains
from training.validate import ranking, trained_groups

CELL = {"mae": 0.05, "max_fbeta": 0.9}


def test_a_held_out_domain_is_never_trained_on_and_is_its_own_group() -> None:
    stems = ["n01440764_tench", "n02084071_dog", "n07714990_broccoli", "n09193705_alp", "n12057211_slipper"]
    rule = Rule(every=100, domains=("n07", "n09", "n12"))
    assert rule.domain_stems(stems) == {"n07714990_broccoli", "n09193705_alp", "n12057211_slipper"}
    assert rule.domain_stems(stems) <= rule.held_out(stems)  # out of training, like the rest of the split
    assert rule.held_out(stems) - rule.domain_stems(stems) == {"n01440764_tench"}  # every 100th, as before
    assert domain_group("unlabeled/objects") == "unlabeled/objects (held-out domains)"


def test_the_pool_keeps_food_plants_fungi_and_scenes_out_of_training() -> None:
    objects = sorted(p.stem for p in (DATA / "unlabeled" / "objects" / "images").iterdir())
    domain = POOL["unlabeled/objects"].domain_stems(objects)
    assert 60 <= len(domain) <= 120 and "n07714990_broccoli" in domain and "n02085620_chihuahua" not in domain
    assert held_out_domains() == {"unlabeled/objects (held-out domains)"}


def test_a_candidate_that_gains_in_domain_and_loses_on_a_held_out_domain_ranks_below() -> None:
    out = "unlabeled/objects (held-out domains)"
    better_in_domain = {"a": {"mae": 0.01, "max_fbeta": 0.99}, "b": {"mae": 0.01, "max_fbeta": 0.99}, out: CELL}
    steady = {"a": CELL, "b": CELL, out: {"mae": 0.04, "max_fbeta": 0.91}}
    for rows in ({"gains": better_in_domain, "steady": steady}, {"steady": steady, "gains": better_in_domain}):
        rows = {name: {**table, "mean": CELL} for name, table in rows.items()}
        assert [name for name, _ in ranking(rows)] == ["steady", "gains"]


def test_a_model_trained_before_a_domain_was_held_out_is_not_compared_on_it(tmp_path: Path) -> None:
    held = {"folders": ["../shared/data/unlabeled/objects"], "validation_photos": {"unlabeled/objects": 98}}
    (tmp_path / "before.json").write_text(json.dumps({"provenance": {"training": held}}))
    assert trained_groups("before", tmp_path) == {"unlabeled/objects (held-out domains)"}
    held["validation_photos"]["unlabeled/objects (held-out domains)"] = 85
    (tmp_path / "after.json").write_text(json.dumps({"provenance": {"training": held}}))
    assert trained_groups("after", tmp_path) == set()


def test_a_catalogues_validation_photos_stay_held_out_when_photos_are_added() -> None:
    catalogue = [f"sku_{i:04d}" for i in range(120)]
    before = DEFAULT_RULE.held_out(catalogue)
    assert 8 <= len(before) <= 25  # about every 8th
    grown = [f"aaa_new_{i}" for i in range(30)] + catalogue + [f"zzz_new_{i}" for i in range(50)]
    after = DEFAULT_RULE.held_out(grown)
    assert before <= after  # nothing validated on before is trained on now
    assert 15 <= len(after) <= 40


@pytest.mark.parametrize("count", [4, 5, 7])
def test_a_small_catalogue_still_holds_a_photo_out_and_trains_on_the_rest(count: int) -> None:
    held = DEFAULT_RULE.held_out([f"photo{i}" for i in range(count)])
    assert 1 <= len(held) < count


def test_a_folder_of_three_photos_is_trained_on_whole() -> None:
    assert DEFAULT_RULE.held_out(["a", "b", "c"]) == set()
