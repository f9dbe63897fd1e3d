"""Fresh-interpreter probe: import, load the model, cut out one image; print times and memory as JSON.

Run as `python -m bench.probe CONTENDER IMAGE [U2NET_HOME]` by the speed pass (cold start and peak
RSS). Only this module, the contender's library and its model are loaded before the measurement.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from .contenders import U2NET_HOME, make_contender

_KIB_PER_MIB = 1024


def status_mib(field: str) -> float:
    """A memory line of /proc/self/status (VmRSS, VmHWM) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / _KIB_PER_MIB
    raise RuntimeError(f"{field} not in /proc/self/status")


def probe(key: str, image: Path, u2net_home: Path) -> dict[str, float | int | str]:
    """The cold path of one contender, timed step by step."""
    contender = make_contender(key, u2net_home)
    data = image.read_bytes()
    t0 = time.perf_counter()
    contender.import_library()
    t1 = time.perf_counter()
    rss_import = status_mib("VmRSS")
    contender.load_model()
    t2 = time.perf_counter()
    rss_session = status_mib("VmRSS")
    run = contender.cutout(data)
    t3 = time.perf_counter()
    return {
        "model_id": contender.model_id(),
        "import_s": round(t1 - t0, 4),
        "session_s": round(t2 - t1, 4),
        "first_s": round(t3 - t2, 4),
        "rss_import_mib": round(rss_import, 1),
        "rss_session_mib": round(rss_session, 1),
        "peak_rss_mib": round(status_mib("VmHWM"), 1),
        "png_bytes": len(run.png),
    }


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: python -m bench.probe CONTENDER IMAGE [U2NET_HOME]", file=sys.stderr)
        return 2
    home = Path(argv[2]) if len(argv) == 3 else U2NET_HOME
    print(json.dumps(probe(argv[0], Path(argv[1]), home)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
