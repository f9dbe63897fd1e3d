"""The test tiers, one folder each, marked by their folder so `-m` can pick them:

  tests/unit         pure and fast: no child process, no server; `make unit` is the developer's loop
  tests/integration  the real path: the local S3 (moto's server), the Lambda emulator, the browser
  tests/offline      the offline tools and the long checks: training end to end, quantization,
                     fuzzing, the scanners, the benchmark's fresh interpreters

`make test` runs all three (after lint and types); `make unit`, `make integration` and `make offline`
one each. Fixtures live with the tier that needs them (tests/integration/conftest.py starts moto).
"""

from __future__ import annotations

from pathlib import Path

import pytest

TIERS = ("unit", "integration", "offline")
TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with its tier (the folder under tests/ it lives in)."""
    for item in items:
        tier = item.path.relative_to(TESTS).parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.nodeid} is outside the tiers {', '.join(TIERS)}")
        item.add_marker(getattr(pytest.mark, tier))
