"""The systems under test behind one small interface: our engine and rembg 2.0.86, and (for
reference) the teacher our student is distilled from.

Each contender goes through the same three steps, in-process or in a fresh interpreter:
`import_library()`, `load_model()`, then `cutout(jpeg)` / `mask(image)` as often as needed.
Libraries (numpy and Pillow included) are imported inside methods: the cold-start probe imports
this module first, so it must cost nothing, and the parts of the benchmark that do not run rembg
never need it installed.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

U2NET_HOME = (
    Path(__file__).resolve().parent.parent / ".cache" / "models"
)  # where `python -m modelbuild install` puts rembg's source weights
REMBG_MD5 = {  # the md5 rembg 2.0.86 pins for each model it downloads
    "u2netp": "8e83ca70e441ab06c318d82300c84806",
    "u2net": "60024c5c889badc19c04ad937298a77b",
}
REMBG_MODELS = tuple(REMBG_MD5)
ALPHA_MATTING = "+alpha_matting"  # key suffix: rembg's `alpha_matting=True` (pymatting closed-form, its defaults)
BASELINE = "rembg:u2netp"  # every ratio is taken against this contender
MATTING_KEYS = (  # the matting part's default
    "engine",
    "engine+soft_edges",
    "engine+refine=false",
    "engine:modnet-int8",  # the portrait matting model (people): MODNet in INT8 through the engine
    "rembg:u2netp",
    "rembg:u2net",
    "rembg:u2net+alpha_matting",
    "teacher:isnet",  # references, skipped where `python -m training fetch` has not run
    "teacher:isnet+soft_edges",
    "teacher:modnet",  # MODNet, a portrait matting model (`python -m training fetch --teacher modnet`)
    "teacher:modnet+soft_edges",
)
# teacher:<name> contenders: names in `modelbuild.teachers.TEACHERS`, spelt out (importing it costs onnxruntime)
REFERENCE_TEACHERS = ("isnet", "modnet")
TEACHER_EDGES = {"": "raw", "+refine": "crisp", "+soft_edges": "soft"}  # key suffix -> TeacherContender.edges
REFERENCE_PREFIX = "teacher:"  # reference networks, not products: they show how far a better map goes


def is_reference(key: str) -> bool:
    """Whether a contender key names a reference network (`TeacherContender`) rather than a product."""
    return key.startswith(REFERENCE_PREFIX)


DEFAULT_KEYS = (
    "engine",
    "engine+crisp_edges",
    "engine:u2netp-int8",
    "engine:u2netp",
    "engine:u2net-int8",
    "engine:modnet-int8",
    "rembg:u2netp",
    "rembg:u2net",
)


@dataclass(frozen=True)
class CutoutRun:
    """One end-to-end cut-out: the PNG and the stage times the system reports itself (ms)."""

    png: bytes
    stages_ms: dict[str, float] = field(default_factory=dict)


class Contender(Protocol):
    key: str

    def missing(self) -> str | None:
        """Why this contender cannot run here, or None when it can."""

    def import_library(self) -> None: ...

    def load_model(self) -> None: ...

    def model_id(self) -> str: ...

    def cutout(self, data: bytes) -> CutoutRun: ...

    def mask(self, data: bytes) -> np.ndarray: ...

    def predict_seconds(self, data: bytes) -> float | None:
        """Time of the model step alone (with its pre/post resizing), when it can be called apart."""


def decode_gray(png: bytes) -> np.ndarray:
    """An encoded mask image -> 8-bit gray array."""
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("L"))


class EngineContender:
    """Our engine through its public API; `model=None` means the engine's default model, `options`
    are engine options as text (`{"soft_edges": "true"}`), shown in the key as `+name=value`."""

    def __init__(self, model: str | None = None, options: dict[str, str] | None = None) -> None:
        self.model = model
        self.options = options or {}
        suffix = "".join(f"+{name}" if value == "true" else f"+{name}={value}" for name, value in self.options.items())
        self.key = (f"engine:{model}" if model else "engine") + suffix
        self._engine: Any = None

    def _options(self, **fields: Any) -> Any:
        """engine.Options: this contender's model and options, and `fields` on top."""
        return replace(self._engine.Options.from_strings(self.options), model=self.model, **fields)

    def missing(self) -> str | None:
        from engine import ModelError, settings
        from engine.manifest import load_manifest

        config = settings()
        try:
            manifest = load_manifest(self.model or config.model, config.model_dir)
        except ModelError as exc:
            return str(exc)
        return None if manifest.path.is_file() else f"model file {manifest.path} not installed"

    def import_library(self) -> None:
        import engine

        self._engine = engine

    def model_id(self) -> str:
        return self.model or self._engine.settings().model

    def load_model(self) -> None:
        from engine.model import get_model

        config = self._engine.settings()
        get_model(self.model_id(), config.model_dir, config.threads)

    def cutout(self, data: bytes) -> CutoutRun:
        result = self._engine.remove_background(data, self._options())
        return CutoutRun(result.data, result.timings.as_dict())

    def mask(self, data: bytes) -> np.ndarray:
        options = self._options(output=self._engine.OutputMode.MASK)
        return decode_gray(self._engine.remove_background(data, options).data)

    def predict_seconds(self, data: bytes) -> float | None:
        return None  # the engine reports its model time as the `infer_ms` stage


class RembgContender:
    """rembg with its defaults: `remove(data, session=new_session(name))`; with `alpha_matting`,
    `remove(..., alpha_matting=True)` and its default thresholds and erosion."""

    def __init__(self, name: str, home: Path = U2NET_HOME, alpha_matting: bool = False) -> None:
        self.name = name
        self.home = home
        self.alpha_matting = alpha_matting
        self.key = f"rembg:{name}{ALPHA_MATTING if alpha_matting else ''}"
        self._rembg: Any = None
        self._session: Any = None

    def missing(self) -> str | None:
        model_file = self.home / f"{self.name}.onnx"
        if not model_file.is_file():
            return f"{model_file} not found (run `make models` or pass --u2net-home)"
        return None

    def import_library(self) -> None:
        os.environ["U2NET_HOME"] = str(self.home)
        import rembg

        self._rembg = rembg

    def model_id(self) -> str:
        return self.name

    def load_model(self) -> None:
        self._session = self._rembg.new_session(self.name)

    def cutout(self, data: bytes) -> CutoutRun:
        return CutoutRun(self._rembg.remove(data, session=self._session, alpha_matting=self.alpha_matting))

    def mask(self, data: bytes) -> np.ndarray:
        import numpy as np
        from PIL import Image

        if self.alpha_matting:  # rembg skips alpha matting when asked for the mask alone
            with Image.open(io.BytesIO(self.cutout(data).png)) as cutout:
                return np.asarray(cutout.convert("RGBA").getchannel("A"))
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(self._rembg.remove(image, session=self._session, only_mask=True).convert("L"))

    def predict_seconds(self, data: bytes) -> float | None:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            image.load()
            start = time.perf_counter()
            self._session.predict(image)
            return time.perf_counter() - start


class TeacherContender:
    """A reference network of `modelbuild.teachers.TEACHERS`, not a product: the distillation teacher
    (ISNet, installed by `python -m training fetch`) or MODNet, a portrait matting model (`--teacher
    modnet`). Its map as the alpha (`edges` "raw"), or its map through the engine's refinement ("crisp",
    the default edges, or "soft", `soft_edges`); colours unmixed with that alpha, as the engine does.
    It shows how far a better map could take the cut-out, at that network's cost."""

    def __init__(self, name: str, edges: str = "raw", teacher: Any = None) -> None:
        self.name = name
        self.edges = edges
        suffix = next(s for s, e in TEACHER_EDGES.items() if e == edges)
        self.key = f"{REFERENCE_PREFIX}{name}{suffix}"
        self._teacher = teacher
        self._labeller: Any = None

    def teacher(self) -> Any:
        """The `modelbuild.teachers.Teacher` (resolved by name on first use: loaded only when asked)."""
        if self._teacher is None:
            from modelbuild.teachers import TEACHERS

            self._teacher = TEACHERS[self.name]
        return self._teacher

    def missing(self) -> str | None:
        absent = self.teacher().absent()
        fetch = f"python -m training fetch --teacher {self.name}"
        return f"{', '.join(map(str, absent))} not found (run `{fetch}`)" if absent else None

    def model_bytes(self) -> int:
        return sum(m.path.stat().st_size for m in self.teacher().members)

    def import_library(self) -> None:
        import modelbuild.teachers  # noqa: F401 (the import is what the cold-start figure would time)

    def model_id(self) -> str:
        return self.name

    def load_model(self) -> None:
        from modelbuild.teachers import Labeller

        self._labeller = Labeller(self.teacher())

    def _alpha(self, data: bytes) -> tuple[np.ndarray, np.ndarray]:
        """(the photo as BGR, the 8-bit alpha at its size)."""
        import cv2
        import numpy as np

        from engine.refine import refine_alpha
        from modelbuild.teachers import combine

        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        maps = self._labeller.maps(bgr)
        if self.edges == "raw":
            return bgr, combine(maps, bgr.shape[:2])
        return bgr, refine_alpha(np.mean(maps, axis=0), bgr, soft=self.edges == "soft")

    def cutout(self, data: bytes) -> CutoutRun:
        import cv2
        import numpy as np

        from engine.foreground import decontaminate

        bgr, alpha = self._alpha(data)
        return CutoutRun(cv2.imencode(".png", np.dstack([decontaminate(bgr, alpha), alpha]))[1].tobytes())

    def mask(self, data: bytes) -> np.ndarray:
        return self._alpha(data)[1]

    def predict_seconds(self, data: bytes) -> float | None:
        return None


def make_contender(key: str, u2net_home: Path = U2NET_HOME) -> Contender:
    """`engine[:<model id>][+option[=value]...]` (engine options, e.g. `engine+soft_edges` or
    `engine+refine=false`), `rembg:<u2netp|u2net>[+alpha_matting]` or `teacher:<isnet|modnet>[+refine|+soft_edges]`
    -> a contender (nothing loaded yet)."""
    kind, _, model = key.partition(":")
    if kind == "teacher":
        name, plus, suffix = model.partition("+")
        if name in REFERENCE_TEACHERS and plus + suffix in TEACHER_EDGES:
            return TeacherContender(name, TEACHER_EDGES[plus + suffix])
    if kind.split("+")[0] == "engine":
        base, *options = key.split("+")
        named = dict(option.partition("=")[::2] for option in options)
        return EngineContender(base.partition(":")[2] or None, {k: v or "true" for k, v in named.items()})
    name = model.removesuffix(ALPHA_MATTING)
    if kind == "rembg" and name in REMBG_MODELS:
        return RembgContender(name, u2net_home, alpha_matting=model != name)
    raise ValueError(
        f"unknown contender {key!r}: use engine[:<model id>][+option=value] or "
        f"rembg:{'|'.join(REMBG_MODELS)}[{ALPHA_MATTING}] or "
        f"teacher:{'|'.join(REFERENCE_TEACHERS)}[+refine|+soft_edges]"
    )
