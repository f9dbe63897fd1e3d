"""`python -m bench.pages`: the tables of README.md and docs/*.md that come from a results file,
rewritten from that file.

Such a table (or list) follows a marker that says where it comes from, and is never edited by hand:

    <!-- copied from bench/results/latest.md under ## Quality -->
        the first table or list under the line that starts with that heading, verbatim
    <!-- made from bench/results/latest.json by headline -->
        `MAKERS["headline"]` of that JSON (for a table that picks and rounds figures)

The block is the lines after the marker up to the first blank one. After a new run,
`python -m bench.pages` rewrites every block from its file; `--check` lists the stale ones and exits 1
(tests/unit/test_bench_pages.py fails while one is).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .contenders import BASELINE
from .data import ROOT

PAGES = ("README.md", "docs/*.md")
MARKER = re.compile(r"<!-- (?P<how>copied|made) from (?P<source>\S+) (?:under|by) (?P<what>.+?) -->")
BLOCK_START = ("|", "- ")  # a table's or a list's first line


@dataclass(frozen=True)
class Block:
    """The lines [start, end) of `page` that the marker above them says come from `source`."""

    page: Path
    start: int
    end: int
    how: str  # "copied" or "made"
    source: str  # relative to the repository
    what: str  # the heading (copied) or the maker's name (made)


def blocks(page: Path, lines: Sequence[str]) -> list[Block]:
    found = []
    for i, line in enumerate(lines):
        if match := MARKER.search(line):
            end = next((j for j in range(i + 1, len(lines)) if not lines[j].strip()), len(lines))
            found.append(Block(page, i + 1, end, match["how"], match["source"], match["what"]))
    return found


def block_under(text: str, heading: str) -> list[str]:
    """The first table or list after the line starting with `heading`, up to the next blank line."""
    lines = text.splitlines()
    at = next((i for i, line in enumerate(lines) if line.startswith(heading)), None)
    if at is None:
        raise ValueError(f"no line starting with {heading!r}")
    start = next((i for i in range(at + 1, len(lines)) if lines[i].startswith(BLOCK_START)), None)
    if start is None:
        raise ValueError(f"no table or list under {heading!r}")
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


def table(header: Sequence[str], align: str, rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table; `align` is one character per column: "l" (---) or "r" (---:)."""
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    return "\n".join([row(header), rule, *map(row, rows)])


def row(cells: Sequence[str]) -> str:
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def headline(results: dict[str, Any]) -> str:
    """The README's benchmark table: the default against rembg u2netp (`latest.json`)."""
    speed, quality = results["speed"], results["quality"]
    timed = [
        ("warm 2 MP, JPEG to PNG", speed["warm"]["2MP"], "median_s", "{:.3f} s"),
        ("cold start (fresh interpreter)", speed["cold"], "median_s", "{:.2f} s"),
        ("peak memory at 12 MP", speed["rss"], "peak_rss_mib", "{:.0f} MiB"),
    ]
    rows = []
    for name, part, key, form in timed:
        ours, theirs = part["engine"][key], part[BASELINE][key]
        rows.append([name, form.format(ours), form.format(theirs), f"{ours / theirs:.2f}×"])
    sets = ("sod", "horse", "people", "davis")
    mae = [" / ".join(f"{quality[s][key]['mae']:.3f}" for s in sets) for key in ("engine", BASELINE)]
    rows.append([f"MAE, {' / '.join(sets)}", *mae, ""])
    return table(["", "engine (default)", "rembg u2netp", "ratio"], "lrrr", rows)


MATTING_ROWS = {  # contender -> how docs/edges.md names it
    "engine": "engine default",
    "engine+soft_edges": "engine, `soft_edges=true`",
    "engine+refine=false": "engine, `refine=false`",
    "engine:modnet-int8": "engine, `model=modnet-int8` (people)",
    "rembg:u2netp": "rembg u2netp",
    "rembg:u2net": "rembg u2net",
    "rembg:u2net+alpha_matting": "rembg u2net + `alpha_matting`",
    "teacher:isnet": "teacher: ISNet's map",
    "teacher:isnet+soft_edges": "teacher: ISNet's map, `soft_edges`",
    "teacher:modnet": "reference: MODNet's alpha",
    "teacher:modnet+soft_edges": "reference: MODNet's alpha, `soft_edges`",
}
HAIR_AND_FUR = {  # photo -> what docs/edges.md says is in it
    "am_GT03": "GT03 doll, loose hair",
    "am_GT04": "GT04 trolls, hair",
    "am_GT09": "GT09 doll, knitted hat and hair",
    "am_GT14": "GT14 ostrich, fur",
    "am_GT20": "GT20 plush, fur",
    "am_GT23": "GT23 teddy, fur",
    "am_GT24": "GT24 Eeyore, tuft",
}
HAIR_AND_FUR_COLUMNS = {  # contender -> column
    "engine": "engine default",
    "engine+soft_edges": "`soft_edges`",
    "rembg:u2netp": "rembg u2netp",
    "rembg:u2net+alpha_matting": "rembg u2net + alpha_matting",
    "teacher:isnet+soft_edges": "ISNet + `soft_edges`",
    "engine:modnet-int8": "`modnet-int8`",
}


def matting(results: dict[str, Any]) -> str:
    """docs/edges.md's matting table: whole-image errors, two band errors, softness, time (`matting.json`)."""
    part = results["matting"]
    rows = []
    for key, name in MATTING_ROWS.items():
        if key not in part["contenders"]:  # a reference that was not installed when the bench ran
            continue
        r = part["contenders"][key]
        figures = [
            r["sad_whole"],
            r["mse_whole"] * 1000,
            r["grad_whole"],
            r["conn_whole"],
            r["sad_band"],
            r["grad_band"],
        ]
        rows.append([name, *(f"{x:.1f}" for x in figures), f"{r['soft_share']:.3f}", f"{r['s_per_img']:.2f}"])
    share = f"soft-pixel share (truth {part['truth_soft_share']:.3f})"
    header = ["", "SAD", "MSE ×1e3", "Grad", "Conn", "band SAD", "band Grad", share, "s/img"]
    return table(header, "l" * len(header), rows)


def hair_and_fur(results: dict[str, Any]) -> str:
    """docs/edges.md's per-photo table: SAD / Grad over the whole image (`matting.json`)."""
    contenders = results["matting"]["contenders"]
    columns = {key: name for key, name in HAIR_AND_FUR_COLUMNS.items() if key in contenders}
    rows = [
        [
            name,
            *(
                f"{contenders[key]['images'][photo]['sad_whole']:.1f} / "
                f"{contenders[key]['images'][photo]['grad_whole']:.1f}"
                for key in columns
            ),
        ]
        for photo, name in HAIR_AND_FUR.items()
    ]
    header = ["photo", *columns.values()]
    return table(header, "l" * len(header), rows)


REFINEMENTS = {  # studies.refine_ab's way -> how docs/benchmark.md names it
    "base": "main's (gray guide, edge curve)",
    "crisp": "crisp, the default (colour guide, edge curve)",
    "crisp, no curve": "crisp without the edge curve",
    "soft": "soft (`soft_edges=true`)",
}


def refine_ab(results: dict[str, Any]) -> str:
    """docs/benchmark.md's summary of `studies/results/refine_ab.json`: per refinement, the range of dev
    MAE ratios to the base over both models and every dev set, and each model's matting Grad and softness."""
    models = list(results["models"].values())
    rows = []
    for way, name in REFINEMENTS.items():
        ratios = [
            s["ways"][way]["mae"] / s["ways"]["base"]["mae"] for m in models for k, s in m.items() if k != "matting"
        ]
        span = "1" if way == "base" else f"{min(ratios):.3f}–{max(ratios):.3f}"
        grad = " / ".join(f"{m['matting']['ways'][way]['grad_whole']:.1f}" for m in models)
        share = " / ".join(f"{m['matting']['ways'][way]['soft_share']:.3f}" for m in models)
        rows.append([name, span, grad, share])
    ids = " / ".join(f"`{model_id}`" for model_id in results["models"])
    header = [
        "refinement",
        "dev MAE × main's (davis, horse, people, sod)",
        f"matting Grad ({ids})",
        "matting soft share",
    ]
    return table(header, "llll", rows)


MAKERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "headline": headline,
    "matting": matting,
    "hair-and-fur": hair_and_fur,
    "refine-ab": refine_ab,
}


def expected(block: Block) -> list[str]:
    text = (ROOT / block.source).read_text(encoding="utf-8")
    if block.how == "copied":
        return block_under(text, block.what)
    return MAKERS[block.what](json.loads(text)).splitlines()


def pages() -> list[Path]:
    return sorted({path for pattern in PAGES for path in ROOT.glob(pattern)})


# Lines of bench/results/latest.md that docs/benchmark.md quotes in its prose, under no marker: the
# run (its time and versions) and the warm and cold parts' method, with the other processes' CPU. A
# page line holding one of these openings is brought up to date from it on (its own words before it kept).
QUOTED_FROM = "bench/results/latest.md"
QUOTED_PAGE = "docs/benchmark.md"
QUOTED = ("Full run. ", "Median of ", "Cold = ")


def quoted_lines() -> dict[str, str]:
    """QUOTED's lines of the last run's results, by opening."""
    results = (ROOT / QUOTED_FROM).read_text(encoding="utf-8").splitlines()
    return {opening: line for line in results for opening in QUOTED if line.startswith(opening)}


def _requote(lines: list[str], page: Path) -> list[str]:
    """Bring the quoted lines of `page` up to date in place; the stale ones ("page:line <- source")."""
    stale, quoted = [], quoted_lines()  # (the results file read once, not once a line)
    for number, line in enumerate(lines):
        for opening, current in quoted.items():
            at = line.find(opening)
            if at >= 0 and line[at:] != current:
                stale.append(f"{page.relative_to(ROOT)}:{number + 1} <- {QUOTED_FROM} ({opening.strip()})")
                lines[number] = line[:at] + current
    return stale


# README.md's models table: its warm 2 MP ratio and SOD MAE columns (3rd and 4th) come from the last
# run's results, its other cells (file size, notes) are written by hand.
MODELS_PAGE, MODELS_HEADING, MODELS_RESULTS = "README.md", "## Models", "bench/results/latest.json"


def _model_figures(results: dict[str, Any], name: str) -> tuple[str, str]:
    """(warm 2 MP ratio to rembg u2netp, SOD MAE) of the models table's row named `name` ("—" for a
    model the run left out)."""
    warm, sod = results["speed"]["warm"]["2MP"], results["quality"]["sod"]
    model = re.findall(r"`([^`]+)`", name)[0]
    default = results["contenders"]["engine"]["model_id"]
    key = f"rembg:{model}" if name.startswith("rembg") else "engine" if model == default else f"engine:{model}"
    ratio = f"{warm[key]['median_s'] / warm[BASELINE]['median_s']:.2f}×" if key in warm else "—"
    return ratio, f"{sod[key]['mae']:.4f}" if key in sod else "—"


def _refigure(lines: list[str], page: Path) -> list[str]:
    """Bring the models table's figures up to date in place; the stale rows ("page:line <- source")."""
    results = json.loads((ROOT / MODELS_RESULTS).read_text(encoding="utf-8"))
    at = next(i for i, line in enumerate(lines) if line.startswith(MODELS_HEADING))
    first = next(i for i in range(at + 1, len(lines)) if lines[i].startswith("|")) + 2  # under its rule
    stale = []
    for number in range(first, len(lines)):
        if not lines[number].startswith("|"):
            break
        cells = lines[number].strip().strip("|").split("|")
        ratio, mae = _model_figures(results, cells[0].strip())
        cells[2:4] = [f" {ratio} ", f" {mae} "]
        if (updated := "|" + "|".join(cells) + "|") != lines[number]:
            stale.append(f"{page.relative_to(ROOT)}:{number + 1} <- {MODELS_RESULTS} (models table)")
            lines[number] = updated
    return stale


def refresh(page: Path, write: bool) -> list[str]:
    """The stale blocks of `page` ("page:line <- source"), rewritten from their sources when `write`."""
    lines = page.read_text(encoding="utf-8").splitlines()
    stale = []
    for block in reversed(blocks(page, lines)):  # from the bottom, so earlier line numbers hold
        want = expected(block)
        if lines[block.start : block.end] != want:
            stale.append(f"{page.relative_to(ROOT)}:{block.start + 1} <- {block.source} ({block.what})")
            lines[block.start : block.end] = want
    stale = stale[::-1] + (_requote(lines, page) if page == ROOT / QUOTED_PAGE else [])
    stale += _refigure(lines, page) if page == ROOT / MODELS_PAGE else []
    if stale and write:
        page.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pages", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="list the stale blocks and exit 1; write nothing")
    args = parser.parse_args(argv)
    stale = [line for page in pages() for line in refresh(page, write=not args.check)]
    for line in stale:
        print(("stale: " if args.check else "rewrote: ") + line)
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
