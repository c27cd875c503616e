"""Water-quality checks of a WaterQualityObserved sample against acceptable ranges.

Parameters use the Smart Data Models ``WaterQualityObserved`` attribute names and these units:
``temperature`` (°C), ``pH``, ``conductivity`` (µS/cm), ``turbidity`` (NTU) and ``O2``
(dissolved oxygen, mg/L). Callers holding conductivity in S/m multiply by 10 000 first.

Default ranges are the *good / moderate* class boundaries for French rivers:

* temperature, pH, dissolved O2: arrêté du 25 janvier 2010 modifié (arrêté du 27 juillet
  2018), annexe 3, physico-chemical elements supporting the biology of rivers: good state
  needs O2 ≥ 6 mg/L, 6.0 ≤ pH ≤ 9.0 and temperature ≤ 25.5 °C in cyprinid waters (21.5 °C in
  salmonid waters — use :data:`SALMONID_TEMPERATURE` for those).
* conductivity and turbidity are not graded by that arrêté; their defaults come from the
  SEQ-Eau v2 grids (Agences de l'eau / MEDD, 2003), good / moderate boundaries: conductivity
  120–3000 µS/cm ("minéralisation"), turbidity ≤ 35 NTU ("particules en suspension").

Override any range by passing ``{**DEFAULT_RANGES, "temperature": SALMONID_TEMPERATURE}``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

_ARRETE_2010 = "arrêté du 25 janvier 2010 modifié, annexe 3 (good/moderate boundary)"
_SEQ_EAU = "SEQ-Eau v2 (2003) grid, good/moderate boundary"


@dataclass(frozen=True)
class Range:
    """Acceptable range of one parameter; None bounds are open."""

    minimum: float | None
    maximum: float | None
    unit: str
    label: str
    source: str

    def __post_init__(self) -> None:
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"range of {self.label}: minimum {self.minimum} is above maximum {self.maximum}")


@dataclass(frozen=True)
class Violation:
    """A parameter outside its acceptable range."""

    parameter: str
    value: float
    bound: Literal["minimum", "maximum"]
    limit: float
    unit: str
    message: str


DEFAULT_RANGES: Mapping[str, Range] = {
    "temperature": Range(None, 25.5, "°C", "water temperature", _ARRETE_2010 + ", cyprinid waters"),
    "pH": Range(6.0, 9.0, "", "pH", _ARRETE_2010),
    "O2": Range(6.0, None, "mg/L", "dissolved oxygen", _ARRETE_2010),
    "conductivity": Range(120.0, 3000.0, "µS/cm", "conductivity", _SEQ_EAU + " (minéralisation)"),
    "turbidity": Range(None, 35.0, "NTU", "turbidity", _SEQ_EAU + " (particules en suspension)"),
}

SALMONID_TEMPERATURE = Range(None, 21.5, "°C", "water temperature", _ARRETE_2010 + ", salmonid waters")


def _fmt(value: float, unit: str) -> str:
    """Format a value with its unit."""
    return f"{value:g} {unit}".rstrip()


def check_quality(sample: Mapping[str, Any], ranges: Mapping[str, Range] = DEFAULT_RANGES) -> list[Violation]:
    """Violations of `ranges` by a sample {parameter: value}; absent or None parameters are skipped."""
    violations = []
    for parameter, rng in ranges.items():
        raw = sample.get(parameter)
        if raw is None:
            continue
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            raise ValueError(f"{rng.label} ('{parameter}') must be a finite number, got {raw!r}")
        value = float(raw)
        if rng.minimum is not None and value < rng.minimum:
            bound, limit, word = "minimum", rng.minimum, "below"
        elif rng.maximum is not None and value > rng.maximum:
            bound, limit, word = "maximum", rng.maximum, "above"
        else:
            continue
        message = (f"{rng.label} {_fmt(value, rng.unit)} is {word} the {bound} {_fmt(limit, rng.unit)} "
                   f"({rng.source})")
        violations.append(Violation(parameter, value, bound, limit, rng.unit, message))
    return violations
