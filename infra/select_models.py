"""Build-time helper: copy the models the image bakes in (manifest + the file it names) into a
folder, refusing a missing file or one whose size or sha256 differs from its manifest. Which models
the image holds lives in the manifests alone (the Dockerfile, `make models` and `make image-size`
read it from here):
  "shipped": true  committed in git (small) and baked in; the default is one of them
  "baked": true    baked in, but too big for git: built by `make models-all` before `sam build`
plus any others named on the command line (the Dockerfile's ENGINE_MODELS build argument).

Usage: python3 select_models.py SOURCE_DIR TARGET_DIR [EXTRA_ID[,EXTRA_ID...]]
Standard library only: it runs in the image's build stage before anything is installed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path


def shipped_models(source: Path) -> list[str]:
    """Ids of the manifests in `source` that say `"shipped": true` (committed in git, baked in)."""
    return _marked(source, "shipped")


def baked_models(source: Path) -> list[str]:
    """Ids of the manifests in `source` that say `"baked": true` (baked in, built before the image)."""
    return _marked(source, "baked")


def _marked(source: Path, key: str) -> list[str]:
    return sorted(path.stem for path in source.glob("*.json") if json.loads(path.read_text()).get(key) is True)


def select(source: Path, target: Path, model_ids: list[str]) -> None:
    unknown = [m for m in model_ids if not (source / f"{m}.json").is_file()]
    if unknown:  # before anything else: a typo is named as such, whatever else is missing
        sys.exit(f"no manifest in {source} for {', '.join(unknown)}: unknown model {unknown[0]!r}")
    target.mkdir(parents=True, exist_ok=True)
    for model_id in model_ids:
        manifest_path = source / f"{model_id}.json"
        manifest = json.loads(manifest_path.read_text())
        model_file = source / manifest["file"]
        if not model_file.is_file():
            sys.exit(f"{model_file} is missing: build it with `make models-all` before `sam build`")
        data = model_file.read_bytes()
        if len(data) != manifest["bytes"] or hashlib.sha256(data).hexdigest() != manifest["sha256"]:
            sys.exit(f"{model_file} does not match {manifest_path} (size or sha256): rebuild it with `make models`")
        shutil.copy2(manifest_path, target / manifest_path.name)
        shutil.copy2(model_file, target / model_file.name)
        print(f"model {model_id}: {model_file.name}, {len(data)} bytes")


def main(argv: list[str]) -> None:
    """SOURCE_DIR TARGET_DIR [EXTRA_ID[,EXTRA_ID...]]: the shipped and baked models and the extra ones."""
    source, target, extra = Path(argv[0]), Path(argv[1]), argv[2] if len(argv) > 2 else ""
    wanted = dict.fromkeys([*shipped_models(source), *baked_models(source), *extra.replace(",", " ").split()])
    select(source, target, list(wanted))


if __name__ == "__main__":
    main(sys.argv[1:])
