"""Bulk provisioning of devices from a CSV file (``calanque devices import FILE.csv``).

The file is UTF-8 (a BOM is accepted), comma- or semicolon-separated, with a header row.
Columns (names are case-insensitive; order is free; unknown columns are rejected):

Required:
  device_id      DevEUI (16 hex chars, any case, ':' or '-' separators allowed) or, for mqtt/http
                 devices, another id (letters, digits, '_', '.', ':', '-'). ``dev_eui`` is accepted too.
  name           Display name.
  model          Device model, e.g. "Milesight WS302".
  codec          A registered codec name (cayenne-lpp, dragino-ldds75, js…).
  entity_id      URI of the NGSI-LD entity fed by the device.
  entity_type    Type of that entity, e.g. NoiseLevelObserved.
  network        chirpstack | tts | mqtt | http.
Optional:
  mapping        Measurement mapping, entries separated by '|':
                 ``key=attribute:UNIT[*scale][#datasetId]``, e.g.
                 ``laeq=LAeq:2N|battery=batteryLevel:P1*0.01``; or a JSON object as in the API.
  lon, lat       WGS84 coordinates in degrees (both or neither; a decimal comma is accepted).
  commune        INSEE commune code (13055, 2A004…).
  site           Site name.
  installed_on   Installation date, YYYY-MM-DD.
  status         active (default) | inactive | maintenance | decommissioned.
  chirpstack_application_id, tts_application_id   Network-side application ids.
  codec_script   For codec "js": path of the TS013 .js decoder, relative to the CSV file.

Every data row is validated; good rows are imported (created, or their configuration replaced if
the device exists, its metadata kept), bad rows are reported with their line number and reason.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from calanque.devices.models import DeviceConfig, normalise_device_id
from calanque.devices.repository import upsert_devices
from calanque.store.base import Store

REQUIRED_COLUMNS = ("device_id", "name", "model", "codec", "entity_id", "entity_type", "network")
OPTIONAL_COLUMNS = ("mapping", "lon", "lat", "commune", "site", "installed_on", "status",
                    "chirpstack_application_id", "tts_application_id", "codec_script")
COLUMN_ALIASES = {"dev_eui": "device_id", "deveui": "device_id"}
_FIELD_OF_COLUMN = {"model": "device_model"}
BATCH_SIZE = 500


class ImportFileError(Exception):
    """The CSV file cannot be read at all (missing, not UTF-8, no header, missing columns)."""


@dataclass(slots=True)
class RowError:
    """A rejected row: its line number in the file and why."""

    line: int
    reason: str


@dataclass(slots=True)
class ImportReport:
    """What an import did: valid rows, created/updated counts and rejected rows."""

    valid: int = 0
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)


def parse_mapping(text: str) -> dict[str, Any]:
    """Parse the mapping cell (compact ``key=attr:UNIT*scale#dataset|…`` or JSON) into API form."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as err:
            raise ValueError(f"mapping is not valid JSON: {err}") from err
        if not isinstance(value, dict):
            raise ValueError("mapping JSON must be an object")
        return value
    out: dict[str, Any] = {}
    for entry in text.split("|"):
        key, sep, rest = entry.strip().partition("=")
        if not sep or not key.strip() or ":" not in rest:
            raise ValueError(f"bad mapping entry '{entry.strip()[:60]}': expected key=attribute:UNIT[*scale][#datasetId]")
        spec: dict[str, Any] = {}
        rest, _, dataset = rest.partition("#")
        rest, _, scale = rest.partition("*")
        attribute, _, unit = rest.partition(":")
        spec["attribute"], spec["unitCode"] = attribute.strip(), unit.strip()
        if scale.strip():
            try:
                spec["scale"] = float(scale)
            except ValueError as err:
                raise ValueError(f"bad scale '{scale.strip()[:20]}' in mapping entry '{key.strip()}'") from err
        if dataset.strip():
            spec["datasetId"] = dataset.strip()
        if key.strip() in out:
            raise ValueError(f"measurement '{key.strip()}' is mapped twice")
        out[key.strip()] = spec
    return out


def _number(text: str, name: str) -> float:
    try:
        return float(text.replace(",", "."))
    except ValueError as err:
        raise ValueError(f"bad coordinates: {name} '{text[:30]}' is not a number") from err


def _row_to_config(values: dict[str, str], base_dir: Path) -> DeviceConfig:
    """Build and validate a device configuration from one CSV row (raises ValueError with a reason)."""
    data: dict[str, Any] = {}
    for column in REQUIRED_COLUMNS:
        if not values.get(column):
            raise ValueError(f"missing value in column '{column}'")
    data["id"] = normalise_device_id(values["device_id"], values["network"])
    for column in ("name", "model", "codec", "entity_id", "entity_type", "network", "commune", "site",
                   "installed_on", "status", "chirpstack_application_id", "tts_application_id"):
        if values.get(column):
            data[_FIELD_OF_COLUMN.get(column, column)] = values[column]
    lon, lat = values.get("lon", ""), values.get("lat", "")
    if bool(lon) != bool(lat):
        raise ValueError("bad coordinates: give both lon and lat, or neither")
    if lon:
        lon_f, lat_f = _number(lon, "lon"), _number(lat, "lat")
        if not (-180 <= lon_f <= 180 and -90 <= lat_f <= 90):
            raise ValueError(f"bad coordinates: lon {lon_f} / lat {lat_f} outside [-180, 180] / [-90, 90]")
        data["location"] = {"lon": lon_f, "lat": lat_f}
    if values.get("mapping"):
        data["mapping"] = parse_mapping(values["mapping"])
    if values.get("codec_script"):
        script_path = base_dir / values["codec_script"]
        try:
            data["codec_script"] = script_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ValueError(f"cannot read codec_script '{values['codec_script']}': {err}") from err
    try:
        return DeviceConfig.model_validate(data)
    except ValidationError as err:
        reasons = []
        for e in err.errors():
            where = ".".join(str(p) for p in e.get("loc", ()))
            msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
            reasons.append(f"{where}: {msg}" if where else msg)
        raise ValueError("; ".join(reasons)) from err


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (first line number, cells) for every record, header included."""
    sample = text[: text.find("\n") if "\n" in text else len(text)]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    line = 1
    for cells in reader:
        yield line, cells
        line = reader.line_num + 1


def read_csv(path: Path) -> tuple[list[tuple[int, DeviceConfig]], list[RowError]]:
    """Validate every row of a CSV file; return the good rows (with line numbers) and the bad ones."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as err:
        raise ImportFileError(f"{path}: no such file") from err
    except UnicodeDecodeError as err:
        raise ImportFileError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start})") from err
    except OSError as err:
        raise ImportFileError(f"cannot read {path}: {err.strerror}") from err
    records = _records(text)
    try:
        _, header = next(records)
    except (StopIteration, csv.Error) as err:
        raise ImportFileError(f"{path} has no header row") from err
    columns = [COLUMN_ALIASES.get(h.strip().lower(), h.strip().lower()) for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown or len(set(columns)) != len(columns):
        problems = []
        if missing:
            problems.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown column(s) {', '.join(unknown)}")
        if len(set(columns)) != len(columns):
            problems.append("a column appears twice")
        raise ImportFileError(
            f"{path}: bad header: {'; '.join(problems)}. Expected columns: {', '.join(REQUIRED_COLUMNS)} "
            f"and optionally {', '.join(OPTIONAL_COLUMNS)}"
        )
    good: list[tuple[int, DeviceConfig]] = []
    bad: list[RowError] = []
    first_line: dict[str, int] = {}
    try:
        for line, cells in records:
            if not any(c.strip() for c in cells):
                continue
            if len(cells) < len(columns):
                bad.append(RowError(line, f"missing column(s) {', '.join(columns[len(cells):])}: "
                                          f"{len(cells)} values for {len(columns)} columns"))
                continue
            if len(cells) > len(columns):
                bad.append(RowError(line, f"{len(cells)} values for {len(columns)} columns"))
                continue
            try:
                config = _row_to_config({c: v.strip() for c, v in zip(columns, cells, strict=True)}, path.parent)
            except ValueError as err:
                bad.append(RowError(line, str(err)))
                continue
            if config.id in first_line:
                bad.append(RowError(line, f"duplicate device {config.id} (first on line {first_line[config.id]})"))
                continue
            first_line[config.id] = line
            good.append((line, config))
    except csv.Error as err:
        raise ImportFileError(f"{path}: unreadable CSV: {err}") from err
    return good, bad


def import_devices(
    store: Store,
    path: Path,
    *,
    tenant: str = "",
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Validate a CSV file and upsert its good rows in batches; ``progress(n)`` is told of each batch."""
    good, bad = read_csv(path)
    report = ImportReport(valid=len(good), errors=bad)
    if dry_run or not good:
        return report
    with store.session(write=True) as session:
        session.ensure_tenant(tenant)
    for start in range(0, len(good), BATCH_SIZE):
        batch = [config for _, config in good[start : start + BATCH_SIZE]]
        with store.session(write=True) as session:
            created, updated = upsert_devices(session, tenant, batch)
        report.created += created
        report.updated += updated
        if progress is not None:
            progress(len(batch))
    return report
