"""`calanque mobility …`: export and import the national "comptage des mobilités" CSV files."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

_STEPS = {"read": "reading the files", "history": "writing count history", "measure": "writing measure.csv",
          "channel": "writing site.csv and channel.csv"}


def _store_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options choosing the store and the tenant."""
    func = click.option("--tenant", default="", show_default=True,
                        help="NGSI-LD tenant (empty: the default tenant).")(func)
    func = click.option("--database-url", default=None, envvar="CALANQUE_DATABASE_URL",
                        help="PostgreSQL URL instead of the embedded store.")(func)
    func = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                        default=Path("calanque-data"), show_default=True, help="Embedded store directory.")(func)
    return func


def _open_store(data_dir: Path, database_url: str | None) -> Any:
    """Open the store named by the options, as a click error when it cannot be opened."""
    from calanque.store.base import open_store

    try:
        return open_store(database_url, str(data_dir))
    except (RuntimeError, ValueError) as err:
        raise click.ClickException(str(err)) from err


def _moment(value: str | None, name: str) -> datetime | None:
    """Parse a --from/--to option (ISO 8601 date-time, or a date taken as 00:00 UTC)."""
    if value is None:
        return None
    from calanque.ngsild.errors import NgsiLdError
    from calanque.usecases.common import parse_time

    try:
        return parse_time(value, name)
    except NgsiLdError as err:
        raise click.BadParameter(err.detail, param_hint=f"--{name}") from None


class _Bar:
    """A rich progress display with one task per step, fed by (step, done, total) callbacks."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def __call__(self, step: str, done: int, total: int | None) -> None:
        """Show that ``done`` of ``total`` (None: unknown) items of ``step`` are done."""
        if step not in self.tasks:
            self.tasks[step] = self.progress.add_task(_STEPS.get(step, step), total=total)
        self.progress.update(self.tasks[step], completed=done, total=total)


@click.group(name="mobility")
def cli() -> None:
    """Bike and pedestrian counters: the national open-data files "comptage des mobilités"."""


@cli.command("export")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write site.csv, channel.csv and measure.csv into (created if needed).")
@click.option("--from", "start", default=None, help="Export counts observed from this ISO 8601 time (default: all).")
@click.option("--to", "end", default=None, help="… and before this one (default: all).")
@_store_options
def export(out: Path, start: str | None, end: str | None, data_dir: Path, database_url: str | None,
           tenant: str) -> None:
    """Export the tenant's counters and counts as the national schema's three CSV files."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from calanque.usecases.mobility.exchange import export_folder

    window = (_moment(start, "from"), _moment(end, "to"))
    if window[0] and window[1] and window[0] >= window[1]:
        raise click.BadParameter("--from must be before --to", param_hint="--from")
    store = _open_store(data_dir, database_url)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn()) as progress:
            result = export_folder(store, tenant, out, *window, progress=_Bar(progress))
    finally:
        store.close()
    for counter_id, reason in result.skipped:
        click.echo(f"skipped {counter_id}: {reason}", err=True)
    click.echo(f"{result.rows['site']} sites, {result.rows['channel']} channels, {result.rows['measure']} measures "
               f"written to {out}")


@cli.command("import")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_store_options
def import_(folder: Path, data_dir: Path, database_url: str | None, tenant: str) -> None:
    """Import counters and counts from FOLDER's site.csv, channel.csv and measure.csv.

    Rows that break the national schema or Calanque's rules are listed by file and line and
    left out; the others become TrafficFlowObserved (BIKE) or CrowdFlowObserved (PEDESTRIAN)
    entities with their count history. Counts already stored are skipped, so importing the
    same files twice adds nothing.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from calanque.ngsild.service import Broker
    from calanque.usecases.mobility.exchange import ImportFilesError, import_folder

    store = _open_store(data_dir, database_url)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn()) as progress:
            try:
                report = import_folder(Broker(store), tenant, folder, progress=_Bar(progress))
            except ImportFilesError as err:
                raise click.ClickException(str(err)) from None
    finally:
        store.close()
    for kind, file_report in report.files.items():
        for line, reason in file_report.errors:
            click.echo(f"{kind}.csv line {line}: {reason}", err=True)
    for counter_id, reason in report.counter_errors:
        click.echo(f"counter {counter_id}: {reason}", err=True)
    click.echo(f"{len(report.counters)} counters written ({len(report.created)} new), {report.samples} counts "
               f"imported, {report.already_stored} already stored, {report.gaps} gaps skipped, "
               f"{sum(len(r.errors) for r in report.files.values())} rows rejected")
    if report.imported_nothing:
        raise click.ClickException("nothing was imported")
