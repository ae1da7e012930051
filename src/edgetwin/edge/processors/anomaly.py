"""Streaming anomaly detection at the edge, as a processor: readings in, an ``anomaly_score``
reading and an alert out. Pure Python, no numpy, O(window) per sample.

Two detectors were compared on labelled injected faults (``docs/anomaly.md``,
``edgetwin.packs.motor.evaluate``); the robust rolling z-score won and is the default:

- ``RobustZ``: median of the last 9 samples against the median and MAD of a longer baseline
  window. The medians ignore the motor's normal isolated vibration spikes (~10% of samples),
  which make a mean/std z-score cry wolf; a sustained shift (a damaged bearing) still stands out.
- ``Ewma``: a fast EWMA against a slow EWMA mean and variance; cheaper, but the spikes inflate
  its variance, so real faults score low.

A detector's state is a small dict (``state()``/``load()``) that the edge keeps in its buffer
database, so a restart does not start from an empty baseline.

As the ``anomaly`` processor (``[[processors]] type = "anomaly"``) it takes the readings of one
metric (``metric``, on the lines listed in ``lines``, or all) and raises the edge's alert
``anomaly.<line>.<machine>``.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from edgetwin.core.ids import Segment
from edgetwin.core.plugins import PluginContext
from edgetwin.core.point import Point

MAD_TO_STD: Final = 1.4826
MIN_BASELINE: Final = 20


class Detector(Protocol):
    threshold: float

    def score(self, value: float) -> float: ...
    def state(self) -> dict[str, Any]: ...
    def load(self, state: dict[str, Any]) -> None: ...


class RobustZ:
    """Median/MAD z-score of a short median against a baseline that anomalies do not update."""

    def __init__(
        self, short: int = 9, baseline: int = 200, floor: float = 0.05, threshold: float = 2.5
    ) -> None:
        self.threshold = threshold
        self.floor = floor
        self._short: deque[float] = deque(maxlen=short)
        self._base: deque[float] = deque(maxlen=baseline)

    def score(self, value: float) -> float:
        self._short.append(value)
        if len(self._base) < MIN_BASELINE:
            self._base.append(value)
            return 0.0
        med = statistics.median(self._base)
        mad = statistics.median(abs(v - med) for v in self._base)
        z = (statistics.median(self._short) - med) / max(MAD_TO_STD * mad, self.floor)
        if z < self.threshold:  # a fault must not become the new normal
            self._base.append(value)
        return z

    def state(self) -> dict[str, Any]:
        return {"kind": "robust_z", "short": list(self._short), "base": list(self._base)}

    def load(self, state: dict[str, Any]) -> None:
        if state.get("kind") == "robust_z":
            self._short.extend(float(v) for v in state.get("short", []))
            self._base.extend(float(v) for v in state.get("base", []))


class Ewma:
    """Fast EWMA against slow EWMA mean and variance (West's incremental form)."""

    def __init__(
        self, fast: float = 0.2, slow: float = 0.02, floor: float = 0.05, threshold: float = 1.5
    ) -> None:
        self.threshold = threshold
        self.fast, self.slow, self.floor = fast, slow, floor
        self.level: float | None = None
        self.mean = 0.0
        self.var = 0.0
        self.n = 0

    def score(self, value: float) -> float:
        self.n += 1
        if self.level is None:
            self.level = self.mean = value
            return 0.0
        self.level += self.fast * (value - self.level)
        z = (self.level - self.mean) / max(math.sqrt(self.var), self.floor)
        if self.n < MIN_BASELINE or z < self.threshold:
            diff = value - self.mean
            self.mean += self.slow * diff
            self.var = (1 - self.slow) * (self.var + self.slow * diff * diff)
        return z if self.n >= MIN_BASELINE else 0.0

    def state(self) -> dict[str, Any]:
        return {
            "kind": "ewma",
            "level": self.level,
            "mean": self.mean,
            "var": self.var,
            "n": self.n,
        }

    def load(self, state: dict[str, Any]) -> None:
        if state.get("kind") == "ewma":
            self.level = state.get("level")
            self.mean, self.var = float(state["mean"]), float(state["var"])
            self.n = int(state["n"])


@dataclass
class AlertState:
    active: bool = False
    above: int = 0
    below: int = 0


class AnomalyProcessor:
    """For each reading of ``metric``, adds an ``anomaly_score`` reading of the same machine and
    raises an alert after ``raise_after`` scores above the threshold in a row (cleared after
    ``clear_after`` below)."""

    def __init__(
        self,
        metric: str,
        make: Callable[[], Detector] = RobustZ,
        *,
        on_alert: Callable[[str, bool, str], None] | None = None,
        raise_after: int = 3,
        clear_after: int = 20,
        name: str = "anomaly",
        lines: frozenset[str] = frozenset(),
    ) -> None:
        self.name = name
        self.lines = lines
        self.metric = metric
        self.make = make
        self.on_alert = on_alert
        self.raise_after, self.clear_after = raise_after, clear_after
        self.detectors: dict[str, Detector] = {}
        self.alerts: dict[str, AlertState] = {}

    @classmethod
    def from_config(cls, name: str, config: AnomalyConfig, ctx: PluginContext) -> AnomalyProcessor:
        def on_alert(key: str, active: bool, message: str) -> None:
            kind = "anomaly." + key.replace("/", ".")
            if active:
                ctx.alerts.raise_(kind, message)
            else:
                ctx.alerts.clear(kind)

        return cls(
            config.metric,
            DETECTORS[config.detector],
            on_alert=on_alert,
            raise_after=config.raise_after,
            clear_after=config.clear_after,
            name=name,
            lines=frozenset(config.lines),
        )

    def wants(self, point: Point) -> bool:
        return point.metric == self.metric and (not self.lines or point.line in self.lines)

    def process(self, points: list[Point]) -> list[Point]:
        out = list(points)
        for p in points:
            if not self.wants(p):
                continue
            key = f"{p.line}/{p.machine}"
            detector = self.detectors.setdefault(key, self.make())
            score = detector.score(p.value)
            out.append(
                Point.make(
                    ts=p.ts,
                    tenant=p.tenant,
                    plant=p.plant,
                    line=p.line,
                    machine=p.machine,
                    metric="anomaly_score",
                    value=round(score, 4),
                    unit="z",
                )
            )
            self._alert(key, score, detector.threshold)
        return out

    def _alert(self, key: str, score: float, threshold: float) -> None:
        st = self.alerts.setdefault(key, AlertState())
        if score > threshold:
            st.above, st.below = st.above + 1, 0
        else:
            st.above, st.below = 0, st.below + 1
        if not st.active and st.above >= self.raise_after:
            st.active = True
            if self.on_alert:
                self.on_alert(key, True, f"{key}: {self.metric} anomaly, score {score:.1f}")
        elif st.active and st.below >= self.clear_after:
            st.active = False
            if self.on_alert:
                self.on_alert(key, False, f"{key}: {self.metric} back to normal")

    def state(self) -> dict[str, Any]:
        return {k: d.state() for k, d in self.detectors.items()}

    def load(self, state: dict[str, Any]) -> None:
        for key, s in state.items():
            detector = self.make()
            detector.load(s)
            self.detectors[key] = detector


DETECTORS: Final[dict[str, Callable[[], Detector]]] = {"robust_z": RobustZ, "ewma": Ewma}


class AnomalyConfig(BaseModel):
    """``[[processors]] type = "anomaly"``.

    Attributes:
        metric: the metric to watch (each machine gets its own detector).
        lines: only readings of these lines (empty: every line).
        detector: ``robust_z`` (default, see ``docs/anomaly.md``) or ``ewma``.
        raise_after / clear_after: scores above / below the threshold in a row.
    """

    model_config = ConfigDict(extra="forbid")

    metric: Segment
    lines: list[Segment] = []
    detector: Literal["robust_z", "ewma"] = "robust_z"
    raise_after: int = 3
    clear_after: int = 20
