"""studies.modnet_matte: MODNet's cut-out is taken only where its subject agrees with the default's."""

from __future__ import annotations

import numpy as np

from studies.modnet_matte import AGREEMENT, DEFAULT, GATED, gate_name, with_gates


def test_a_gate_takes_modnet_only_where_its_subject_agrees_enough() -> None:
    cutouts = {name: np.full((2, 2, 4), i, np.uint8) for i, name in enumerate((DEFAULT, *GATED))}
    gated = with_gates(cutouts, agreement=0.93)
    assert len(gated) == len(cutouts) + len(GATED) * len(AGREEMENT)
    for base in GATED:
        assert gated[gate_name(base, 0.90)] is cutouts[base]  # 0.93 >= 0.90: MODNet's
        assert gated[gate_name(base, 0.95)] is cutouts[DEFAULT]  # short of 0.95: the default's
        assert gated[gate_name(base, 0.98)] is cutouts[DEFAULT]
    assert all(gated[name] is cutouts[name] for name in cutouts)
