"""HTTP API of the air-quality example use case, mounted at /api/v1/airquality."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Query, Request

from calanque.usecases import common

from .usecase import ANNUAL_LIMIT_UG_M3, ENTITY_TYPE


def mean_no2(request: Request, entity_id: str, start: str | None, end: str | None) -> dict[str, Any]:
    """The arithmetic mean of the NO2 readings of one station observed in [from, to)."""
    window = common.parse_window(start, end, default=timedelta(days=1), max_period=common.max_period_of(request))
    tenant, _ = common.load_entity(request, entity_id, (ENTITY_TYPE,))
    _, values = common.series(request, tenant, entity_id, "NO2", *window)
    mean = math.fsum(values) / len(values) if values else None
    return {
        "entityId": entity_id,
        "from": window[0].isoformat(),
        "to": window[1].isoformat(),
        "unit": "µg/m³",
        "samples": len(values),
        "mean": mean,
        "annualLimit": ANNUAL_LIMIT_UG_M3,
        "aboveAnnualLimit": None if mean is None else mean > ANNUAL_LIMIT_UG_M3,
    }


def router() -> APIRouter:
    """The air-quality API."""
    api = APIRouter()

    @api.get("/{entityId}/no2", summary="Mean NO2 of one station over a period")
    def no2(
        request: Request, entityId: str,
        start: str | None = Query(None, alias="from", description="Start, included (ISO 8601)."),
        end: str | None = Query(None, alias="to", description="End, excluded (ISO 8601). Default: now; 24 h."),
    ) -> dict[str, Any]:
        """Arithmetic mean of the NO2 readings (µg/m³) observed in [from, to), against the annual limit."""
        return mean_no2(request, entityId, start, end)

    return api
