"""The warm pass's order: a contender that always runs right after another pays for that one's
large frees (page faults when it allocates again) in every round; the order must spread that."""

from __future__ import annotations

from bench.contenders import CutoutRun
from bench.speed import round_order, warm_pass


class Clock:
    """A fake time source: each cut-out advances it by its contender's cost."""

    def __init__(self) -> None:
        self.now = 0.0
        self.last = ""


class FakeContender:
    """Takes 1 s, or 2 s when it runs right after `penalised_after` (as the first engine row did
    after rembg's frees: 12 MP decode 77 ms against 43 for the same decoder in the next row)."""

    def __init__(self, key: str, clock: Clock, penalised_after: str = "") -> None:
        self.key, self.clock, self.penalised_after = key, clock, penalised_after

    def cutout(self, data: bytes) -> CutoutRun:
        self.clock.now += 2.0 if self.clock.last == self.penalised_after else 1.0
        self.clock.last = self.key
        return CutoutRun(b"", {})

    def predict_seconds(self, data: bytes) -> float | None:
        return None


def test_no_contender_always_follows_the_same_one(monkeypatch) -> None:
    clock = Clock()
    monkeypatch.setattr("bench.speed.time.perf_counter", lambda: clock.now)
    keys = ["engine", "engine:u2netp-int8", "rembg:u2netp", "rembg:u2net"]
    contenders = [FakeContender(k, clock, penalised_after="rembg:u2net" if k == "engine" else "") for k in keys]
    warm, _ = warm_pass(contenders, {"2MP": b"jpeg"}, repeats=5)  # type: ignore[arg-type]
    assert {key: row["median_s"] for key, row in warm["2MP"].items()} == dict.fromkeys(keys, 1.0)


def test_each_round_is_every_contender_once_and_predecessors_vary() -> None:
    """With six or more contenders (the default run has seven), after the warm-up in the given
    order, no contender has the same predecessor in more than two of five rounds."""
    for count in (6, 7, 8):
        rounds = [round_order(count, r) for r in range(5)]
        assert all(sorted(order) == list(range(count)) for order in rounds)
        calls = list(range(count)) + [i for order in rounds for i in order]
        for contender in range(count):
            before = [calls[j - 1] for j in range(count, len(calls)) if calls[j] == contender]
            assert len(before) == 5 and max(before.count(other) for other in set(before)) <= 2
