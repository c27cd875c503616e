"""Operator settings of the lighting use case (``CALANQUE_LIGHTING_*`` environment variables, read at start)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from calanque.usecases.lighting.faults import FaultRules


class LightingSettings(BaseSettings):
    """The lighting use case's settings."""

    model_config = SettingsConfigDict(env_prefix="CALANQUE_LIGHTING_", extra="ignore")

    timezone: str = Field(default="Europe/Paris", description="local time of schedules and dimming profiles")
    failure_power_ratio: float = Field(default=0.10, gt=0, lt=1, description="lamp failure below this × nominal")
    command_settle_minutes: float = Field(default=5.0, ge=0, description="delay before a command is checked")
    day_burner_tolerance_minutes: float = Field(default=15.0, ge=0, description="daylight slack of the day burner")
    cycling_max_transitions: int = Field(default=4, gt=0, description="on/off transitions allowed per window")
    cycling_window_minutes: float = Field(default=60.0, gt=0, description="window of the cycling detector")
    comm_loss_intervals: float = Field(default=3.0, gt=0, description="silent reporting intervals = comm loss")
    reporting_interval_minutes: float = Field(
        default=10.0, gt=0, description="a light's reporting interval when too few messages tell it"
    )
    energy_max_gap_minutes: float = Field(
        default=30.0, gt=0, description="power samples further apart count no energy between them"
    )
    max_fault_days: int = Field(default=7, gt=0, description="longest period of a faults request")

    @field_validator("timezone")
    @classmethod
    def _check_tz(cls, value: str) -> str:
        """An IANA time zone name."""
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}': use an IANA name such as Europe/Paris") from None
        return value

    def tz(self) -> ZoneInfo:
        """The local time zone."""
        return ZoneInfo(self.timezone)

    def fault_rules(self, on_offset: timedelta, off_offset: timedelta) -> FaultRules:
        """The fault detectors' thresholds for a group switched with these offsets."""
        return FaultRules(
            failure_power_ratio=self.failure_power_ratio,
            command_settle=timedelta(minutes=self.command_settle_minutes),
            on_offset=on_offset,
            off_offset=off_offset,
            day_burner_tolerance=timedelta(minutes=self.day_burner_tolerance_minutes),
            cycling_max_transitions=self.cycling_max_transitions,
            cycling_window=timedelta(minutes=self.cycling_window_minutes),
            comm_loss_intervals=self.comm_loss_intervals,
        )
