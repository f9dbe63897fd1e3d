"""bench.pages: the docs' tables equal the results files they come from."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from bench import pages
from bench.contenders import BASELINE

# Pages and how many of their blocks come from a results file, at least: a marker lost in an edit
# would otherwise turn a checked table into an unchecked one without a word.
MARKED = {
    "README.md": 1,
    "docs/benchmark.md": 5,
    "docs/api.md": 2,
    "docs/deploy.md": 1,
    "docs/edges.md": 3,
}


@pytest.mark.parametrize("page", pages.pages(), ids=lambda p: str(p.relative_to(pages.ROOT)))
def test_every_table_from_a_results_file_equals_it(page: Path) -> None:
    stale = pages.refresh(page, write=False)
    assert not stale, f"rerun `python -m bench.pages` (or fix the marker): {stale}"


@pytest.mark.parametrize(("page", "least"), MARKED.items())
def test_the_pages_say_where_their_tables_come_from(page: str, least: int) -> None:
    path = pages.ROOT / page
    assert len(pages.blocks(path, path.read_text(encoding="utf-8").splitlines())) >= least


RESULTS = """# Run

## Quality

Some words first.

| set | MAE |
|---|---|
| sod | 0.0604 |

## Next
"""


def test_a_changed_figure_is_found_and_rewritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages, "ROOT", tmp_path)
    (tmp_path / "results.md").write_text(RESULTS)
    page = tmp_path / "page.md"
    marker = "<!-- copied from results.md under ## Quality -->"
    page.write_text(f"Intro.\n\n{marker}\n| set | MAE |\n|---|---|\n| sod | 0.0600 |\n\nAfter.\n")
    assert pages.refresh(page, write=False) == ["page.md:4 <- results.md (## Quality)"]
    assert "0.0600" in page.read_text()  # --check writes nothing
    pages.refresh(page, write=True)
    assert page.read_text() == f"Intro.\n\n{marker}\n| set | MAE |\n|---|---|\n| sod | 0.0604 |\n\nAfter.\n"
    assert pages.refresh(page, write=False) == []


def test_a_missing_heading_is_an_error() -> None:
    with pytest.raises(ValueError, match="no line starting with"):
        pages.block_under(RESULTS, "## Speed")


def test_headline_rounds_as_the_readme_writes() -> None:
    def part(key: str, ours: float, theirs: float) -> dict[str, dict[str, float]]:
        return {"engine": {key: ours}, "rembg:u2netp": {key: theirs}}

    sets = {
        s: {"engine": {"mae": 0.0604}, "rembg:u2netp": {"mae": 0.0686}} for s in ("sod", "horse", "people", "davis")
    }
    results = {
        "speed": {
            "warm": {"2MP": part("median_s", 0.1984, 0.4034)},
            "cold": part("median_s", 0.611, 2.383),
            "rss": part("peak_rss_mib", 306.2, 712.6),
        },
        "quality": sets,
    }
    assert pages.headline(results).splitlines() == [
        "| | engine (default) | rembg u2netp | ratio |",
        "|---|---:|---:|---:|",
        "| warm 2 MP, JPEG to PNG | 0.198 s | 0.403 s | 0.49× |",
        "| cold start (fresh interpreter) | 0.61 s | 2.38 s | 0.26× |",
        "| peak memory at 12 MP | 306 MiB | 713 MiB | 0.43× |",
        "| MAE, sod / horse / people / davis | 0.060 / 0.060 / 0.060 / 0.060 | 0.069 / 0.069 / 0.069 / 0.069 | |",
    ]


def test_the_benchmark_page_quotes_the_run_its_tables_come_from() -> None:
    """docs/benchmark.md quotes the run's line and the warm and cold parts' method lines in its prose;
    bench.pages brings them up to date with the tables (it quoted the 17:30 run over the 19:09 run's tables)."""
    quoted = pages.quoted_lines()
    assert set(quoted) == set(pages.QUOTED), "latest.md's run line or a part's method line changed its wording"
    page = (pages.ROOT / pages.QUOTED_PAGE).read_text(encoding="utf-8")
    assert [line for line in quoted.values() if line not in page] == [], "run python -m bench.pages"


def test_bench_pages_brings_a_stale_quote_up_to_date_keeping_the_words_before_it() -> None:
    quoted = pages.quoted_lines()
    run = "Last full run, on this machine: Full run. 2026-01-01T00:00:00+0000; old."
    lines = [run, "Median of 3, old.", "Cold, said"]
    stale = pages._requote(lines, pages.ROOT / pages.QUOTED_PAGE)
    assert lines == ["Last full run, on this machine: " + quoted["Full run. "], quoted["Median of "], "Cold, said"]
    assert [entry.split(" <- ")[0] for entry in stale] == ["docs/benchmark.md:1", "docs/benchmark.md:2"]
    assert pages._requote(lines, pages.ROOT / pages.QUOTED_PAGE) == []


def test_the_readme_models_table_has_the_last_runs_speed_and_sod_mae() -> None:
    """Its warm 2 MP ratio and SOD MAE columns are typed by hand beside prose notes, so no marker can
    rewrite them: they must read as bench/results/latest.json does ("—" for a model it did not run)."""
    results = json.loads((pages.ROOT / "bench/results/latest.json").read_text(encoding="utf-8"))
    warm, sod = results["speed"]["warm"]["2MP"], results["quality"]["sod"]
    default = results["contenders"]["engine"]["model_id"]
    rows = pages.block_under((pages.ROOT / "README.md").read_text(encoding="utf-8"), "## Models")[2:]
    assert len(rows) >= 6
    for row in rows:
        name, _file, ratio, mae, _notes = (cell.strip() for cell in row.strip("|").split("|"))
        model = re.findall(r"`([^`]+)`", name)[0]
        key = f"rembg:{model}" if name.startswith("rembg") else "engine" if model == default else f"engine:{model}"
        want_ratio = f"{warm[key]['median_s'] / warm[BASELINE]['median_s']:.2f}×" if key in warm else "—"
        want_mae = f"{sod[key]['mae']:.4f}" if key in sod else "—"
        assert (ratio, mae) == (want_ratio, want_mae), f"README.md's models table, {name}"


def test_bench_pages_rewrites_the_models_tables_figures_and_leaves_its_words() -> None:
    lines = (pages.ROOT / pages.MODELS_PAGE).read_text(encoding="utf-8").splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("| `u2netp-int8` |"))
    kept = lines[row]
    lines[row] = (
        kept.replace("1.4 MB", "1.4 MB (ours)")
        .replace(kept.split("|")[3], " 9.99× ")
        .replace(kept.split("|")[4], " 0.9999 ")
    )
    stale = pages._refigure(lines, pages.ROOT / pages.MODELS_PAGE)
    assert stale == [f"README.md:{row + 1} <- bench/results/latest.json (models table)"]
    assert lines[row] == kept.replace("1.4 MB", "1.4 MB (ours)")
    assert pages._refigure(lines, pages.ROOT / pages.MODELS_PAGE) == []


@pytest.mark.parametrize("plot", ["quality-vs-speed.png", "stages.png"])
def test_the_plots_are_drawn_from_the_last_run(plot: str) -> None:
    """docs/benchmark.md shows them as drawn from bench/results/latest.json (`make gallery`): each PNG
    names the run it was drawn from (gallery/plots.py), which must be the run latest.json holds."""
    created = json.loads((pages.ROOT / "bench/results/latest.json").read_text(encoding="utf-8"))["created"]
    with Image.open(pages.ROOT / "docs" / "plots" / plot) as image:
        drawn_from = image.info.get("Source")
    assert drawn_from == f"benchmark run {created}", "redraw the plots: make gallery (or gallery.plots)"
