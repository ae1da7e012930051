"""Thermal compensation and the verdict: pure functions, the heart of the CMM twin.

A part measured at temperature T is longer (or shorter) than at the 20 °C reference of
dimensional metrology (ISO 1). Its length at 20 °C is::

    L20 = L_obs / (1 + α·(T − 20))

and the verdict is PASS when ``|L20 − nominal| <= tolerance``. The reference never compensated
and failed parts when the room was warmer than 24 °C; here the verdict is on the compensated
length, and the raw (temperature-blind) verdict is computed beside it to show what it costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

T_REF_C: Final = 20.0

MATERIALS: Final[dict[str, tuple[float, str]]] = {
    # name -> (linear CTE in 1/°C near room temperature, source)
    "al6061": (23.6e-6, "ASM Aerospace Specification Metals, Aluminum 6061-T6 data sheet"),
    "steel": (11.7e-6, "MatWeb, AISI 1020 steel, cold rolled (0-100 °C)"),
    "stainless": (17.3e-6, "AK Steel, Type 304/304L product data bulletin (0-100 °C)"),
    "brass": (20.5e-6, "Copper Development Association, C36000 free-cutting brass (20-300 °C)"),
    "titanium": (8.6e-6, "ASM Aerospace Specification Metals, Ti-6Al-4V (Grade 5) data sheet"),
}  # fmt: skip
"""CTE per material. Values are for 20-100 °C unless the source says otherwise."""

Verdict = Literal["PASS", "FAIL"]
VERDICT_CODES: Final[dict[Verdict, int]] = {"PASS": 0, "FAIL": 1}
"""Codes of the ``verdict`` metric (an enum reading)."""

STATUS_IDLE, STATUS_ACTIVE, STATUS_FAIL = 0, 1, 2
STATUS_LABELS: Final = {STATUS_IDLE: "IDLE", STATUS_ACTIVE: "ACTIVE", STATUS_FAIL: "FAIL"}
"""Device status codes (the reference's ``Device_Status``): IDLE no measurement yet or stale,
ACTIVE measuring and the last part passed, FAIL the last part failed."""


def alpha_of(material: str) -> float:
    """CTE of ``material`` (a key of :data:`MATERIALS`), 1/°C.

    Raises:
        KeyError: an unknown material; the message lists the known ones.
    """
    try:
        return MATERIALS[material][0]
    except KeyError:
        raise KeyError(f"unknown material {material!r}; known: {', '.join(MATERIALS)}") from None


def compensate(length_mm: float, temperature_c: float, alpha: float) -> float:
    """Length at 20 °C, mm, of a part measured as ``length_mm`` at ``temperature_c``.

    Raises:
        ValueError: ``1 + α(T − 20)`` is not positive (a nonsensical temperature or α).
    """
    factor = 1.0 + alpha * (temperature_c - T_REF_C)
    if factor <= 0:
        raise ValueError(f"no compensation for T={temperature_c} °C with α={alpha}")
    return length_mm / factor


def judge(length_mm: float, nominal_mm: float, tolerance_mm: float) -> Verdict:
    """PASS when ``|length − nominal| <= tolerance`` (all mm); a hair of float slack
    (1e-12 mm) so that a part exactly on the limit passes."""
    return "PASS" if abs(length_mm - nominal_mm) <= tolerance_mm + 1e-12 else "FAIL"


@dataclass(frozen=True)
class Result:
    """The edge's judgement of one measurement.

    Attributes:
        raw_mm: the length as measured, mm.
        compensated_mm: the length at 20 °C, mm.
        deviation_um: compensated minus nominal, µm.
        verdict: on the compensated length.
        raw_verdict: what a temperature-blind check would have said (on ``raw_mm``).
        status: :data:`STATUS_ACTIVE` or :data:`STATUS_FAIL` (after this part).
    """

    raw_mm: float
    compensated_mm: float
    deviation_um: float
    verdict: Verdict
    raw_verdict: Verdict

    @property
    def status(self) -> int:
        return STATUS_ACTIVE if self.verdict == "PASS" else STATUS_FAIL


def evaluate(
    length_mm: float,
    temperature_c: float,
    *,
    alpha: float,
    nominal_mm: float = 100.0,
    tolerance_mm: float = 0.005,
) -> Result:
    """Compensate one measurement and judge it (see the module's docstring).

    Raises:
        ValueError: see :func:`compensate`.
    """
    l20 = compensate(length_mm, temperature_c, alpha)
    return Result(
        raw_mm=length_mm,
        compensated_mm=l20,
        deviation_um=(l20 - nominal_mm) * 1000.0,
        verdict=judge(l20, nominal_mm, tolerance_mm),
        raw_verdict=judge(length_mm, nominal_mm, tolerance_mm),
    )
