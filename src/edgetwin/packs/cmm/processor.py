"""The ``cmm_compensation`` processor: compensates each CMM measurement to 20 °C and judges it.

It takes a measurement's ``temperature`` (°C) and ``length`` (mm) readings (one file of the drop
folder: they share line, machine and timestamp), passes them on untouched, and adds, at the same
timestamp::

    compensated_length  mm    L20 = L / (1 + α(T − 20))          (packs/cmm/compensation.py)
    deviation           µm    (L20 − nominal) · 1000
    verdict             enum  0 PASS / 1 FAIL on L20 against ± tolerance
    raw_verdict         enum  the same check on the raw length (what a blind check would say)
    device_status       enum  1 ACTIVE after a good part, 2 FAIL after a bad one

Their ids derive from the raw length's id (uuid5), so a delivery processed again after a crash
gives the same readings, which the buffer recognises. A measurement without its temperature is
passed on without derived readings and counted (``stats()["incomplete"]``).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edgetwin.core.ids import Segment
from edgetwin.core.plugins import PluginContext
from edgetwin.core.point import Point
from edgetwin.packs.cmm.compensation import MATERIALS, VERDICT_CODES, alpha_of, evaluate


class CompensationConfig(BaseModel):
    """``[[processors]] type = "cmm_compensation"``.

    Attributes:
        lines: the lines whose measurements it takes (empty: every line).
        material: a key of the material table (its α), unless ``alpha`` is given.
        alpha: CTE in 1/°C, overriding the material's.
        nominal_mm, tolerance_mm: the part's nominal length at 20 °C and the ± tolerance.
        temperature, length: the input metrics.
    """

    model_config = ConfigDict(extra="forbid")

    lines: list[Segment] = Field(default_factory=list)
    material: str = "al6061"
    alpha: Annotated[float, Field(gt=0, lt=1e-3)] | None = None
    nominal_mm: Annotated[float, Field(gt=0)] = 100.0
    tolerance_mm: Annotated[float, Field(gt=0)] = 0.005
    temperature: Segment = "temperature"
    length: Segment = "length"

    @model_validator(mode="after")
    def _known_material(self) -> CompensationConfig:
        if self.alpha is None and self.material not in MATERIALS:
            raise ValueError(f"unknown material {self.material!r}; known: {', '.join(MATERIALS)}")
        return self


class CompensationProcessor:
    """See the module's docstring."""

    def __init__(self, name: str, config: CompensationConfig) -> None:
        self.name = name
        self.config = config
        self.alpha = config.alpha if config.alpha is not None else alpha_of(config.material)
        self.counts = {"measurements": 0, "failed": 0, "raw_failed": 0, "incomplete": 0}

    @classmethod
    def from_config(
        cls, name: str, config: CompensationConfig, _ctx: PluginContext
    ) -> CompensationProcessor:
        return cls(name, config)

    def wants(self, point: Point) -> bool:
        c = self.config
        return point.metric in (c.temperature, c.length) and (not c.lines or point.line in c.lines)

    def process(self, points: list[Point]) -> list[Point]:
        c = self.config
        groups: dict[tuple[str, str, int], dict[str, Point]] = {}
        for p in points:
            groups.setdefault((p.line, p.machine, p.ts_ms), {})[p.metric] = p
        out = list(points)
        for group in groups.values():
            length, temp = group.get(c.length), group.get(c.temperature)
            if length is None or temp is None:
                self.counts["incomplete"] += 1
                continue
            r = evaluate(
                length.value, temp.value, alpha=self.alpha, nominal_mm=c.nominal_mm,
                tolerance_mm=c.tolerance_mm,
            )  # fmt: skip
            self.counts["measurements"] += 1
            self.counts["failed"] += r.verdict == "FAIL"
            self.counts["raw_failed"] += r.raw_verdict == "FAIL"
            derived = (
                ("compensated_length", r.compensated_mm, "mm"),
                ("deviation", r.deviation_um, "µm"),
                ("verdict", VERDICT_CODES[r.verdict], "enum"),
                ("raw_verdict", VERDICT_CODES[r.raw_verdict], "enum"),
                ("device_status", r.status, "enum"),
            )
            for metric, value, unit in derived:
                out.append(length.model_copy(update={
                    "metric": metric, "value": float(value), "unit": unit,
                    "id": uuid.uuid5(length.id, metric),
                }))  # fmt: skip
        return out

    def state(self) -> dict[str, Any]:
        return dict(self.counts)

    def load(self, state: dict[str, Any]) -> None:
        for key in self.counts:
            self.counts[key] = int(state.get(key, 0))
