"""The device record of the registry: configuration (validated) plus link metadata kept up to date.

JSON field names are camelCase (``deviceModel``, ``entityId``…); Python attributes are snake_case.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from calanque.field.codecs import CodecError, get_codec, list_codecs

DeviceStatus = Literal["active", "inactive", "maintenance", "decommissioned"]
Network = Literal["chirpstack", "tts", "mqtt", "http"]
LORAWAN_NETWORKS = ("chirpstack", "tts")
MAX_EXPECTED_PERIOD_S = 30 * 86_400  # the longest reporting period accepted: 30 days

_DEVEUI_SEPARATORS = re.compile(r"[\s:\-]")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_OTHER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}")
# INSEE commune codes: 2-digit département (01-19, 21-95, 2A/2B for Corsica) + 3 digits,
# or overseas 97x / 98x + 2 digits.
_INSEE = re.compile(r"(?:0[1-9]|1\d|2[1-9]|[3-8]\d|9[0-5])\d{3}|2[AB]\d{3}|9[78]\d{3}")
_ATTRIBUTE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# UN/CEFACT Recommendation 20 common codes: 2 or 3 upper-case letters or digits (CEL, P1, 2N, A97…).
_UNIT_CODE = re.compile(r"[A-Z0-9]{2,3}")
_TTS_APP_ID = re.compile(r"[a-z0-9](?:[a-z0-9\-]{0,34}[a-z0-9])?")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class _Camel(BaseModel):
    """Base: camelCase JSON names, snake_case attributes, unknown fields rejected."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


def normalise_device_id(value: str, network: str | None = None) -> str:
    """Normalise a device id: a DevEUI becomes 16 lower-case hex chars; LoRaWAN networks require one."""
    text = value.strip()
    compact = _DEVEUI_SEPARATORS.sub("", text).lower()
    if _HEX16.fullmatch(compact):
        return compact
    if network in LORAWAN_NETWORKS:
        raise ValueError(
            f"bad DevEUI '{text[:40]}': a {network} device id must be 16 hexadecimal characters "
            "(e.g. 70B3D57ED005A1B2, separators ':' or '-' allowed)"
        )
    if not _OTHER_ID.fullmatch(text):
        raise ValueError(
            f"bad device id '{text[:40]}': use a 16-hex DevEUI or 1 to 128 letters, digits, '_', '.', ':' or '-'"
        )
    return text


def check_insee(value: str) -> str:
    """Validate an INSEE commune code (5 chars: 13055 Marseille, 2A004 Ajaccio); return it upper-cased."""
    code = value.strip().upper()
    if not _INSEE.fullmatch(code):
        raise ValueError(
            f"bad INSEE commune code '{value[:20]}': expected 5 characters such as 13055 or 2A004"
        )
    return code


class MeasurementMapping(_Camel):
    """How one decoded measurement feeds one NGSI-LD attribute."""

    attribute: str = Field(description="Smart Data Models attribute name, e.g. temperature")
    unit_code: str | None = Field(default=None, description="UN/CEFACT unit code, e.g. CEL, P1, 2N; "
                                  "omitted for non-numeric measurements such as powerState")
    scale: float | None = Field(default=None, description="Multiplier applied to the decoded value")
    dataset_id: str | None = Field(default=None, description="NGSI-LD datasetId (a URI)")

    @field_validator("attribute")
    @classmethod
    def _attribute(cls, v: str) -> str:
        if not _ATTRIBUTE.fullmatch(v):
            raise ValueError(f"bad attribute name '{v[:60]}': expected an identifier such as 'temperature'")
        return v

    @field_validator("unit_code")
    @classmethod
    def _unit(cls, v: str | None) -> str | None:
        if v is not None and not _UNIT_CODE.fullmatch(v):
            raise ValueError(f"bad unitCode '{v[:20]}': expected a UN/CEFACT common code such as CEL or P1")
        return v

    @field_validator("scale")
    @classmethod
    def _scale(cls, v: float | None) -> float | None:
        if v is not None and (not math.isfinite(v) or v == 0):
            raise ValueError("scale must be a finite, non-zero number")
        return v

    @field_validator("dataset_id")
    @classmethod
    def _dataset(cls, v: str | None) -> str | None:
        if v is not None and ":" not in v:
            raise ValueError(f"datasetId '{v[:60]}' must be a URI, e.g. urn:ngsi-ld:Dataset:probe1")
        return v


class Location(_Camel):
    """A WGS84 position."""

    lon: float = Field(ge=-180, le=180, description="Longitude in degrees")
    lat: float = Field(ge=-90, le=90, description="Latitude in degrees")


class DeviceConfig(_Camel):
    """The provisioned configuration of a device (what a user writes)."""

    id: str = Field(description="DevEUI (16 hex chars, stored lower-case) or another id for non-LoRaWAN devices")
    name: str = Field(min_length=1, max_length=200)
    device_model: str = Field(min_length=1, max_length=120, description="Vendor model, e.g. Milesight WS302")
    codec: str = Field(description="Payload codec name (see calanque.field.codecs.list_codecs)")
    codec_script: str | None = Field(default=None, description="TS013 JavaScript source, for the 'js' codec only")
    entity_id: str = Field(description="Id (URI) of the NGSI-LD entity the device feeds")
    entity_type: str = Field(min_length=1, max_length=200, description="Type of that entity")
    mapping: dict[str, MeasurementMapping] = Field(default_factory=dict,
                                                   description="Measurement key → attribute mapping")
    location: Location | None = None
    commune: str | None = Field(default=None, description="INSEE commune code (13055, 2A004…)")
    site: str | None = Field(default=None, max_length=200)
    installed_on: date | None = Field(default=None, description="Installation date")
    expected_period: int | None = Field(default=None, ge=1, le=MAX_EXPECTED_PERIOD_S,
                                        description="Seconds between two uplinks in normal operation; a device "
                                        "silent for several periods is listed as silent")
    status: DeviceStatus = "active"
    network: Network
    chirpstack_application_id: str | None = Field(default=None, description="ChirpStack application UUID")
    tts_application_id: str | None = Field(default=None, description="The Things Stack application id")

    @field_validator("codec")
    @classmethod
    def _codec(cls, v: str) -> str:
        known = list_codecs()
        if v not in known:
            raise ValueError(f"unknown codec '{v[:60]}': expected one of {', '.join(known)}")
        return v

    @field_validator("entity_id")
    @classmethod
    def _entity_id(cls, v: str) -> str:
        if ":" not in v or any(c.isspace() for c in v):
            raise ValueError(f"entityId '{v[:80]}' must be a URI without spaces, e.g. urn:ngsi-ld:Device:abc")
        return v

    @field_validator("commune")
    @classmethod
    def _commune(cls, v: str | None) -> str | None:
        return None if v is None else check_insee(v)

    @field_validator("chirpstack_application_id")
    @classmethod
    def _chirpstack(cls, v: str | None) -> str | None:
        if v is not None and not _UUID.fullmatch(v):
            raise ValueError(f"bad ChirpStack applicationId '{v[:60]}': expected a UUID")
        return None if v is None else v.lower()

    @field_validator("tts_application_id")
    @classmethod
    def _tts(cls, v: str | None) -> str | None:
        if v is not None and not _TTS_APP_ID.fullmatch(v):
            raise ValueError(
                f"bad TTS application id '{v[:60]}': expected 1 to 36 lower-case letters, digits or '-'"
            )
        return v

    @model_validator(mode="after")
    def _consistency(self) -> DeviceConfig:
        self.id = normalise_device_id(self.id, self.network)
        if self.codec == "js":
            if not self.codec_script:
                raise ValueError("codec 'js' needs codecScript: the TS013 JavaScript source of the decoder")
            try:
                get_codec("js", script=self.codec_script)
            except CodecError as err:
                raise ValueError(f"codecScript does not load: {err}") from err
        elif self.codec_script is not None:
            raise ValueError(f"codecScript is only allowed with codec 'js', not '{self.codec}'")
        return self


class DevicePatch(_Camel):
    """A partial update of a device's configuration (absent fields are unchanged)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    device_model: str | None = Field(default=None, min_length=1, max_length=120)
    codec: str | None = None
    codec_script: str | None = None
    entity_id: str | None = None
    entity_type: str | None = Field(default=None, min_length=1, max_length=200)
    mapping: dict[str, MeasurementMapping] | None = None
    location: Location | None = None
    commune: str | None = None
    site: str | None = Field(default=None, max_length=200)
    installed_on: date | None = None
    expected_period: int | None = Field(default=None, ge=1, le=MAX_EXPECTED_PERIOD_S)
    status: DeviceStatus | None = None
    network: Network | None = None
    chirpstack_application_id: str | None = None
    tts_application_id: str | None = None

    def apply_to(self, config: DeviceConfig) -> DeviceConfig:
        """Return the configuration with this patch applied, re-validated as a whole."""
        merged: dict[str, Any] = config.model_dump()
        merged.update(self.model_dump(exclude_unset=True))
        return DeviceConfig.model_validate(merged)


class Device(DeviceConfig):
    """A registered device: its configuration, its tenant and the metadata the ingestion keeps fresh."""

    tenant: str = ""
    last_seen: datetime | None = None
    battery: float | None = Field(default=None, ge=0, le=1, description="Battery level as a ratio 0..1")
    rssi: float | None = None
    snr: float | None = None
    gateways: int | None = Field(default=None, ge=0)
    last_fcnt: int | None = Field(default=None, ge=0)
    fcnt_resets: int = Field(default=0, ge=0)
    created_at: datetime | None = None
    modified_at: datetime | None = None

    def config(self) -> DeviceConfig:
        """The configuration part of the record."""
        return DeviceConfig.model_validate(self.model_dump(include=set(DeviceConfig.model_fields)))
