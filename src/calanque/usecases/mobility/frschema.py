"""French national open-data schema "comptage des mobilités" (v0.2.0): CSV export and import.

The schema (https://github.com/etalab/schema-comptage-mobilites-site, ``-channel``,
``-measure``) describes three linked CSV files: a **site** is a counting location, a
**channel** is one mode and one direction counted at a site, a **measure** is the count of
one channel over one interval. The official TableSchema files are shipped in ``schemas/``
and drive both validation and the column order of the exported files.

Mapping from the platform's Smart Data Models entities (``TrafficFlowObserved`` for bikes,
``CrowdFlowObserved`` for pedestrians) to the schema fields:

=======================================  =================================================
Smart Data Models                        Schema field
=======================================  =================================================
counting location entity ``id``          ``site.site_id`` and ``channel.site_id``
``name``                                 ``site.site_name``
``location`` (GeoJSON Point [lon, lat])  ``site.xlong``, ``site.ylat`` (WGS84 degrees)
commune of ``location`` (not in SDM)     ``site.fr_insee_code`` (INSEE code, not postcode)
``refRoadSegment``                       ``site.external_ids``
entity ``id`` + direction                ``channel.channel_id`` / ``measure.channel_id``
entity type / ``vehicleType=bicycle``    ``channel.mobility_type``: ``BIKE`` for bikes
                                         (TrafficFlowObserved), ``PEDESTRIAN`` for
                                         pedestrians (CrowdFlowObserved)
``laneDirection`` (forward/backward),    ``channel.provider_direction_code``; the compass
``direction`` (inbound/outbound)         ``channel.direction`` (N, NE...) is configured
first ``dateObservedFrom``               ``channel.started_at``
latest ``dateObservedTo``                ``channel.last_updated_at``
``dateObservedTo - dateObservedFrom``    ``channel.time_step`` (seconds)
entity ``id`` (the physical counter)     ``measure.counter_id``
``dateObservedFrom``                     ``measure.start_datetime`` (inclusive)
``dateObservedTo``                       ``measure.end_datetime`` (exclusive)
``intensity`` (TrafficFlowObserved),     ``measure.count``
``peopleCount`` / ``peopleCountTowards``
/ ``peopleCountAway`` (CrowdFlowObserved)
=======================================  =================================================

Validation follows the schema: types (string, number, date-time), required fields, enums,
patterns, minimum/maximum and primary-key uniqueness (``site_id``, ``channel_id``). Where the
published schema departs from TableSchema, its evident intent is enforced:

* the channel schema declares ``required``/``enum`` directly on six fields (``temporality``,
  ``started_at``...) instead of under ``constraints``; they are enforced as constraints;
* date-times must carry a UTC offset (``Z``, ``+02``, ``+0200`` or ``+02:00``), as the
  schema's "format 1977-04-22T06:00:00Z" asks; a naive local time is ambiguous;
* a measure's ``count`` must be a finite number >= 0 (empty means "not counted") and its
  ``end_datetime`` after its ``start_datetime``; a channel's ``time_step`` must be > 0 and
  its ``ended_at`` after ``started_at``.

Exported files always satisfy both the schema and these rules: each row is checked with
the same validator before it is written, and date-times are written in UTC with ``Z``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from calanque.usecases.mobility.counts import CountRecord

__all__ = [
    "COUNTER_TYPES",
    "MOBILITY_TYPES",
    "SCHEMA_VERSION",
    "Channel",
    "ImportResult",
    "Measure",
    "MeasureSeries",
    "Site",
    "count_records",
    "export_channels",
    "export_measure_series",
    "export_measures",
    "export_sites",
    "import_channels",
    "import_measures",
    "import_sites",
    "measures_from_records",
    "schema_path",
]

SCHEMA_VERSION = "0.2.0"
MAX_CELL_CHARS = 10_000  # longer values are refused (the csv module's own limit is process-wide)
MOBILITY_TYPES = (
    "BIKE",
    "TWO WHEELS MOTORIZED",
    "PEDESTRIAN",
    "E-SCOOTER",
    "HORSE-RIDER",
    "CAR",
    "BUS",
    "MINIBUS",
    "TRUCK",
    "VAN",
    "TRAMWAY",
    "CANOE",
    "UNDEFINED",
)
COUNTER_TYPES = (
    "INDUCTIVE LOOP",
    "ELECTROMAGNETIC SENSOR",
    "PASSIVE INFRARED",
    "ACTIVE INFRARED",
    "PIEZOELECTRIC SENSOR",
    "RADAR SENSOR",
    "VIDEO SENSOR",
    "PNEUMATIC TUBE SENSOR",
    "SLAB SENSOR",
    "LIGHT BEAM SENSOR",
    "MANUAL",
    "ACOUSTIC",
    "LIDAR",
    "OPTICAL FIBER SENSOR",
    "MAGNETOMETER",
    "OTHER",
)
# Multi-valued cells: comma-separated values, exported inside quotes when there are several.
_LIST_FIELDS = {"mobility_type": MOBILITY_TYPES, "counter_type": COUNTER_TYPES, "external_ids": None}
_HINTS = {
    "fr_insee_code": "a 5-character INSEE commune code such as 13055 (Marseille) or 2A004 (not a postcode)",
    "xlong": "a WGS84 longitude in decimal degrees",
    "ylat": "a WGS84 latitude in decimal degrees",
}
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(Z|z|[+-]\d{2}(?::?\d{2})?)?")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


@dataclass(frozen=True, slots=True, kw_only=True)
class Site:
    """A counting location (one row of the ``site`` file)."""

    site_id: str
    site_name: str
    xlong: float
    ylat: float
    parent_site_id: str | None = None
    fr_insee_code: str | None = None
    external_ids: tuple[str, ...] = ()
    infrastructure_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Channel:
    """One mode and one direction counted at a site (one row of the ``channel`` file)."""

    channel_id: str
    site_id: str
    temporality: str
    started_at: datetime
    mobility_type: tuple[str, ...] = ()
    channel_provider_id: str | None = None
    site_provider_id: str | None = None
    comment: str | None = None
    counter_transmission_type: str | None = None
    publication_transmission_type: str | None = None
    counter_type: tuple[str, ...] = ()
    direction: str | None = None
    provider_direction_code: str | None = None
    provider_direction_name: str | None = None
    data_provider_name: str | None = None
    ended_at: datetime | None = None
    last_updated_at: datetime | None = None
    time_step: float | None = None
    provider_portal_url: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Measure:
    """The count of one channel over [start_datetime, end_datetime) (one row of ``measure``).

    ``count`` None means "not counted" (a gap), 0 means nobody passed; ``end_datetime`` None
    means "start + the channel's time_step".
    """

    channel_id: str
    counter_id: str
    start_datetime: datetime
    end_datetime: datetime | None = None
    count: float | None = None


RowT = TypeVar("RowT", Site, Channel, Measure)


@dataclass(slots=True)
class ImportResult(Generic[RowT]):
    """The valid rows of an imported file and one ``(line_number, reason)`` per problem found.

    Line numbers are physical lines of the file (the header is line 1). A row with a problem
    is not imported. Header problems are reported on line 1; a missing required column or an
    unreadable file leaves ``rows`` empty.
    """

    rows: list[RowT]
    errors: list[tuple[int, str]]


@dataclass(frozen=True, slots=True)
class _FieldSpec:
    """One schema field with the constraints the validator enforces."""

    name: str
    type: str
    required: bool
    enum: tuple[str, ...] | None
    pattern: re.Pattern[str] | None
    minimum: float | None
    maximum: float | None
    example: str | None


_KINDS: dict[str, type[Site] | type[Channel] | type[Measure]] = {
    "site": Site,
    "channel": Channel,
    "measure": Measure,
}


def schema_path(kind: str) -> Path:
    """Return the path of the packaged official TableSchema file for ``site``, ``channel`` or ``measure``."""
    if kind not in _KINDS:
        raise ValueError(f"unknown file kind {kind!r}; expected one of {', '.join(_KINDS)}")
    return Path(str(files(__package__).joinpath("schemas", f"schema-comptage-mobilites-{kind}.json")))


@cache
def _specs(kind: str) -> tuple[_FieldSpec, ...]:
    """Load the field specifications of ``kind`` from its schema, honouring field-level constraints."""
    descriptor = json.loads(schema_path(kind).read_text(encoding="utf-8"))
    specs = []
    for field in descriptor["fields"]:
        constraints = {**{k: field[k] for k in ("required", "enum") if k in field}, **field.get("constraints", {})}
        pattern = constraints.get("pattern")
        enum = constraints.get("enum")
        specs.append(
            _FieldSpec(
                name=field["name"],
                type=field["type"],
                required=bool(constraints.get("required", False)),
                enum=tuple(enum) if enum else None,
                pattern=re.compile(pattern) if pattern else None,
                minimum=constraints.get("minimum"),
                maximum=constraints.get("maximum"),
                example=field.get("example"),
            )
        )
    names = [spec.name for spec in specs]
    attributes = [f.name for f in fields(_KINDS[kind])]
    if sorted(names) != sorted(attributes):
        raise RuntimeError(f"schema {kind} fields {names} do not match {_KINDS[kind].__name__} {attributes}")
    return tuple(specs)


def _expected(spec: _FieldSpec) -> str:
    """Describe what a valid value of ``spec`` looks like, for error messages."""
    hint = _HINTS.get(spec.name)
    example = f"e.g. {spec.example}" if spec.example else ""
    return "; ".join(part for part in (hint, example) if part) or spec.type


def _parse_datetime(spec: _FieldSpec, text: str) -> datetime:
    """Parse an ISO 8601 date-time with a UTC offset or raise ValueError with a readable reason."""
    match = _DATETIME.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{spec.name} '{text}' is not an ISO 8601 date-time; expected YYYY-MM-DDThh:mm:ss with an offset, "
            f"e.g. {spec.example or '2019-09-07T13:15:00Z'}"
        )
    if match.group(1) is None:
        raise ValueError(
            f"{spec.name} '{text}' has no UTC offset; add 'Z' (UTC) or the local offset such as '+02:00'"
        )
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{spec.name} '{text}' is not a valid date-time ({exc})") from None


def _parse_number(spec: _FieldSpec, text: str) -> float:
    """Parse a decimal number and check the schema's minimum/maximum."""
    if _NUMBER.fullmatch(text) is None:
        hint = " (use a dot as decimal separator)" if _NUMBER.fullmatch(text.replace(",", ".", 1)) else ""
        raise ValueError(f"{spec.name} '{text}' is not a number{hint}; expected {_expected(spec)}")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{spec.name} '{text}' is too large; expected {_expected(spec)}")
    if (spec.minimum is not None and value < spec.minimum) or (spec.maximum is not None and value > spec.maximum):
        raise ValueError(
            f"{spec.name} {text} is out of range; expected between {spec.minimum} and {spec.maximum} "
            f"({_expected(spec)})"
        )
    return value


def _parse_string(spec: _FieldSpec, text: str) -> str | tuple[str, ...]:
    """Check a string against the schema's enum and pattern; split multi-valued fields."""
    if spec.enum is not None and text not in spec.enum:
        raise ValueError(f"{spec.name} '{text}' is not allowed; expected one of {', '.join(spec.enum)}")
    allowed = _LIST_FIELDS.get(spec.name)
    if allowed is not None:
        unknown = [value for value in text.split(",") if value not in allowed]
        if unknown:
            raise ValueError(
                f"{spec.name} has unknown value(s) {', '.join(repr(v) for v in unknown)}; expected one or more of "
                f"{', '.join(allowed)} separated by commas without spaces"
            )
    if spec.pattern is not None and spec.pattern.fullmatch(text) is None:
        raise ValueError(f"{spec.name} '{text}' does not match the schema pattern; expected {_expected(spec)}")
    if spec.name in _LIST_FIELDS:
        return tuple(value.strip() for value in text.split(","))
    return text


def _parse_cell(spec: _FieldSpec, text: str) -> Any:
    """Turn one CSV cell into its Python value (None when empty) or raise ValueError."""
    if text.strip() == "":
        if spec.required:
            raise ValueError(f"required field {spec.name} is empty; expected {_expected(spec)}")
        return () if spec.name in _LIST_FIELDS else None
    if spec.type == "datetime":
        return _parse_datetime(spec, text.strip())
    if spec.type == "number":
        return _parse_number(spec, text.strip())
    return _parse_string(spec, text)


def _check_channel(values: dict[str, Any]) -> None:
    """Check a channel's period and time step."""
    if values["ended_at"] is not None and values["ended_at"] <= values["started_at"]:
        raise ValueError(
            f"ended_at {values['ended_at'].isoformat()} is not after started_at {values['started_at'].isoformat()}"
        )
    if values["time_step"] is not None and values["time_step"] <= 0:
        raise ValueError(f"time_step {values['time_step']:g} must be a positive number of seconds, e.g. 900 or 3600")


def _check_measure(values: dict[str, Any]) -> None:
    """Check a measure's count and interval."""
    count = values["count"]
    if count is not None and count < 0:
        raise ValueError(
            f"count {count:g} is negative; expected the number of passages (0 or more), or empty when nothing was counted"
        )
    end = values["end_datetime"]
    if end is not None and end <= values["start_datetime"]:
        raise ValueError(
            f"end_datetime {end.isoformat()} is not after start_datetime {values['start_datetime'].isoformat()}"
        )


_ROW_CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "channel": _check_channel,
    "measure": _check_measure,
}
_PRIMARY_KEYS = {"site": "site_id", "channel": "channel_id"}


def _parse_row(kind: str, cells: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Validate one row given as {column: text}; return its values and the list of problems."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for spec in _specs(kind):
        try:
            values[spec.name] = _parse_cell(spec, cells.get(spec.name, ""))
        except ValueError as exc:
            problems.append(str(exc))
    row_check = _ROW_CHECKS.get(kind)
    if not problems and row_check is not None:
        try:
            row_check(values)
        except ValueError as exc:
            problems.append(str(exc))
    return values, problems


# --- export --------------------------------------------------------------------------------


def _format_datetime(value: datetime) -> str:
    """Format an aware datetime in UTC with a Z suffix, keeping microseconds only when present."""
    if value.tzinfo is None:
        raise ValueError(f"date-time {value.isoformat()} has no time zone; use an aware datetime")
    spec = "microseconds" if value.microsecond else "seconds"
    return value.astimezone(UTC).isoformat(timespec=spec).replace("+00:00", "Z")


def _format_number(name: str, value: float) -> str:
    """Format a number without exponent; coordinates get at least the 4 decimals the schema asks."""
    if not math.isfinite(value):
        raise ValueError(f"{name} {value!r} is not a finite number")
    text = repr(float(value))
    if "e" in text or "E" in text:
        text = f"{value:.12f}".rstrip("0")
    if name in ("xlong", "ylat"):
        whole, _, decimals = text.partition(".")
        return f"{whole}.{decimals.ljust(4, '0')}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _format_cell(name: str, value: Any) -> str:
    """Format one dataclass value as the text of its CSV cell."""
    if value is None:
        return ""
    if isinstance(value, tuple):
        if any(not isinstance(v, str) or v.strip() == "" or "," in v for v in value):
            raise ValueError(f"{name} {value!r} must hold non-empty strings without commas")
        return ",".join(value)
    if isinstance(value, datetime):
        return _format_datetime(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _format_number(name, value)
    if isinstance(value, str):
        return value
    raise ValueError(f"{name} {value!r} has unsupported type {type(value).__name__}")


def _export(kind: str, items: Iterable[Site | Channel | Measure], path: str | Path) -> int:
    """Validate and write ``items`` as the ``kind`` CSV file at ``path``; return the row count."""
    specs = _specs(kind)
    names = [spec.name for spec in specs]
    key = _PRIMARY_KEYS.get(kind)
    seen: set[str] = set()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    count = 0
    for position, item in enumerate(items, start=1):
        label = f"{kind} #{position}" + (f" ({key}={getattr(item, key)!r})" if key else "")
        try:
            cells = {name: _format_cell(name, getattr(item, name)) for name in names}
        except ValueError as exc:
            raise ValueError(f"cannot export {label}: {exc}") from None
        _, problems = _parse_row(kind, cells)
        if key is not None:
            if cells[key] in seen:
                problems.append(f"duplicate {key} '{cells[key]}'; each {kind} needs its own identifier")
            seen.add(cells[key])
        if problems:
            raise ValueError(f"cannot export {label}: {'; '.join(problems)}")
        writer.writerow([cells[name] for name in names])
        count += 1
    Path(path).write_text(buffer.getvalue(), encoding="utf-8", newline="")
    return count


def export_sites(sites: Iterable[Site], path: str | Path) -> int:
    """Write a ``site`` CSV conforming to the national schema; return the number of rows.

    Raises ValueError naming the site and the problem when a site does not conform.
    """
    return _export("site", sites, path)


def export_channels(channels: Iterable[Channel], path: str | Path) -> int:
    """Write a ``channel`` CSV conforming to the national schema; return the number of rows.

    Raises ValueError naming the channel and the problem when a channel does not conform.
    """
    return _export("channel", channels, path)


def export_measures(measures: Iterable[Measure], path: str | Path) -> int:
    """Write a ``measure`` CSV conforming to the national schema; return the number of rows.

    Raises ValueError naming the row and the problem when a measure does not conform.
    """
    return _export("measure", measures, path)


@dataclass(frozen=True, slots=True, eq=False)
class MeasureSeries:
    """The measures of one channel as arrays: each counted ``counts[i]`` passages during the
    ``period_s`` seconds ending at ``ends_us[i]`` (epoch microseconds)."""

    channel_id: str
    counter_id: str
    ends_us: np.ndarray
    counts: np.ndarray
    period_s: float


def _utc_texts(moments_us: np.ndarray) -> list[str]:
    """Epoch microseconds as :func:`_format_datetime` writes them (UTC, Z, microseconds only when present).

    Built from the distinct days and times of day, which a regular series repeats.
    """
    seconds, micros = np.divmod(np.asarray(moments_us, dtype=np.int64), 1_000_000)
    days, time_of_day = np.divmod(seconds, 86_400)
    day_values, day_index = np.unique(days, return_inverse=True)
    tod_values, tod_index = np.unique(time_of_day, return_inverse=True)
    epoch = datetime(1970, 1, 1)
    day_texts = [(epoch + timedelta(days=d)).strftime("%Y-%m-%dT") for d in day_values.tolist()]
    tod_texts = [f"{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}" for t in tod_values.tolist()]
    texts = [day_texts[d] + tod_texts[t] + "Z" for d, t in zip(day_index.tolist(), tod_index.tolist(), strict=True)]
    for i in np.nonzero(micros)[0].tolist():
        texts[i] = f"{texts[i][:-1]}.{int(micros[i]):06d}Z"
    return texts


def _count_texts(counts: np.ndarray) -> list[str]:
    """Counts as :func:`_format_number` writes them (formatted once per distinct value)."""
    values, index = np.unique(counts, return_inverse=True)
    texts = [str(int(v)) if v.is_integer() else _format_number("count", v) for v in values.tolist()]
    return [texts[i] for i in index.reshape(-1).tolist()]


def export_measure_series(
    series: Iterable[MeasureSeries], path: str | Path, progress: Callable[[int], None] | None = None
) -> int:
    """Write a ``measure`` CSV from per-channel arrays; return the number of rows.

    The file is the one :func:`export_measures` writes for the same measures, built column-wise
    (one year of 1-minute counts is half a million rows per channel): the columns that are the
    same on every row of a channel are checked once with the schema validator, and the others
    hold by construction or are checked on the arrays (counts finite and >= 0, a positive
    period). Raises ValueError naming the channel and the problem. ``progress`` is told the
    number of rows written so far after each channel.
    """
    names = [spec.name for spec in _specs("measure")]
    if names != ["channel_id", "counter_id", "start_datetime", "end_datetime", "count"]:
        raise RuntimeError(f"the measure schema's columns changed to {names}; update export_measure_series")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    total = 0
    for item in series:
        label = f"cannot export the measures of channel '{item.channel_id}'"
        ends = np.asarray(item.ends_us, dtype=np.int64)
        counts = np.asarray(item.counts, dtype=np.float64)
        if ends.shape != counts.shape:
            raise ValueError(f"{label}: {ends.size} end times but {counts.size} counts")
        if not (math.isfinite(item.period_s) and item.period_s > 0):
            raise ValueError(f"{label}: the counting period {item.period_s!r} must be a positive number of seconds")
        bad = ~np.isfinite(counts) | (counts < 0)
        if bad.any():
            raise ValueError(f"{label}: count {float(counts[int(np.argmax(bad))])!r} must be a finite number >= 0")
        if ends.size == 0:
            continue
        starts = ends - int(round(item.period_s * 1_000_000))
        cells = {"channel_id": item.channel_id, "counter_id": item.counter_id,
                 "start_datetime": _utc_texts(starts[:1])[0], "end_datetime": _utc_texts(ends[:1])[0],
                 "count": _count_texts(counts[:1])[0]}
        _, problems = _parse_row("measure", cells)
        if problems:
            raise ValueError(f"{label}: {'; '.join(problems)}")
        # The two identifiers are quoted by the CSV writer once; dates and numbers never need quoting.
        head = io.StringIO()
        csv.writer(head, lineterminator="").writerow([item.channel_id, item.counter_id, ""])
        prefix = head.getvalue()
        buffer.write("".join(
            f"{prefix}{start},{end},{count}\n"
            for start, end, count in zip(_utc_texts(starts), _utc_texts(ends), _count_texts(counts), strict=True)
        ))
        total += int(ends.size)
        if progress is not None:
            progress(total)
    Path(path).write_text(buffer.getvalue(), encoding="utf-8", newline="")
    return total


# --- import --------------------------------------------------------------------------------


def _import(
    kind: str, path: str | Path, extra_check: Callable[[dict[str, Any]], str | None] | None = None
) -> ImportResult[Any]:
    """Validate every row of the ``kind`` CSV at ``path``; keep the good rows, report the bad."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        reason = f"the file is not UTF-8 (byte 0x{data[exc.start]:02x}); re-save it encoded as UTF-8"
        return ImportResult(rows=[], errors=[(line, reason)])
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if ";" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    specs = _specs(kind)
    names = [spec.name for spec in specs]
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        return ImportResult(rows=[], errors=[(1, f"the file is empty; expected a header line: {','.join(names)}")])
    except csv.Error as exc:
        return ImportResult(rows=[], errors=[(1, f"the header cannot be read as CSV ({exc})")])
    errors: list[tuple[int, str]] = []
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        errors.append((1, f"column(s) {', '.join(duplicated)} appear more than once in the header"))
    missing_required = [spec.name for spec in specs if spec.required and spec.name not in header]
    if missing_required:
        errors.append((1, f"missing required column(s) {', '.join(missing_required)}; expected header: {','.join(names)}"))
    if duplicated or missing_required:
        return ImportResult(rows=[], errors=errors)
    missing = [name for name in names if name not in header]
    if missing:
        errors.append((1, f"column(s) {', '.join(missing)} missing; the schema expects them (read as empty)"))
    unknown = [name for name in header if name not in names]
    if unknown:
        errors.append((1, f"unknown column(s) {', '.join(unknown)} ignored; expected columns: {','.join(names)}"))

    row_class = _KINDS[kind]
    key = _PRIMARY_KEYS.get(kind)
    first_seen: dict[str, int] = {}
    rows: list[Any] = []
    end_of_previous = reader.line_num
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. a value longer than the csv module's field limit
            errors.append((end_of_previous + 1, f"cannot be read as CSV ({exc}); the rest of the file is ignored"))
            break
        line = end_of_previous + 1
        end_of_previous = reader.line_num
        if not cells:
            continue
        if len(cells) != len(header):
            errors.append(
                (line, f"row has {len(cells)} values but the header has {len(header)} columns; "
                       "quote values that contain the delimiter")
            )
            continue
        if all(cell.strip() == "" for cell in cells):
            errors.append((line, "blank row (every value is empty); remove it"))
            continue
        too_long = [name for name, cell in zip(header, cells, strict=True) if len(cell) > MAX_CELL_CHARS]
        if too_long:
            errors.append((line, f"value(s) of {', '.join(too_long)} longer than {MAX_CELL_CHARS} characters"))
            continue
        values, problems = _parse_row(kind, dict(zip(header, cells, strict=True)))
        if not problems and key is not None:
            if values[key] in first_seen:
                problems.append(f"duplicate {key} '{values[key]}' (first on line {first_seen[values[key]]})")
            else:
                first_seen[values[key]] = line
        if not problems and extra_check is not None:
            problem = extra_check(values)
            if problem:
                problems.append(problem)
        if problems:
            errors.append((line, "; ".join(problems)))
        else:
            rows.append(row_class(**values))
    return ImportResult(rows=rows, errors=errors)


RowCheck = Callable[[dict[str, Any]], str | None]


def import_sites(path: str | Path, check: RowCheck | None = None) -> ImportResult[Site]:
    """Import a ``site`` CSV (comma or semicolon separated, UTF-8), reporting each bad row by line.

    ``check``, when given, sees each row's values once they conform to the schema and returns
    a reason to reject the row (reported on its line), or None to keep it.
    """
    return _import("site", path, check)


def import_channels(path: str | Path, check: RowCheck | None = None) -> ImportResult[Channel]:
    """Import a ``channel`` CSV (comma or semicolon separated, UTF-8), reporting each bad row by line.

    ``check`` as in :func:`import_sites`.
    """
    return _import("channel", path, check)


def import_measures(
    path: str | Path, channels: Mapping[str, Channel] | None = None, check: RowCheck | None = None
) -> ImportResult[Measure]:
    """Import a ``measure`` CSV (comma or semicolon separated, UTF-8), reporting each bad row by line.

    With ``channels`` (by ``channel_id``, e.g. from :func:`import_channels`), a measure must
    refer to a known channel, and an empty ``end_datetime`` needs that channel's ``time_step``.
    ``check`` as in :func:`import_sites`, run after the channel checks.
    """
    if channels is None:
        return _import("measure", path, check)

    def check_channel(values: dict[str, Any]) -> str | None:
        """Check the measure's channel exists and gives a time step when the end is empty."""
        channel = channels.get(values["channel_id"])
        if channel is None:
            return f"channel_id '{values['channel_id']}' is not in the channel file; add the channel or fix the id"
        if values["end_datetime"] is None and channel.time_step is None:
            return (
                f"end_datetime is empty and channel '{channel.channel_id}' has no time_step; "
                "fill end_datetime or the channel's time_step"
            )
        return check(values) if check is not None else None

    return _import("measure", path, check_channel)


# --- conversion to and from count records ---------------------------------------------------


def measures_from_records(
    records: Iterable[CountRecord], channel_ids: Mapping[str, str], counter_id: str
) -> list[Measure]:
    """Turn count records into measures; ``channel_ids`` maps each record direction to its channel."""
    measures = []
    for record in records:
        channel_id = channel_ids.get(record.direction)
        if channel_id is None:
            raise ValueError(
                f"no channel for direction '{record.direction}'; expected one of {', '.join(sorted(channel_ids))}"
            )
        measures.append(
            Measure(
                channel_id=channel_id,
                counter_id=counter_id,
                start_datetime=record.start,
                end_datetime=record.end,
                count=record.count,
            )
        )
    return measures


def count_records(measures: Iterable[Measure], channels: Mapping[str, Channel]) -> list[CountRecord]:
    """Turn measures into count records for :mod:`.counts`; measures without a count (gaps) are skipped.

    A record's direction is its channel's ``provider_direction_code``, else its compass
    ``direction``, else its ``channel_id``. An empty ``end_datetime`` is start + ``time_step``.
    """
    records = []
    for measure in measures:
        if measure.count is None:
            continue
        channel = channels.get(measure.channel_id)
        if channel is None:
            raise ValueError(f"measure refers to unknown channel_id '{measure.channel_id}'; import its channel first")
        end = measure.end_datetime
        if end is None:
            if channel.time_step is None:
                raise ValueError(
                    f"measure of channel '{channel.channel_id}' at {measure.start_datetime.isoformat()} has no "
                    "end_datetime and the channel has no time_step"
                )
            end = measure.start_datetime + timedelta(seconds=channel.time_step)
        direction = channel.provider_direction_code or channel.direction or channel.channel_id
        records.append(CountRecord(measure.start_datetime, end, direction, measure.count))
    return records
