"""studies.sparse_u2net: magnitude pruning over the whole network, and the INT8 bytes it would store."""

from __future__ import annotations

import lzma

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training/requirements.txt (torch) is installed by make test")

from studies.sparse_u2net import convolutions, int8_weights, prune_globally  # noqa: E402
from tests.offline.test_student import WIDE  # noqa: E402
from training.u2net import U2Net  # noqa: E402


def conv_weights(model: U2Net) -> torch.Tensor:
    return torch.cat([m.weight.detach().flatten() for m in convolutions(model)])


def test_zeroes_the_smallest_share_of_all_convolutions_and_restores_the_dense_weights() -> None:
    torch.manual_seed(0)
    model = U2Net(WIDE).eval()
    dense = {name: p.detach().clone() for name, p in model.named_parameters()}
    before = conv_weights(model)

    kept = prune_globally(model, dense, 0.7)
    after = conv_weights(model)
    assert kept == pytest.approx(0.3, abs=0.01)
    assert float((after == 0).float().mean()) == pytest.approx(0.7, abs=0.01)
    survivors = after != 0
    assert torch.equal(after[survivors], before[survivors])  # the kept weights are untouched
    assert before[survivors].abs().min() >= before[~survivors].abs().max()  # and they are the largest

    assert prune_globally(model, dense, 0.0) == 1.0
    assert torch.equal(conv_weights(model), before)


def test_int8_bytes_keep_zeros_and_shrink_under_lzma_as_weights_are_zeroed() -> None:
    torch.manual_seed(0)
    model = U2Net(WIDE).eval()
    dense = {name: p.detach().clone() for name, p in model.named_parameters()}
    stored = np.frombuffer(int8_weights(model), dtype=np.int8)
    assert stored.size == conv_weights(model).numel()
    assert np.abs(stored).max() == 127  # each output channel's largest weight takes the full range

    prune_globally(model, dense, 0.85)
    sparse = int8_weights(model)
    assert float((np.frombuffer(sparse, dtype=np.int8) == 0).mean()) == pytest.approx(0.85, abs=0.001)
    assert len(lzma.compress(sparse)) < 0.5 * len(lzma.compress(stored.tobytes()))
