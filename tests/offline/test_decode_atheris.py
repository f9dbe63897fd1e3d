"""A short coverage-guided session (atheris, fixed seed) of the decode path: libFuzzer stops at the
first input that makes anything but a typed InputError escape, or that outgrows the RSS limit."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from reliability.corpus import corpus

REPO = Path(__file__).resolve().parents[2]


def test_coverage_guided_fuzzing_finds_no_crash_in_the_decode_path(tmp_path: Path) -> None:
    command = shlex.join(
        [
            sys.executable,
            "-m",
            "reliability.fuzz_decode",
            "-runs=30000",
            "-seed=1",
            "-rss_limit_mb=768",
            f"-artifact_prefix={tmp_path}/",
            str(tmp_path / "corpus"),
        ]
    )
    # Through a shell that forks it: libFuzzer reads its RSS from getrusage's ru_maxrss, which Linux
    # carries over from the parent when a process is spawned straight from pytest (measured: a child
    # of a 900 MB parent starts at 913 MB), so the limit would measure pytest, not the fuzzer.
    run = subprocess.run(
        ["/bin/sh", "-c", f"{command}; exit $?"], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[:3000] + "\n...\n" + log[-3000:]
    assert "Done 30000 runs" in log
    assert not list(tmp_path.glob("crash-*")) and not list(tmp_path.glob("oom-*"))
    grown = len(list((tmp_path / "corpus").iterdir()))
    assert grown > len(corpus()), "the fuzzer found new coverage beyond its seeds"
