"""Messages and devices shared by the ingestion tests (payloads worked out by hand from the device docs)."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime

from calanque.devices.models import DeviceConfig

# Milesight WS302, fPort 85: 01 75 5A = battery 90 %; 05 5B 05 = sound level, A-weighted, Fast;
# L = 0x026F = 623 -> 62.3 dB, Leq = 0x0262 = 610 -> 61.0 dB, Lmax = 0x02F3 = 755 -> 75.5 dB (LE).
WS302_FRAME = bytes.fromhex("01755a055b056f026202f302")
# Same sensor, Leq = 0x0226 = 550 -> 55.0 dB, Lmax = 0x0280 = 640 -> 64.0 dB, L = 0x0230 -> 56.0 dB.
WS302_QUIET = bytes.fromhex("01755a055b05300226028002")
APP_ID = "0f3a2b4c-1d2e-4f50-8a9b-0c1d2e3f4a5b"


def ws302_frame(leq_tenths: int) -> bytes:
    """A WS302 frame whose Leq is ``leq_tenths``/10 dB (L = Leq, Lmax = Leq + 10 dB), battery 90 %."""
    def le16(v: int) -> str:
        return v.to_bytes(2, "little").hex()
    return bytes.fromhex(f"01755a055b05{le16(leq_tenths)}{le16(leq_tenths)}{le16(leq_tenths + 100)}")


def noise_config(dev_eui: str, entity_id: str, network: str = "chirpstack") -> DeviceConfig:
    """A WS302 noise sensor feeding ``entity_id`` (LAeq and LAmax in dB, unitCode 2N)."""
    return DeviceConfig.model_validate({
        "id": dev_eui, "name": f"ws302-{dev_eui[-4:]}", "deviceModel": "Milesight WS302", "codec": "milesight-ws302",
        "entityId": entity_id, "entityType": "NoiseLevelObserved",
        "mapping": {"LAeq": {"attribute": "LAeq", "unitCode": "2N"},
                    "LAmax": {"attribute": "LAmax", "unitCode": "2N"}},
        "location": {"lon": 5.3698, "lat": 43.2951}, "commune": "13055", "network": network,
        "chirpstackApplicationId": APP_ID if network == "chirpstack" else None,
        "ttsApplicationId": "calanque-noise" if network == "tts" else None,
    })


def chirpstack_up(frame: bytes, f_cnt: int, at: datetime, dev_eui: str, dedup: str | None = None,
                  rssi: float = -97.0, f_port: int = 85) -> dict:
    """A ChirpStack v4 `up` event, as its MQTT and HTTP integrations send it."""
    stamp = at.isoformat().replace("+00:00", "Z")
    return {
        "deduplicationId": dedup or str(uuid.uuid4()),
        "time": stamp,
        "deviceInfo": {"tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242", "applicationId": APP_ID,
                       "deviceName": f"ws302-{dev_eui[-4:]}", "devEui": dev_eui},
        "devAddr": "00189440", "fCnt": f_cnt, "fPort": f_port, "data": base64.b64encode(frame).decode(),
        "rxInfo": [{"gatewayId": "0016c001f153a14c", "rssi": rssi, "snr": 7.5, "gwTime": stamp}],
    }
