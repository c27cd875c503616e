"""`calanque water …` commands: the Hub'Eau real-time hydrometry import."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from calanque.ngsild.canonical import format_ts
from calanque.ngsild.errors import BadRequestData
from calanque.usecases.common import parse_time
from calanque.usecases.water import importer
from calanque.usecases.water.hubeau import DEFAULT_BASE_URL, HubEauClient, HubEauError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def water() -> None:
    """Water use case: river levels, water quality and the Hub'Eau hydrometry import."""


def _moment(value: str, option: str) -> datetime:
    """Parse an option holding an ISO 8601 date (00:00 UTC) or date-time."""
    try:
        return parse_time(value, option)
    except BadRequestData as err:
        raise click.BadParameter(err.detail, param_hint=f"--{option}") from None


@water.command("import-hubeau")
@click.option("--station", "stations", multiple=True, required=True,
              help="Hub'Eau station code (code_station), e.g. Y442404001. Repeat for several stations.")
@click.option("--since", required=True, help="Start of the period: ISO 8601 date (00:00 UTC) or date-time.")
@click.option("--until", default=None, help="End of the period (ISO 8601). Default: now.")
@click.option("--base-url", default=DEFAULT_BASE_URL, envvar="CALANQUE_HUBEAU_BASE_URL", show_default=True,
              help="Hub'Eau hydrometry API base URL (a mirror or a recorded server).")
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(0.1, 600),
              help="Seconds to wait for each Hub'Eau page.")
@click.option("--tenant", default="", show_default=True, help="NGSI-LD tenant (empty: the default tenant).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("calanque-data"),
              show_default=True, help="Embedded store directory.")
@click.option("--database-url", default=None, envvar="CALANQUE_DATABASE_URL",
              help="PostgreSQL URL instead of the embedded store.")
def import_hubeau(stations: tuple[str, ...], since: str, until: str | None, base_url: str, timeout: float,
                  tenant: str, data_dir: Path, database_url: str | None) -> None:
    """Import Hub'Eau real-time water heights and flows into WaterObserved entities with their history.

    Station CODE becomes urn:ngsi-ld:WaterObserved:hubeau-CODE with height (m) and flow (m³/s);
    each value is stored at its observation time. Observations already stored are skipped, and
    so are those older than the entity's current value (reported as "older").
    """
    from rich.progress import Progress

    from calanque.ngsild.service import Broker
    from calanque.store.base import open_store

    try:
        codes = importer.check_stations(stations)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--station") from None
    start = _moment(since, "since")
    end = _moment(until, "until") if until else datetime.now(UTC)
    if start >= end:
        raise click.BadParameter(f"{format_ts(start)} is not before {format_ts(end)}", param_hint="--since")
    client = HubEauClient(base_url=base_url, timeout=timeout)
    try:
        store = open_store(database_url, str(data_dir))
    except (RuntimeError, ValueError) as err:
        raise click.ClickException(str(err)) from err
    try:
        with Progress(transient=True) as bar:
            fetching = bar.add_task("fetching from Hub'Eau", total=len(codes))
            observations = importer.fetch(client, codes, start, end,
                                          on_station=lambda code, n: bar.advance(fetching))
            writing = bar.add_task("writing observations", total=len(observations))
            reports = importer.import_observations(Broker(store), tenant, codes, observations,
                                                   progress=lambda n: bar.advance(writing, n))
    except HubEauError as err:
        raise click.ClickException(str(err)) from err
    except importer.ImportFailed as err:
        raise click.ClickException(str(err)) from err
    finally:
        store.close()
    for r in reports:
        click.echo(f"{r.station}\t{r.entity_id}\t{r.fetched} fetched, {r.written} written, "
                   f"{r.duplicates} already stored, {r.older} older than the current value")
    click.echo(f"{sum(r.written for r in reports)} observations written from {client.url} "
               f"({format_ts(start)} to {format_ts(end)})")
