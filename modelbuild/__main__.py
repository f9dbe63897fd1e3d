"""Command line: `python -m modelbuild {install [--all] | fetch NAME... | quantize NAME | latency}`."""

from __future__ import annotations

import argparse
import sys

from engine.manifest import load_manifest
from infra.select_models import shipped_models

from .errors import BuildError
from .paths import ENGINE_MODELS, PHOTOS, SOURCE_MODELS
from .recipes import RECIPES
from .sources import SOURCES, ensure_source


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modelbuild", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    install = commands.add_parser("install", help="fetch u2netp and install the fp32 engine model (fast when cached)")
    install.add_argument("--all", action="store_true", help="also fetch u2net and build u2net-int8 if it is missing")
    fetch = commands.add_parser("fetch", help=f"fetch and verify source weights into {SOURCE_MODELS}")
    fetch.add_argument("names", nargs="+", choices=sorted(SOURCES))
    quantize = commands.add_parser("quantize", help="build, verify and install an INT8 engine model")
    quantize.add_argument("name", choices=sorted(RECIPES))
    commands.add_parser(
        "latency", help="time every installed engine model side by side (2 threads) into its manifest's speed"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            run_install(args.all)
        elif args.command == "fetch":
            for name in args.names:
                print(ensure_source(name))
        elif args.command == "latency":
            run_latency()
        else:
            from .build import build_quantized  # noqa: PLC0415 (heavy imports only when quantizing)

            build_quantized(args.name)
    except BuildError as exc:
        print(f"modelbuild: {exc}", file=sys.stderr)
        return 1
    return 0


def run_latency() -> None:
    from .evaluate import time_side_by_side  # noqa: PLC0415 (onnxruntime only when timing)
    from .manifests import record_speed  # noqa: PLC0415

    times = time_side_by_side(ENGINE_MODELS, min(PHOTOS.glob("*.jpg")))  # any photo: the time is the graph's
    record_speed(ENGINE_MODELS, times)
    for model_id, ms in times.items():
        print(f"{model_id:24s} {ms:7.1f} ms")


def run_install(everything: bool) -> None:
    from .install import install_float, is_installed  # noqa: PLC0415 (onnx only when installing)

    install_float("u2netp")
    for model_id in shipped_models(ENGINE_MODELS):  # committed in git: checked, never rebuilt here
        if not is_installed(model_id):
            command = load_manifest(model_id, ENGINE_MODELS).provenance.get("command", "its recipe")
            raise BuildError(
                f"engine/models/{model_id}.onnx does not match its manifest: restore it from git "
                f"or rebuild it with `{command}`"
            )
    if everything:
        ensure_source("u2net")
        if not is_installed("u2net-int8"):
            from .build import build_quantized  # noqa: PLC0415 (heavy imports only when quantizing)

            build_quantized("u2net")


if __name__ == "__main__":
    sys.exit(main())
