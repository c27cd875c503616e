"""Client of the Hub'Eau hydrometry API v2, real-time observations (``observations_tr``).

Documented at https://hubeau.eaufrance.fr/page/api-hydrometrie. A page is a JSON object
``{"count", "first", "last", "prev", "next", "api_version", "data": [...]}``; each row has
``code_station``, ``date_obs`` (ISO 8601 UTC), ``resultat_obs`` and ``grandeur_hydro``
(``"H"`` water height in mm, ``"Q"`` discharge in l/s), plus qualification fields and the
station's ``longitude``/``latitude`` (WGS84 degrees, kept on each observation). The
server answers 206 while more pages remain and 200 on the last one; ``next`` is the URL of the
following page carrying an opaque ``cursor`` query parameter, and is null on the last page.

The client re-sends its own query with that ``cursor`` to its configured base URL (it never
follows the host written in ``next``), converts H mm → m and Q l/s → m³/s, drops rows repeated
on (code_station, date_obs, grandeur_hydro) — keeping the first — and rows without a result,
and returns observations sorted by station, quantity and time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qs, urlparse

import httpx

from calanque.ngsild.canonical import parse_ts

DEFAULT_BASE_URL = "https://hubeau.eaufrance.fr/api/v2/hydrometrie"
OBSERVATIONS_PATH = "/observations_tr"
Quantity = Literal["H", "Q"]
# Hub'Eau unit → SI unit: H mm → m, Q l/s → m³/s; both divide by 1000.
_CONVERSIONS: dict[str, tuple[float, str]] = {"H": (1000.0, "m"), "Q": (1000.0, "m3/s")}


class HubEauError(Exception):
    """Hub'Eau could not be queried or answered something unusable."""


@dataclass(frozen=True)
class HydroObservation:
    """One real-time hydrometric observation in SI units (H in m, Q in m³/s), with the station's position."""

    station: str
    observed_at: datetime
    quantity: Quantity
    value: float
    unit: str
    qualification: str | None
    longitude: float | None = field(default=None, compare=False)  # WGS84 degrees, when Hub'Eau gives them
    latitude: float | None = field(default=None, compare=False)


def _format_date(value: datetime, what: str) -> str:
    """Format an aware datetime as Hub'Eau expects (UTC, second precision)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} {value.isoformat()} must be an aware datetime")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_row(row: Any, index: int, url: str) -> HydroObservation | None:
    """Convert one Hub'Eau row; None for a row without a result."""
    if not isinstance(row, dict):
        raise HubEauError(f"Hub'Eau row #{index} from {url} is not a JSON object: {row!r}")
    missing = [k for k in ("code_station", "date_obs", "grandeur_hydro", "resultat_obs") if k not in row]
    if missing:
        raise HubEauError(f"Hub'Eau row #{index} from {url} lacks the field(s) {', '.join(missing)}")
    quantity = row["grandeur_hydro"]
    if quantity not in _CONVERSIONS:
        raise HubEauError(f"Hub'Eau row #{index} from {url} has grandeur_hydro {quantity!r}; "
                          "expected 'H' or 'Q'")
    raw = row["resultat_obs"]
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise HubEauError(f"Hub'Eau row #{index} from {url} has a non-numeric resultat_obs {raw!r}")
    station = row["code_station"]
    if not isinstance(station, str) or not station:
        raise HubEauError(f"Hub'Eau row #{index} from {url} has an invalid code_station {station!r}")
    try:
        observed_at = parse_ts(row["date_obs"])
    except ValueError as exc:
        raise HubEauError(f"Hub'Eau row #{index} from {url} has an invalid date_obs: {exc}") from None
    divisor, unit = _CONVERSIONS[quantity]
    qualification = row.get("libelle_qualification_obs")
    lon, lat = _coordinate(row.get("longitude"), 180.0), _coordinate(row.get("latitude"), 90.0)
    return HydroObservation(station, observed_at, quantity, raw / divisor, unit,
                            qualification if isinstance(qualification, str) else None,
                            lon if lat is not None else None, lat if lon is not None else None)


def _coordinate(value: Any, bound: float) -> float | None:
    """A longitude or latitude in degrees, or None when absent or out of range."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value) if -bound <= value <= bound else None


def _read_page(response: httpx.Response) -> tuple[list[Any], str | None]:
    """Check one HTTP answer and return its rows and the next cursor (None on the last page)."""
    url = str(response.request.url)
    if response.status_code not in (200, 206):
        raise HubEauError(f"Hub'Eau answered HTTP {response.status_code} to {url}: {response.text[:300]}")
    try:
        body = response.json()
    except ValueError as exc:
        raise HubEauError(f"Hub'Eau answered {url} with malformed JSON ({exc}); "
                          "expected a page object") from None
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise HubEauError(f"Hub'Eau answer to {url} has no 'data' list; expected the v2 page format")
    nxt = body.get("next")
    if nxt is None:
        return body["data"], None
    cursor = parse_qs(urlparse(str(nxt)).query).get("cursor", [None])[0] if isinstance(nxt, str) else None
    if not cursor:
        raise HubEauError(f"Hub'Eau answer to {url} has a 'next' link without a cursor: {nxt!r}")
    return body["data"], cursor


class _Pages:
    """Accumulates pages: cursor loop detection, conversion and de-duplication."""

    def __init__(self, max_pages: int) -> None:
        self.max_pages = max_pages
        self.pages = 0
        self.seen_cursors: set[str] = set()
        self.keys: set[tuple[str, datetime, str]] = set()
        self.observations: list[HydroObservation] = []

    def add(self, response: httpx.Response) -> str | None:
        """Take one page; return the cursor of the next page to fetch, or None when done."""
        rows, cursor = _read_page(response)
        url = str(response.request.url)
        self.pages += 1
        for index, row in enumerate(rows):
            obs = _parse_row(row, index, url)
            if obs is None:
                continue
            key = (obs.station, obs.observed_at, obs.quantity)
            if key not in self.keys:
                self.keys.add(key)
                self.observations.append(obs)
        if cursor is None:
            return None
        if cursor in self.seen_cursors:
            raise HubEauError(f"Hub'Eau returned the paging cursor {cursor!r} twice; "
                              "stopping to avoid a loop")
        if self.pages >= self.max_pages:
            raise HubEauError(f"Hub'Eau result exceeds {self.max_pages} pages; "
                              "narrow the date range or raise max_pages")
        self.seen_cursors.add(cursor)
        return cursor

    def result(self) -> list[HydroObservation]:
        """Observations sorted by station, quantity and time."""
        return sorted(self.observations, key=lambda o: (o.station, o.quantity, o.observed_at))


class HubEauClient:
    """Synchronous and asynchronous reader of Hub'Eau real-time hydrometric observations."""

    def __init__(self, base_url: str = DEFAULT_BASE_URL, timeout: float = 10.0, page_size: int = 1000,
                 max_pages: int = 1000) -> None:
        if not 1 <= page_size <= 20000:
            raise ValueError(f"page_size must be within 1..20000 (Hub'Eau's maximum), got {page_size}")
        if max_pages < 1:
            raise ValueError(f"max_pages must be at least 1, got {max_pages}")
        self.url = base_url.rstrip("/") + OBSERVATIONS_PATH
        self.timeout = timeout
        self.page_size = page_size
        self.max_pages = max_pages

    def _params(self, stations: str | Sequence[str], quantity: Quantity | None, start: datetime | None,
                end: datetime | None) -> dict[str, str]:
        """Query parameters of the first page."""
        codes = [stations] if isinstance(stations, str) else list(stations)
        if not codes or not all(isinstance(c, str) and c for c in codes):
            raise ValueError(f"stations must be one or more non-empty station codes, got {stations!r}")
        params = {"code_entite": ",".join(codes), "size": str(self.page_size), "sort": "asc"}
        if quantity is not None:
            if quantity not in _CONVERSIONS:
                raise ValueError(f"quantity must be 'H' (height) or 'Q' (discharge), got {quantity!r}")
            params["grandeur_hydro"] = quantity
        if start is not None:
            params["date_debut_obs"] = _format_date(start, "start")
        if end is not None:
            params["date_fin_obs"] = _format_date(end, "end")
        return params

    def observations(self, stations: str | Sequence[str], quantity: Quantity | None = None,
                     start: datetime | None = None, end: datetime | None = None) -> list[HydroObservation]:
        """Fetch every page of real-time observations of the station(s); raises HubEauError on failure."""
        params = self._params(stations, quantity, start, end)
        pages = _Pages(self.max_pages)
        try:
            with httpx.Client(timeout=self.timeout) as client:
                cursor = pages.add(client.get(self.url, params=params))
                while cursor is not None:
                    cursor = pages.add(client.get(self.url, params={**params, "cursor": cursor}))
        except httpx.HTTPError as exc:
            raise HubEauError(f"could not reach Hub'Eau at {self.url}: {type(exc).__name__}: {exc}") from None
        return pages.result()

    async def observations_async(self, stations: str | Sequence[str], quantity: Quantity | None = None,
                                 start: datetime | None = None, end: datetime | None = None
                                 ) -> list[HydroObservation]:
        """Asynchronous variant of :meth:`observations`."""
        params = self._params(stations, quantity, start, end)
        pages = _Pages(self.max_pages)
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                cursor = pages.add(await client.get(self.url, params=params))
                while cursor is not None:
                    cursor = pages.add(await client.get(self.url, params={**params, "cursor": cursor}))
        except httpx.HTTPError as exc:
            raise HubEauError(f"could not reach Hub'Eau at {self.url}: {type(exc).__name__}: {exc}") from None
        return pages.result()
