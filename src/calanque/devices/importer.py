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
  expected_period  Seconds between two uplinks in normal operation (for the silent-device listing).
  codec_script   For codec "js": path of the TS013 .js decoder, relative to the CSV file.

Every data row is validated; good rows are imported (created, or their configuration replaced if
the device exists, its metadata kept), bad rows are reported with their line number and reason.
The same rows are accepted by ``POST /api/v1/devices/import`` (CSV, or a JSON array of devices as
in the API), which imports all or nothing and previews the errors with ``dryRun=true``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from calanque.devices.models import DeviceConfig, normalise_device_id
from calanque.devices.repository import upsert_devices
from calanque.store.base import Store

REQUIRED_COLUMNS = ("device_id", "name", "model", "codec", "entity_id", "entity_type", "network")
OPTIONAL_COLUMNS = ("mapping", "lon", "lat", "commune", "site", "installed_on", "status",
                    "chirpstack_application_id", "tts_application_id", "expected_period", "codec_script")
COLUMN_ALIASES = {"dev_eui": "device_id", "deveui": "device_id"}
_FIELD_OF_COLUMN = {"model": "device_model", "device_id": "id"}
_COLUMN_OF_FIELD = {"device_model": "model", "id": "device_id", "location": "lon"}
BATCH_SIZE = 500
MAX_ROWS = 20_000  # rows one API import accepts (the CLI reads any number)


class ImportFileError(Exception):
    """The CSV file cannot be read at all (missing, not UTF-8, no header, missing columns)."""


@dataclass(slots=True)
class RowError:
    """A rejected value: the line of its row in the file (or item number in a JSON array), its field, why."""

    line: int
    reason: str
    field: str | None = None


@dataclass(slots=True)
class ImportReport:
    """What an import did: valid rows, created/updated counts and rejected rows."""

    valid: int = 0
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)


class _RowInvalid(ValueError):
    """Every problem of one row, as (field, reason) pairs."""

    def __init__(self, problems: list[tuple[str | None, str]]) -> None:
        super().__init__("; ".join(reason for _, reason in problems))
        self.problems = problems


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


def _model_problems(err: ValidationError, name_of: Callable[[str], str]) -> list[tuple[str | None, str]]:
    """The (field, reason) pairs of a DeviceConfig validation error; fields named by ``name_of``."""
    problems: list[tuple[str | None, str]] = []
    for e in err.errors():
        loc = [str(p) for p in e.get("loc", ())]
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        if not loc:  # a whole-record check: name the field it is about
            about = "id" if msg.startswith(("bad DevEUI", "bad device id")) else (
                "codec_script" if "codecScript" in msg else None)
            problems.append((name_of(about) if about else None, msg))
            continue
        where = name_of(loc[0])
        detail = ".".join([where, *loc[1:]])
        problems.append((where, msg if e.get("type") == "value_error" and len(loc) == 1 else f"{detail}: {msg}"))
    return problems


def _column_name(field_name: str) -> str:
    """The CSV column of a DeviceConfig field (snake_case or camelCase)."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in field_name)
    return _COLUMN_OF_FIELD.get(snake, snake)


def _row_to_config(values: dict[str, str], base_dir: Path | None) -> DeviceConfig:
    """Build and validate a device configuration from one CSV row (raises _RowInvalid with every problem)."""
    data: dict[str, Any] = {}
    problems: list[tuple[str | None, str]] = []
    for column in REQUIRED_COLUMNS:
        if not values.get(column):
            problems.append((column, f"missing value in column '{column}'"))
    if values.get("device_id"):
        try:
            data["id"] = normalise_device_id(values["device_id"], values.get("network"))
        except ValueError as err:
            problems.append(("device_id", str(err)))
    for column in ("name", "model", "codec", "entity_id", "entity_type", "network", "commune", "site",
                   "installed_on", "status", "chirpstack_application_id", "tts_application_id",
                   "expected_period"):
        if values.get(column):
            data[_FIELD_OF_COLUMN.get(column, column)] = values[column]
    lon, lat = values.get("lon", ""), values.get("lat", "")
    try:
        if bool(lon) != bool(lat):
            raise ValueError("bad coordinates: give both lon and lat, or neither")
        if lon:
            lon_f, lat_f = _number(lon, "lon"), _number(lat, "lat")
            if not (-180 <= lon_f <= 180 and -90 <= lat_f <= 90):
                raise ValueError(f"bad coordinates: lon {lon_f} / lat {lat_f} outside [-180, 180] / [-90, 90]")
            data["location"] = {"lon": lon_f, "lat": lat_f}
    except ValueError as err:
        problems.append(("lat" if lon and not lat else "lon", str(err)))
    if values.get("mapping"):
        try:
            data["mapping"] = parse_mapping(values["mapping"])
        except ValueError as err:
            problems.append(("mapping", str(err)))
    if values.get("codec_script"):
        if base_dir is None:
            problems.append(("codec_script", "codec_script names a file, which only the command line reads; "
                                             "send a JavaScript codec as JSON with codecScript holding its source"))
        else:
            script_path = base_dir / values["codec_script"]
            try:
                data["codec_script"] = script_path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as err:
                problems.append(("codec_script", f"cannot read codec_script '{values['codec_script']}': {err}"))
    try:
        config = DeviceConfig.model_validate(data)
    except ValidationError as err:
        reported = {f for f, _ in problems}
        problems += [p for p in _model_problems(err, _column_name) if p[0] not in reported]
        raise _RowInvalid(problems) from err
    if problems:
        raise _RowInvalid(problems)
    return config


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (first line number, cells) for every record, header included."""
    sample = text[: text.find("\n") if "\n" in text else len(text)]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    line = 1
    for cells in reader:
        yield line, cells
        line = reader.line_num + 1


def _reject_duplicates(
    rows: Sequence[tuple[int, DeviceConfig]], bad: list[RowError], id_field: str
) -> list[tuple[int, DeviceConfig]]:
    """Keep the first row of each device id; a later one is an error naming the first line."""
    good: list[tuple[int, DeviceConfig]] = []
    first_line: dict[str, int] = {}
    for line, config in rows:
        if config.id in first_line:
            bad.append(RowError(line, f"duplicate device {config.id} (first on line {first_line[config.id]})",
                                id_field))
            continue
        first_line[config.id] = line
        good.append((line, config))
    return good


def read_csv_text(
    text: str, *, base_dir: Path | None = None, source: str = "the CSV file", max_rows: int | None = None
) -> tuple[list[tuple[int, DeviceConfig]], list[RowError]]:
    """Validate every row of CSV text; return the good rows (with line numbers) and every row error.

    ``base_dir`` is where ``codec_script`` paths are read from (None refuses them: the API case).
    Raises ImportFileError when the text has no usable header or is not CSV.
    """
    records = _records(text)
    try:
        _, header = next(records)
    except (StopIteration, csv.Error) as err:
        raise ImportFileError(f"{source} has no header row") from err
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
            f"{source}: bad header: {'; '.join(problems)}. Expected columns: {', '.join(REQUIRED_COLUMNS)} "
            f"and optionally {', '.join(OPTIONAL_COLUMNS)}"
        )
    rows: list[tuple[int, DeviceConfig]] = []
    bad: list[RowError] = []
    count = 0
    try:
        for line, cells in records:
            if not any(c.strip() for c in cells):
                continue
            count += 1
            if max_rows is not None and count > max_rows:
                raise ImportFileError(f"{source} has more than {max_rows} rows: split it into smaller files")
            if len(cells) < len(columns):
                bad.append(RowError(line, f"missing column(s) {', '.join(columns[len(cells):])}: "
                                          f"{len(cells)} values for {len(columns)} columns", columns[len(cells)]))
                continue
            if len(cells) > len(columns):
                bad.append(RowError(line, f"{len(cells)} values for {len(columns)} columns"))
                continue
            try:
                config = _row_to_config({c: v.strip() for c, v in zip(columns, cells, strict=True)}, base_dir)
            except _RowInvalid as err:
                bad += [RowError(line, reason, where) for where, reason in err.problems]
                continue
            rows.append((line, config))
    except csv.Error as err:
        raise ImportFileError(f"{source}: unreadable CSV: {err}") from err
    good = _reject_duplicates(rows, bad, "device_id")
    bad.sort(key=lambda e: e.line)
    return good, bad


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
    return read_csv_text(text, base_dir=path.parent, source=str(path))


def read_json_items(items: Sequence[Any]) -> tuple[list[tuple[int, DeviceConfig]], list[RowError]]:
    """Validate a JSON array of device bodies (as POST /api/v1/devices takes); item numbers start at 1."""
    rows: list[tuple[int, DeviceConfig]] = []
    bad: list[RowError] = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            bad.append(RowError(number, f"item {number} is a {type(item).__name__}, not a device object"))
            continue
        try:
            rows.append((number, DeviceConfig.model_validate(item)))
        except ValidationError as err:
            bad += [RowError(number, reason, where)
                    for where, reason in _model_problems(err, lambda name: to_camel(name))]
    good = _reject_duplicates(rows, bad, "id")
    bad.sort(key=lambda e: e.line)
    return good, bad


def rows_reach(body: bytes) -> list[tuple[str, str | None, str | None, str | None]]:
    """(device id, entity type, commune, site) of every row of an import body, as written (unvalidated).

    For the authorisation of identities limited to use cases, communes or sites: a row out of their
    reach refuses the whole import. Raises ValueError when the body is neither a JSON array nor CSV.
    """
    text = body.decode("utf-8-sig", errors="replace")
    if text.lstrip().startswith(("[", "{")):
        try:
            items = orjson.loads(text)
        except orjson.JSONDecodeError as err:
            raise ValueError("the import body is not valid JSON") from err
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ValueError("the import body is not an array of devices")

        def get(item: dict, *keys: str) -> str | None:
            value = next((item[k] for k in keys if item.get(k) is not None), None)
            return str(value).strip() if value is not None else None

        return [(str(i.get("id", "(new)")), get(i, "entityType", "entity_type"),
                 (get(i, "commune") or "").upper() or None, get(i, "site")) for i in items]
    out = []
    try:
        records = _records(text)
        _, header = next(records)
        columns = [COLUMN_ALIASES.get(h.strip().lower(), h.strip().lower()) for h in header]
        for _, cells in records:
            values = dict(zip(columns, (c.strip() for c in cells), strict=False))
            if any(values.values()):
                out.append((values.get("device_id") or "(new)", values.get("entity_type") or None,
                            (values.get("commune") or "").upper() or None, values.get("site") or None))
    except (StopIteration, csv.Error) as err:
        raise ValueError("the import body is not readable CSV") from err
    return out


def errors_by_line(errors: Sequence[RowError]) -> list[tuple[int, str]]:
    """One (line, reasons joined by '; ') per rejected row, in line order."""
    grouped: dict[int, list[str]] = {}
    for error in errors:
        grouped.setdefault(error.line, []).append(error.reason)
    return [(line, "; ".join(reasons)) for line, reasons in sorted(grouped.items())]


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
