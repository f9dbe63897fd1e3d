"""`python -m gallery` (`make gallery`): regenerate every picture under docs/ from scratch.

docs/gallery/<photo>.jpg         original | cut-out on a checkerboard | on a colour | matte (| rembg u2netp)
docs/gallery/<photo>-edge.jpg    the softest edge zoomed: edge colours as shot vs decontaminated vs soft_edges
docs/gallery/matting-<stem>.jpg  photo | true alpha | ours | ours, soft_edges | rembg u2netp (../shared/data/matting)
docs/gallery/<photo>-cutout.png  the cut-out itself (RGBA thumbnail)
docs/gallery/prep-lora.jpg       a caption-tagged folder before and after `bgremove prep` (docs/prepare.md)
docs/gallery/placement.jpg       one photo placed with remove.bg-style canvas/scale/position/crop_margin
docs/plots/quality-vs-speed.png  MAE per dev set against warm 2 MP time (x rembg u2netp), from bench results
docs/plots/stages.png            per-stage time at ~2 MP and ~12 MP, ours beside rembg
docs/page.jpg                    the web page after a real round trip in headless Chromium
docs/LICENSES.md                 where each photo comes from and its licence
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from . import cutouts, matting, plots, prepare
from .photos import by_name, keep_hand_written, licences_markdown, photo_jpeg

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
RESULTS = ROOT / "bench" / "results" / "latest.json"
U2NET_HOME = ROOT / ".cache" / "models"
PAGE_PHOTO = ROOT / "samples" / "chelsea.jpg"
PLACEMENT_PHOTO = by_name(["coffee"])[0]  # a product shot


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gallery", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", help="comma-separated skimage.data names (default: all six)")
    parser.add_argument("--out", type=Path, default=DOCS)
    parser.add_argument("--results", type=Path, default=RESULTS, help="the benchmark's results file")
    parser.add_argument("--u2net-home", type=Path, default=U2NET_HOME, help="rembg's models, for its column")
    parser.add_argument("--no-screenshot", action="store_true", help="skip the page screenshot (needs Chromium)")
    parser.add_argument("--no-matting", dest="matting", action="store_false", help="skip the matting strips")
    args = parser.parse_args(argv)
    photos = by_name(args.photos.split(",") if args.photos else None)
    for folder in ("gallery", "plots"):
        shutil.rmtree(args.out / folder, ignore_errors=True)
        (args.out / folder).mkdir(parents=True)
    for photo in photos:
        for suffix, image in cutouts.make(photo_jpeg(photo), args.u2net_home).items():
            if suffix == "cutout":
                image.save(args.out / "gallery" / f"{photo.name}-cutout.png", optimize=True)
            else:
                name = f"{photo.name}.jpg" if suffix == "strip" else f"{photo.name}-{suffix}.jpg"
                image.save(args.out / "gallery" / name, "JPEG", quality=82, optimize=True)
        print(f"gallery: {photo.name}", flush=True)
    prepare.prep_grid(photos).save(args.out / "gallery" / "prep-lora.jpg", "JPEG", quality=82, optimize=True)
    prepare.placement_strip(PLACEMENT_PHOTO if PLACEMENT_PHOTO in photos else photos[0]).save(
        args.out / "gallery" / "placement.jpg", "JPEG", quality=82, optimize=True
    )
    print("gallery: prep and placement", flush=True)
    for stem in matting.available() if args.matting else []:
        matting.matting_strip(stem, args.u2net_home).save(
            args.out / "gallery" / f"matting-{stem}.jpg", "JPEG", quality=82
        )
        print(f"gallery: matting {stem}", flush=True)
    licences = args.out / "LICENSES.md"
    previous = licences.read_text() if licences.is_file() else None
    licences.write_text(keep_hand_written(licences_markdown(photos), previous))
    results = plots.load_results(args.results)
    plots.quality_vs_speed(results, args.out / "plots" / "quality-vs-speed.png")
    plots.stage_bars(results, args.out / "plots" / "stages.png")
    if not args.no_screenshot:
        from .screenshot import page_screenshot  # noqa: PLC0415 - needs the local stack and Chromium

        page_screenshot(PAGE_PHOTO, args.out / "page.jpg")
    for path in sorted(p for p in args.out.rglob("*") if p.is_file()):
        print(f"{path.relative_to(args.out.parent)}  {path.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
