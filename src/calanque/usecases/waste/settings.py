"""Operator settings of the waste use case: collection calendar, depot and incident thresholds.

Set them with ``CALANQUE_WASTE_*`` environment variables, read when the application starts, e.g.
``CALANQUE_WASTE_COLLECTION_DAYS='{"glass": ["monday"], "paper": ["tuesday", "friday"]}'`` and
``CALANQUE_WASTE_DEPOT=5.4012,43.3155`` (longitude, latitude).
"""

from __future__ import annotations

from datetime import date, timedelta

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# Collection days per waste kind (the kinds of docs/data-conventions.md): glass bottle banks
# weekly, paper weekly, mixed packaging twice a week.
DEFAULT_COLLECTION_DAYS: dict[str, list[str]] = {
    "glass": ["monday"],
    "paper": ["wednesday"],
    "packaging": ["tuesday", "friday"],
}


def parse_lon_lat(text: str, what: str) -> tuple[float, float]:
    """Parse "lon,lat" in WGS84 degrees; ValueError naming ``what`` when malformed or out of range."""
    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        lon, lat = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"{what} must be 'longitude,latitude' in degrees (e.g. 5.3698,43.2965), got '{text[:60]}'") from None
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise ValueError(f"{what} ({lon}, {lat}) is outside longitude -180..180 / latitude -90..90")
    return lon, lat


class WasteSettings(BaseSettings):
    """The waste use case's settings (``CALANQUE_WASTE_*`` environment variables)."""

    model_config = SettingsConfigDict(env_prefix="CALANQUE_WASTE_", extra="ignore")

    collection_days: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_COLLECTION_DAYS.items()},
        description="collection weekdays per waste kind, e.g. {\"glass\": [\"monday\"]}",
    )
    depot: str = Field(default="5.3698,43.2965", description="depot of the collection rounds, 'longitude,latitude'")
    collection_threshold: float = Field(default=0.8, gt=0, le=1, description="fill ratio that calls for a collection")
    overflow_hours: float = Field(default=12.0, gt=0, description="full (fill ≥ 0.98) for longer: an overflow")
    high_fill: float = Field(default=0.9, gt=0, le=1, description="fill ratio of a prolonged high fill")
    high_fill_hours: float = Field(default=24.0, gt=0, description="high fill for longer: an incident")
    stuck_hours: float = Field(default=24.0, gt=0, description="the same reading for longer: a stuck sensor")
    jump_rise: float = Field(default=0.5, gt=0, le=1, description="fill rise within an hour that is an artefact")
    plan_history_band: float = Field(
        default=0.1, ge=0, le=1,
        description="a plan reads a container's history only when its fill predicted at the next collection from "
        "its mean rate since the last emptying is within this of its threshold",
    )
    forecast_lookback_days: int = Field(
        default=60, gt=0, description="history read for a forecast when the last emptying is unknown"
    )
    fleet_incident_days: int = Field(default=31, gt=0, description="longest period of a fleet-wide incident query")

    @field_validator("collection_days")
    @classmethod
    def _check_days(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        """Weekday names in lower case, each kind with at least one day."""
        checked: dict[str, list[str]] = {}
        for kind, days in value.items():
            names = sorted({d.strip().lower() for d in days}, key=lambda d: WEEKDAYS.index(d) if d in WEEKDAYS else -1)
            bad = [d for d in names if d not in WEEKDAYS]
            if bad:
                raise ValueError(f"collection_days['{kind}']: {bad} are not weekdays; use {', '.join(WEEKDAYS)}")
            if not names:
                raise ValueError(f"collection_days['{kind}'] names no day; give at least one weekday")
            checked[kind] = names
        if not checked:
            raise ValueError("collection_days names no waste kind")
        return checked

    @field_validator("depot")
    @classmethod
    def _check_depot(cls, value: str) -> str:
        """The depot must parse as longitude,latitude."""
        parse_lon_lat(value, "CALANQUE_WASTE_DEPOT")
        return value

    def depot_lon_lat(self) -> tuple[float, float]:
        """The default depot as (longitude, latitude)."""
        return parse_lon_lat(self.depot, "CALANQUE_WASTE_DEPOT")

    def next_collection(self, kind: str, day: date) -> date:
        """The first collection day of ``kind`` strictly after ``day`` (KeyError for a kind without a calendar)."""
        weekdays = {WEEKDAYS.index(d) for d in self.collection_days[kind]}
        following = day + timedelta(days=1)
        while following.weekday() not in weekdays:
            following += timedelta(days=1)
        return following
