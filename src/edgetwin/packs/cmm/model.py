"""Physics of the CMM twin: an Aluminium 6061 part measured in a room whose temperature swings.

Pure code, with the clock (``t``, seconds since the simulation started) and the random
generator injected. The numbers are the reference's (``cmm_simulator.py``, see
``docs/cmm.md``): room temperature ``T(t) = 20 + 5·sin(2πt/60)`` °C, CTE α = 23.6e-6 /°C
(Al 6061), nominal length L0 = 100.0 mm at the reference temperature 20.0 °C, true length
``L0·(1 + α(T − 20))`` (swings ±0.0118 mm) and an observed length with Gaussian sensor noise
σ = 0.001 mm.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

T_REF_C = 20.0
"""Reference temperature of dimensional metrology, °C (ISO 1:2022)."""
T_SWING_C = 5.0
"""Amplitude of the room's temperature swing, °C (reference simulator)."""
T_PERIOD_S = 60.0
"""Period of the swing, s (reference simulator: ``sin(2π·t/60)``)."""
ALPHA_AL6061 = 23.6e-6
"""CTE of Al 6061, 1/°C, 20-100 °C (ASM Aerospace Specification Metals, Al 6061-T6 data
sheet; the reference's ``CTE_ALUMINUM_6061``)."""
L0_MM = 100.0
"""Nominal length of the part at 20 °C, mm."""
SENSOR_SIGMA_MM = 0.001
"""Standard deviation of the CMM's length reading, mm (reference: ``N(0, 0.001)``)."""
INTERVAL_S = 5.0
"""The CMM measures a part every 5 s (reference simulator: ``time.sleep(5)``)."""


@dataclass(frozen=True)
class Measurement:
    """One measurement of the part.

    Attributes:
        t: simulated seconds since the start.
        temperature_c: the room's (and the part's) temperature, °C.
        true_length_mm: the part's real length at that temperature, mm.
        observed_length_mm: what the CMM reads: true length plus noise, mm.
    """

    t: float
    temperature_c: float
    true_length_mm: float
    observed_length_mm: float


def room_temperature(t: float) -> float:
    """The room's temperature in °C at ``t`` seconds: ``20 + 5·sin(2πt/60)``."""
    return T_REF_C + T_SWING_C * math.sin(2 * math.pi * t / T_PERIOD_S)


def true_length(
    temperature_c: float, *, l0_mm: float = L0_MM, alpha: float = ALPHA_AL6061
) -> float:
    """Length in mm of a part of nominal ``l0_mm`` (at 20 °C) at ``temperature_c``:
    ``L0·(1 + α(T − 20))`` (linear thermal expansion)."""
    return l0_mm * (1 + alpha * (temperature_c - T_REF_C))


def measure(
    t: float,
    rng: random.Random,
    *,
    l0_mm: float = L0_MM,
    alpha: float = ALPHA_AL6061,
    sigma_mm: float = SENSOR_SIGMA_MM,
) -> Measurement:
    """Measure the part at simulated time ``t`` (s); the noise comes from ``rng``."""
    temp = room_temperature(t)
    true = true_length(temp, l0_mm=l0_mm, alpha=alpha)
    return Measurement(t, temp, true, true + rng.gauss(0.0, sigma_mm))
