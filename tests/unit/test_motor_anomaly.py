"""Edge anomaly detection: detectors, the processor's score and alert, state across a restart,
and the comparison behind docs/anomaly.md."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from edgetwin.core.point import Point
from edgetwin.edge.processors.anomaly import AnomalyProcessor, Ewma, RobustZ
from edgetwin.packs.motor.evaluate import compare


def vib(value: float) -> Point:
    return Point.make(
        ts=datetime.now(UTC), tenant="acme", plant="plant-01", line="line-m",
        machine="stm32-motor-01", metric="vibration", value=value, unit="g",
    )  # fmt: skip


def normal(rng: random.Random) -> float:
    return rng.uniform(0, 0.5) + (1.5 if rng.random() < 0.1 else 0.0)


def test_robust_z_ignores_spikes_and_sees_a_shift() -> None:
    rng = random.Random(1)
    det = RobustZ()
    calm = [det.score(normal(rng)) for _ in range(500)]
    assert sum(z > det.threshold for z in calm[50:]) < 10
    shifted = [det.score(normal(rng) + 1.0) for _ in range(30)]
    assert max(shifted) > det.threshold


def test_processor_scores_and_alerts_and_keeps_state() -> None:
    rng = random.Random(2)
    raised: list[tuple[str, bool]] = []
    proc = AnomalyProcessor(
        "vibration", on_alert=lambda key, active, _msg: raised.append((key, active))
    )
    for _ in range(300):
        out = proc.process([vib(normal(rng))])
    assert [p.metric for p in out] == ["vibration", "anomaly_score"]
    for _ in range(40):
        proc.process([vib(normal(rng) + 1.2)])
    assert raised == [("line-m/stm32-motor-01", True)]
    for _ in range(200):
        proc.process([vib(normal(rng))])
    assert raised[-1] == ("line-m/stm32-motor-01", False)
    # a restart resumes from the saved state (JSON in the buffer's meta table), not from zero
    import orjson

    restored = AnomalyProcessor("vibration")
    restored.load(orjson.loads(orjson.dumps(proc.state())))
    fresh = AnomalyProcessor("vibration")
    shifted = [normal(rng) + 1.2 for _ in range(12)]
    resumed = [restored.process([vib(v)])[1].value for v in shifted]
    original = [proc.process([vib(v)])[1].value for v in shifted]
    assert resumed == original
    assert max(resumed) > 2.5
    assert all(fresh.process([vib(v)])[1].value == 0.0 for v in shifted)  # still learning


def test_ewma_state_round_trip() -> None:
    det = Ewma()
    for i in range(100):
        det.score(0.1 * (i % 5))
    copy = Ewma()
    copy.load(det.state())
    assert copy.score(0.3) == det.score(0.3)


def test_robust_z_wins_on_recall_as_documented() -> None:
    robust, ewma = compare(seed=11)
    assert robust.recall_events > 0.9
    assert robust.precision > 0.9
    assert robust.recall_events > ewma.recall_events
