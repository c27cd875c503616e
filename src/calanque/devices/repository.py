"""The device registry over a store session; every query is scoped by tenant.

Functions take an open :class:`calanque.store.base.Session` (use ``store.session(write=True)`` for
writes) and use its SQL helpers, so they run unchanged on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from calanque.devices.models import (
    Device,
    DeviceConfig,
    DevicePatch,
    Location,
    MeasurementMapping,
    normalise_device_id,
)
from calanque.ngsild.errors import AlreadyExists
from calanque.store.base import Session, SqlPredicate

# A frame counter lower than the last one by more than this is a device reset (re-join, reboot);
# a smaller drop is a late, out-of-order frame. A counter back at 0 is always a reset.
FCNT_REORDER_TOLERANCE = 16

_CONFIG_COLUMNS = (
    "name", "device_model", "codec", "codec_script", "entity_id", "entity_type", "mapping", "lon", "lat",
    "commune", "site", "installed_on", "status", "network", "chirpstack_application_id", "tts_application_id",
    "expected_period",
)
_META_COLUMNS = ("last_seen", "battery", "rssi", "snr", "gateways", "last_fcnt", "fcnt_resets",
                 "created_at", "modified_at")
_SEARCHED = ("device_id", "name", "site", "entity_id")
_SELECT = f"SELECT device_id, tenant, {', '.join(_CONFIG_COLUMNS)}, {', '.join(_META_COLUMNS)} FROM devices"


DEFAULT_EXPECTED_PERIOD_S = 3600  # for devices whose record gives no expected period
DEFAULT_SILENT_FACTOR = 3.0


@dataclass(frozen=True, slots=True)
class SilentRule:
    """When an active device counts as silent: not heard for more than ``factor`` expected periods.

    A device without ``expectedPeriod`` is given ``default_period`` seconds; one never heard is silent.
    """

    now: datetime
    factor: float = DEFAULT_SILENT_FACTOR
    default_period: int = DEFAULT_EXPECTED_PERIOD_S


def to_us(moment: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int | None) -> datetime | None:
    """The UTC datetime of microseconds since the Unix epoch (None stays None)."""
    if us is None:
        return None
    seconds, micro = divmod(int(us), 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=micro)


def _now_us() -> int:
    return to_us(datetime.now(UTC))


def _config_params(session: Session, config: DeviceConfig) -> list[Any]:
    mapping = {k: m.model_dump(by_alias=True, exclude_none=True) for k, m in config.mapping.items()}
    return [
        config.name, config.device_model, config.codec, config.codec_script, config.entity_id,
        config.entity_type, session._dump(mapping),  # type: ignore[attr-defined]
        config.location.lon if config.location else None, config.location.lat if config.location else None,
        config.commune, config.site, config.installed_on.isoformat() if config.installed_on else None,
        config.status, config.network, config.chirpstack_application_id, config.tts_application_id,
        config.expected_period,
    ]


def _row_to_device(session: Session, row: Sequence[Any]) -> Device:
    values = dict(zip(("id", "tenant", *_CONFIG_COLUMNS, *_META_COLUMNS), row, strict=True))
    lon, lat = values.pop("lon"), values.pop("lat")
    mapping = session._load(values.pop("mapping"))  # type: ignore[attr-defined]
    installed = values.pop("installed_on")
    return Device.model_construct(
        **{k: v for k, v in values.items() if k not in ("last_seen", "created_at", "modified_at")},
        mapping={k: MeasurementMapping.model_validate(v) for k, v in mapping.items()},
        location=Location(lon=lon, lat=lat) if lon is not None else None,
        installed_on=date.fromisoformat(installed) if isinstance(installed, str) else installed,
        last_seen=from_us(values["last_seen"]),
        created_at=from_us(values["created_at"]),
        modified_at=from_us(values["modified_at"]),
    )


def get_device(session: Session, tenant: str, device_id: str, *, for_update: bool = False) -> Device | None:
    """Load one device of a tenant, or None. Ids are normalised like at creation (DevEUI lower-case)."""
    lock = " FOR UPDATE" if for_update and session.dialect == "postgres" else ""
    row = session._exec(  # type: ignore[attr-defined]
        f"{_SELECT} WHERE tenant = ? AND device_id = ?{lock}", (tenant, lookup_id(device_id))
    ).fetchone()
    return _row_to_device(session, row) if row else None


def lookup_id(device_id: str) -> str:
    """The stored form of a device id as typed by a user (a DevEUI in any case/separators)."""
    try:
        return normalise_device_id(device_id)
    except ValueError:
        return device_id


def create_device(session: Session, tenant: str, config: DeviceConfig) -> Device:
    """Register a new device; raise AlreadyExists when the tenant already has this id."""
    exists = session._exec(  # type: ignore[attr-defined]
        "SELECT 1 FROM devices WHERE tenant = ? AND device_id = ?", (tenant, config.id)
    ).fetchone()
    if exists:
        raise AlreadyExists(f"device '{config.id}' is already registered; use PATCH to change it")
    now = _now_us()
    marks = ", ".join("?" for _ in range(len(_CONFIG_COLUMNS) + 5))
    session._exec(  # type: ignore[attr-defined]
        f"INSERT INTO devices (tenant, device_id, {', '.join(_CONFIG_COLUMNS)}, fcnt_resets, created_at, "
        f"modified_at) VALUES ({marks})",
        (tenant, config.id, *_config_params(session, config), 0, now, now),
    )
    device = get_device(session, tenant, config.id)
    assert device is not None
    return device


def list_devices(
    session: Session,
    tenant: str,
    *,
    status: str | None = None,
    model: str | None = None,
    commune: str | None = None,
    site: str | None = None,
    entity_id: str | None = None,
    entity_type: str | None = None,
    search: str | None = None,
    silent_since: datetime | None = None,
    silent: SilentRule | None = None,
    limit: int = 100,
    offset: int = 0,
    within: SqlPredicate | None = None,
) -> tuple[list[Device], int]:
    """List a tenant's devices ordered by id, with filters; return the page and the total count.

    ``silent_since`` keeps devices not heard from since that moment (including never seen ones);
    ``silent`` keeps the active devices silent for longer than their expected period times a factor
    (see :class:`SilentRule`); ``search`` matches a part of the id, name, site or entity id, in any case.
    ``within`` is a condition on the devices table's columns (a read scope's, calanque.store.scope).
    """
    clauses = ["tenant = ?"]
    params: list[Any] = [tenant]
    for column, value in (("status", status), ("device_model", model), ("site", site),
                          ("entity_id", entity_id), ("entity_type", entity_type)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if commune is not None:
        clauses.append("commune = ?")
        params.append(commune.strip().upper())
    if search:
        pattern = "%" + search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        clauses.append("(" + " OR ".join(f"lower({c}) LIKE ? ESCAPE '\\'" for c in _SEARCHED) + ")")
        params += [pattern] * len(_SEARCHED)
    if silent_since is not None:
        clauses.append("(last_seen IS NULL OR last_seen < ?)")
        params.append(to_us(silent_since))
    if silent is not None:
        if status is None:
            clauses.append("status = 'active'")
        # silent when now - last_seen > factor x period (period in s, times in us)
        clauses.append("(last_seen IS NULL OR ? - last_seen > ? * COALESCE(expected_period, ?))")
        params += [to_us(silent.now), silent.factor * 1_000_000, silent.default_period]
    if within is not None:
        clauses.append(f"({within.sql})")
        params += within.params
    where = " AND ".join(clauses)
    total = session._exec(f"SELECT count(*) FROM devices WHERE {where}", params).fetchone()[0]  # type: ignore[attr-defined]
    rows = session._exec(  # type: ignore[attr-defined]
        f"{_SELECT} WHERE {where} ORDER BY device_id LIMIT {int(limit)} OFFSET {int(offset)}", params
    ).fetchall()
    return [_row_to_device(session, r) for r in rows], int(total)


def update_device(session: Session, tenant: str, device_id: str, patch: DevicePatch) -> Device | None:
    """Apply a partial update (re-validated as a whole); return the device, or None if unknown."""
    current = get_device(session, tenant, device_id, for_update=True)
    if current is None:
        return None
    config = patch.apply_to(current.config())
    sets = ", ".join(f"{c} = ?" for c in _CONFIG_COLUMNS)
    session._exec(  # type: ignore[attr-defined]
        f"UPDATE devices SET {sets}, modified_at = ? WHERE tenant = ? AND device_id = ?",
        (*_config_params(session, config), _now_us(), tenant, current.id),
    )
    return get_device(session, tenant, current.id)


def delete_device(session: Session, tenant: str, device_id: str) -> bool:
    """Remove a device; return whether it existed."""
    cur = session._exec(  # type: ignore[attr-defined]
        "DELETE FROM devices WHERE tenant = ? AND device_id = ?", (tenant, lookup_id(device_id))
    )
    return cur.rowcount > 0


def upsert_devices(session: Session, tenant: str, configs: Sequence[DeviceConfig]) -> tuple[int, int]:
    """Create or overwrite the configuration of many devices (metadata kept); return (created, updated)."""
    if not configs:
        return 0, 0
    existing: set[str] = set()
    ids = [c.id for c in configs]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        existing.update(
            r[0] for r in session._exec(  # type: ignore[attr-defined]
                f"SELECT device_id FROM devices WHERE tenant = ? AND device_id IN ({','.join('?' * len(chunk))})",
                (tenant, *chunk),
            ).fetchall()
        )
    now = _now_us()
    updates = ", ".join(f"{c} = excluded.{c}" for c in _CONFIG_COLUMNS)
    marks = ", ".join("?" for _ in range(len(_CONFIG_COLUMNS) + 5))
    session._many(  # type: ignore[attr-defined]
        f"INSERT INTO devices (tenant, device_id, {', '.join(_CONFIG_COLUMNS)}, fcnt_resets, created_at, "
        f"modified_at) VALUES ({marks}) ON CONFLICT (tenant, device_id) DO UPDATE SET {updates}, "
        "modified_at = excluded.modified_at",
        [(tenant, c.id, *_config_params(session, c), 0, now, now) for c in configs],
    )
    created = len(set(ids) - existing)
    return created, len(set(ids)) - created


def is_fcnt_reset(last_fcnt: int | None, fcnt: int) -> bool:
    """Tell whether a frame counter after ``last_fcnt`` means the device restarted its counter."""
    if last_fcnt is None or fcnt >= last_fcnt:
        return False
    return fcnt == 0 or last_fcnt - fcnt > FCNT_REORDER_TOLERANCE


def update_metadata(
    session: Session,
    tenant: str,
    device_id: str,
    *,
    last_seen: datetime,
    battery: float | None = None,
    rssi: float | None = None,
    snr: float | None = None,
    gateways: int | None = None,
    fcnt: int | None = None,
) -> Device | None:
    """Record an uplink's link metadata; return the device, or None if it is not registered.

    ``last_seen`` only moves forward; values left at None are kept. A frame counter that drops
    by more than :data:`FCNT_REORDER_TOLERANCE` (or back to 0) counts one reset and restarts the
    counter; a smaller drop is a late frame and leaves the counter alone.
    """
    if battery is not None and not 0 <= battery <= 1:
        raise ValueError(f"battery must be a ratio between 0 and 1, got {battery}")
    current = get_device(session, tenant, device_id, for_update=True)
    if current is None:
        return None
    seen_us = to_us(last_seen)
    previous_us = to_us(current.last_seen) if current.last_seen else None
    last_fcnt, resets = current.last_fcnt, current.fcnt_resets
    if fcnt is not None:
        if is_fcnt_reset(last_fcnt, fcnt):
            resets += 1
            last_fcnt = fcnt
        elif last_fcnt is None or fcnt > last_fcnt:
            last_fcnt = fcnt
    session._exec(  # type: ignore[attr-defined]
        "UPDATE devices SET last_seen = ?, battery = ?, rssi = ?, snr = ?, gateways = ?, last_fcnt = ?, "
        "fcnt_resets = ? WHERE tenant = ? AND device_id = ?",
        (
            seen_us if previous_us is None else max(previous_us, seen_us),
            current.battery if battery is None else battery,
            current.rssi if rssi is None else rssi,
            current.snr if snr is None else snr,
            current.gateways if gateways is None else gateways,
            last_fcnt,
            resets,
            tenant,
            current.id,
        ),
    )
    return get_device(session, tenant, current.id)


def existing_ids(session: Session, tenant: str, device_ids: Sequence[str]) -> set[str]:
    """Which of these (stored-form) device ids the tenant already has."""
    found: set[str] = set()
    for where, params in session.in_chunks("device_id", list(dict.fromkeys(device_ids))):  # type: ignore[attr-defined]
        rows = session._exec(f"SELECT device_id FROM devices WHERE tenant = ? AND {where}",  # type: ignore[attr-defined]
                             (tenant, *params)).fetchall()
        found.update(r[0] for r in rows)
    return found


def registered_in(tenant: str, within: SqlPredicate, column: str = "device_id") -> SqlPredicate:
    """A condition keeping rows whose ``column`` names a device of the tenant meeting ``within``
    (dead letters and commands of the devices a read scope shows; DevEUIs match in any case)."""
    devices = f"SELECT d.device_id FROM devices d WHERE d.tenant = ? AND ({within.sql})"
    return SqlPredicate(f"({column} IN ({devices}) OR lower({column}) IN ({devices}))",
                        [tenant, *within.params, tenant, *within.params])


def get_devices(session: Session, tenant: str, device_ids: Sequence[str]) -> dict[str, Device]:
    """Load several devices of a tenant at once, keyed by stored id; absent ids are left out."""
    found: dict[str, Device] = {}
    ids = list(dict.fromkeys(lookup_id(d) for d in device_ids))
    for where, params in session.in_chunks("device_id", ids):  # type: ignore[attr-defined]
        rows = session._exec(f"{_SELECT} WHERE tenant = ? AND {where}", (tenant, *params)).fetchall()  # type: ignore[attr-defined]
        for row in rows:
            device = _row_to_device(session, row)
            found[device.id] = device
    return found


class LinkUpdate:
    """The link metadata of one device gathered over a batch of uplinks and events, written at once."""

    __slots__ = ("device_id", "last_seen", "battery", "rssi", "snr", "gateways", "fcnts")

    def __init__(self, device_id: str) -> None:
        """Start an empty update for ``device_id``."""
        self.device_id = device_id
        self.last_seen: datetime | None = None
        self.battery: float | None = None
        self.rssi: float | None = None
        self.snr: float | None = None
        self.gateways: int | None = None
        self.fcnts: list[int] = []

    def seen(self, at: datetime, *, battery: float | None = None, rssi: float | None = None,
             snr: float | None = None, gateways: int | None = None, fcnt: int | None = None) -> None:
        """Fold one message in; radio values and battery follow the latest message that gives them."""
        latest = self.last_seen is None or at >= self.last_seen
        if latest:
            self.last_seen = at
        for name, value in (("battery", battery), ("rssi", rssi), ("snr", snr), ("gateways", gateways)):
            if value is not None and (latest or getattr(self, name) is None):
                setattr(self, name, value)
        if fcnt is not None:
            self.fcnts.append(fcnt)


def apply_link_updates(session: Session, tenant: str, devices: dict[str, Device],
                       updates: Sequence[LinkUpdate]) -> None:
    """Write the batch's link metadata (last seen, battery, radio, frame counter and resets) at once.

    ``devices`` holds the records' link metadata as loaded (locked) at the start of the batch; the
    frame counters are replayed in arrival order with the same reset rule as :func:`update_metadata`;
    battery and radio values the batch does not give are kept.
    """
    rows = []
    for upd in updates:
        current = devices.get(upd.device_id)
        if current is None or upd.last_seen is None:
            continue
        last_fcnt, resets = current.last_fcnt, current.fcnt_resets
        for fcnt in upd.fcnts:
            if is_fcnt_reset(last_fcnt, fcnt):
                resets += 1
                last_fcnt = fcnt
            elif last_fcnt is None or fcnt > last_fcnt:
                last_fcnt = fcnt
        seen_us = to_us(upd.last_seen)
        if current.last_seen is not None:
            seen_us = max(seen_us, to_us(current.last_seen))
        battery = upd.battery if upd.battery is not None and 0 <= upd.battery <= 1 else None
        rows.append((seen_us, battery, upd.rssi, upd.snr, upd.gateways, last_fcnt, resets, tenant, upd.device_id))
    if session.dialect == "postgres" and rows:  # one statement for the batch
        columns = list(zip(*rows, strict=True))
        session._exec(  # type: ignore[attr-defined]
            "UPDATE devices AS d SET last_seen = v.last_seen, battery = COALESCE(v.battery, d.battery), "
            "rssi = COALESCE(v.rssi, d.rssi), snr = COALESCE(v.snr, d.snr), "
            "gateways = COALESCE(v.gateways, d.gateways), last_fcnt = v.last_fcnt, fcnt_resets = v.resets "
            "FROM unnest(%b::bigint[], %b::float8[], %b::float8[], %b::float8[], %b::bigint[], %b::bigint[], "
            "%b::bigint[], %b::text[]) AS v(last_seen, battery, rssi, snr, gateways, last_fcnt, resets, device_id) "
            "WHERE d.tenant = ? AND d.device_id = v.device_id",
            (*[list(c) for c in columns[:7]], list(columns[8]), tenant),
        )
        return
    session._many(  # type: ignore[attr-defined]
        "UPDATE devices SET last_seen = ?, battery = COALESCE(?, battery), rssi = COALESCE(?, rssi), "
        "snr = COALESCE(?, snr), gateways = COALESCE(?, gateways), last_fcnt = ?, fcnt_resets = ? "
        "WHERE tenant = ? AND device_id = ?",
        rows,
    )
