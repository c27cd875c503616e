"""The `calanque` command line: serve the platform, manage its store, and more."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from calanque import __version__


def _export_settings(**options: object) -> None:
    """Pass CLI options to worker processes through CALANQUE_* environment variables."""
    for name, value in options.items():
        if value is not None:
            os.environ[f"CALANQUE_{name.upper()}"] = str(value)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="calanque")
def main() -> None:
    """Calanque: an open smart-territory data platform speaking ETSI NGSI-LD.

    Start with `calanque serve` (embedded SQLite store in ./calanque-data) or
    `calanque serve --database-url postgresql://…` for production.
    """


def _serve_options(func):  # type: ignore[no-untyped-def]
    """The options shared by `serve` and `demo`."""
    func = click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")(func)
    func = click.option("--port", default=1026, show_default=True, type=int,
                        help="TCP port (1026 is the NGSI-LD convention).")(func)
    func = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("calanque-data"),
                        show_default=True, help="Where the embedded SQLite store keeps its data.")(func)
    return func


@main.command()
@_serve_options
@click.option("--database-url", default=None, envvar="CALANQUE_DATABASE_URL",
              help="postgresql://user@host/db to run on PostgreSQL instead of the embedded store.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes (stateless; share the store).")
@click.option("--context-preload", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="JSON file mapping @context URLs to local files, for offline deployments.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]), help="Server log level.")
@click.option("--mqtt", "mqtt_url", default=None, envvar="CALANQUE_MQTT_URL",
              help="MQTT broker of the network servers, for downlink commands (mqtt://host:port).")
@click.option("--no-auth", is_flag=True,
              help="Run without authentication (local development, conformance tests): loopback --host only.")
@click.option("--postgis", type=click.Choice(["auto", "on", "off"]), default=None, envvar="CALANQUE_POSTGIS",
              help="On PostgreSQL, evaluate geo-queries with PostGIS: auto (when the extension is installed; "
                   "the default), on (required) or off. Results are the same either way.")
def serve(host: str, port: int, data_dir: Path, database_url: str | None, workers: int,
          context_preload: Path | None, log_level: str, mqtt_url: str | None, no_auth: bool,
          postgis: str | None) -> None:
    """Run the NGSI-LD API server (migrations run at start-up)."""
    import uvicorn

    from calanque.auth.model import is_loopback

    if no_auth or os.environ.get("CALANQUE_AUTH", "").lower() in ("0", "false", "no", "off"):
        if not is_loopback(host):
            raise click.BadParameter(f"without authentication the server only listens on a loopback address "
                                     f"(127.0.0.1, ::1), not {host}", param_hint="--no-auth/--host")
        os.environ["CALANQUE_AUTH"] = "false"
    _export_settings(host=host, port=port, data_dir=data_dir.resolve(), database_url=database_url,
                     context_preload=context_preload.resolve() if context_preload else None, workers=workers,
                     mqtt_url=mqtt_url, postgis=postgis)
    where = database_url or f"SQLite in {data_dir.resolve()}"
    click.echo(f"Calanque {__version__}: NGSI-LD API on http://{host}:{port}/ngsi-ld/v1 (store: {where})")
    click.echo(f"  API documentation: http://{host}:{port}/docs")
    uvicorn.run("calanque.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, access_log=False,
                timeout_graceful_shutdown=5)  # open live-update streams must not hold a stop for minutes


@main.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("calanque-data"),
              show_default=True, help="Embedded store directory.")
@click.option("--database-url", default=None, envvar="CALANQUE_DATABASE_URL", help="PostgreSQL URL instead.")
def migrate(data_dir: Path, database_url: str | None) -> None:
    """Apply pending schema migrations and exit."""
    from calanque.store.base import open_store

    try:
        store = open_store(database_url, str(data_dir))
    except RuntimeError as err:
        raise click.ClickException(str(err)) from err
    store.close()
    click.echo("schema up to date")


# devices and dead letters (calanque.devices) -----------------------------------------------
def _store_options(func):  # type: ignore[no-untyped-def]
    """The options choosing the store and the tenant, shared by the device commands."""
    func = click.option("--tenant", default="", show_default=True,
                        help="NGSI-LD tenant (empty: the default tenant).")(func)
    func = click.option("--database-url", default=None, envvar="CALANQUE_DATABASE_URL",
                        help="PostgreSQL URL instead of the embedded store.")(func)
    func = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                        default=Path("calanque-data"), show_default=True, help="Embedded store directory.")(func)
    return func


def _open_store(data_dir: Path, database_url: str | None):  # type: ignore[no-untyped-def]
    """Open the store named by the options, as a click error when it cannot be opened."""
    from calanque.store.base import open_store

    try:
        return open_store(database_url, str(data_dir))
    except (RuntimeError, ValueError) as err:
        raise click.ClickException(str(err)) from err


@main.group()
def devices() -> None:
    """Manage the device registry (LoRaWAN and other field devices)."""


def _import_help() -> str:
    """The help of `devices import`: the CSV format documented in calanque.devices.importer."""
    from calanque.devices import importer

    doc = importer.__doc__ or ""
    paragraphs = doc.split("\n", 2)[2].strip().split("\n\n")
    return "Provision devices in bulk from a CSV file.\n\n" + "\n\n".join("\b\n" + p for p in paragraphs)


@devices.command("import", help=_import_help())
@click.argument("csv_file", type=click.Path(dir_okay=False, path_type=Path))
@_store_options
@click.option("--dry-run", is_flag=True, help="Validate and report only; write nothing.")
def devices_import(csv_file: Path, data_dir: Path, database_url: str | None, tenant: str, dry_run: bool) -> None:
    """Provision devices in bulk from a CSV file."""
    from rich.progress import Progress

    from calanque.devices.importer import ImportFileError, errors_by_line, import_devices, read_csv

    store = _open_store(data_dir, database_url)
    try:
        try:
            good, _ = read_csv(csv_file)
        except ImportFileError as err:
            raise click.ClickException(str(err)) from err
        with Progress(transient=True) as bar:
            task = bar.add_task("importing devices", total=len(good))
            report = import_devices(store, csv_file, tenant=tenant, dry_run=dry_run,
                                    progress=lambda n: bar.advance(task, n))
    finally:
        store.close()
    rejected = errors_by_line(report.errors)
    for line, reasons in rejected:
        click.echo(f"line {line}: {reasons}", err=True)
    if dry_run:
        click.echo(f"dry run: {report.valid} valid rows, {len(rejected)} rejected; nothing written")
    else:
        click.echo(f"{report.created} devices created, {report.updated} updated, {len(rejected)} rows rejected")
    if report.valid == 0:
        raise click.ClickException("no valid row to import")


@devices.command("list")
@_store_options
@click.option("--status", type=click.Choice(["active", "inactive", "maintenance", "decommissioned"]), default=None)
@click.option("--silent", is_flag=True, help="Only active devices silent for longer than --silent-factor times their "
              "expected period (1 h when their record gives none), and those never heard.")
@click.option("--silent-factor", type=click.FloatRange(1, 1000), default=3.0, show_default=True,
              help="Expected periods without an uplink that make a device silent.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True)
def devices_list(data_dir: Path, database_url: str | None, tenant: str, status: str | None, silent: bool,
                 silent_factor: float, limit: int) -> None:
    """List registered devices: id, status, model, codec, commune, last seen, name."""
    from datetime import UTC, datetime

    from calanque.devices.repository import SilentRule, list_devices

    rule = SilentRule(datetime.now(UTC), silent_factor) if silent else None
    store = _open_store(data_dir, database_url)
    try:
        with store.session() as session:
            items, total = list_devices(session, tenant, status=status, silent=rule, limit=limit)
    finally:
        store.close()
    for d in items:
        seen = d.last_seen.isoformat() if d.last_seen else "never"
        click.echo(f"{d.id}\t{d.status}\t{d.device_model}\t{d.codec}\t{d.commune or '-'}\t{seen}\t{d.name}")
    click.echo(f"{len(items)} of {total} {'silent ' if silent else ''}devices", err=True)


@main.group()
def deadletter() -> None:
    """Inspect and retry ingestion messages that failed (dead letters)."""


@deadletter.command("list")
@_store_options
@click.option("--status", type=click.Choice(["pending", "retried", "resolved"]), default=None)
@click.option("--kind", type=click.Choice(["parse", "unknown_device", "decode", "mapping", "store"]), default=None)
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
def deadletter_list(data_dir: Path, database_url: str | None, tenant: str, status: str | None,
                    kind: str | None, limit: int) -> None:
    """List dead letters: id, received time, status, attempts, kind, source, reason."""
    from calanque.devices.deadletters import list_dead_letters

    store = _open_store(data_dir, database_url)
    try:
        with store.session() as session:
            items, total = list_dead_letters(session, tenant, status=status, error_kind=kind, limit=limit)
    finally:
        store.close()
    for d in items:
        click.echo(f"{d.id}\t{d.received_at.isoformat()}\t{d.status}\t{d.attempts}\t{d.error_kind}\t"
                   f"{d.connector} {d.topic}\t{d.reason}")
    click.echo(f"{len(items)} of {total} dead letters", err=True)


@deadletter.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "retry_all", is_flag=True, help="Retry every dead letter not yet resolved.")
@_store_options
def deadletter_retry(ids: tuple[int, ...], retry_all: bool, data_dir: Path, database_url: str | None,
                     tenant: str) -> None:
    """Hand dead letters (by ID, or --all unresolved) back to the ingestion pipeline."""
    from calanque.devices import deadletters as dl

    if bool(ids) == retry_all:
        raise click.UsageError("give dead-letter IDs or --all (not both)")
    store = _open_store(data_dir, database_url)
    try:
        handler = dl.default_retry_handler(store)
        with store.session() as session:
            if retry_all:
                letters = [d for status in ("pending", "retried")
                           for d in dl.list_dead_letters(session, tenant, status=status, limit=1_000_000)[0]]
            else:
                letters = []
                for letter_id in dict.fromkeys(ids):
                    letter = dl.get_dead_letter(session, tenant, letter_id)
                    if letter is None:
                        raise click.ClickException(f"no dead letter {letter_id} in tenant '{tenant}'")
                    letters.append(letter)
        result = dl.retry_many(store, handler, letters)
    finally:
        store.close()
    for failure in result["failed"]:
        click.echo(f"{failure['id']}: still failing: {failure['error']}", err=True)
    click.echo(f"{result['attempted']} retried, {result['resolved']} resolved, {len(result['failed'])} failed")
    if result["failed"]:
        sys.exit(1)


# the demo: platform + simulated fleet -----------------------------------------------------------
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@main.command()
@_serve_options
@click.option("--backfill", default="24h", show_default=True, metavar="DURATION",
              help="Simulated history sent at start-up, as fast as possible (e.g. 6h, 2d; 0 for none).")
@click.option("--speed", type=click.FloatRange(0, min_open=True), default=None,
              help="After the backfill, run the fleet's clock this many times faster than real time "
                   "(default: real time).")
@click.option("--scale", type=click.FloatRange(0, min_open=True), default=1.0, show_default=True,
              help="Multiply the size of the demo fleet.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the simulated fleet.")
def demo(host: str, port: int, data_dir: Path, backfill: str, speed: float | None, scale: float, seed: int) -> None:
    """Start the platform on its embedded store with a simulated fleet feeding it, in one step.

    The API server starts on --host/--port with SQLite in --data-dir; the fleet (noise sensors,
    waste containers, river and water-quality probes, bike and pedestrian counters, streetlights
    and cabinets across Aix-Marseille-Provence) is provisioned, its last --backfill of history is
    sent through the real ingestion endpoints, then it keeps reporting live. The demo runs without
    authentication, so it only listens on a loopback address. Stop it with Ctrl-C.
    """
    from calanque.demo import run_demo

    if host not in _LOOPBACK:
        raise click.BadParameter(f"the demo runs without authentication and only listens on a loopback address "
                                 f"(127.0.0.1, ::1), not {host}", param_hint="--host")
    os.environ["CALANQUE_AUTH"] = "false"  # the demo's Settings come from the environment
    run_demo(host=host, port=port, data_dir=data_dir, backfill=backfill, speed=speed, scale=scale, seed=seed)


def _mount_simulator() -> None:
    """Add `calanque simulate` (calanque.simulator)."""
    from calanque.simulator.cli import simulate_command

    main.add_command(simulate_command(), name="simulate")


_mount_simulator()


def _mount_auth() -> None:
    """Add `calanque keys`, `calanque users`, `calanque audit` and `calanque publication` (calanque.auth)."""
    from calanque.auth.cli import audit, keys, publication, users

    main.add_command(keys)
    main.add_command(users)
    main.add_command(audit)
    main.add_command(publication)


_mount_auth()


# ingestion (calanque.pipeline) -----------------------------------------------------------------
@main.command()
@click.option("--mqtt", "mqtt_url", default="mqtt://127.0.0.1:1883", show_default=True, envvar="CALANQUE_MQTT_URL",
              help="MQTT broker the network servers publish to.")
@click.option("--connector", "connectors", multiple=True, default=("chirpstack", "tts"), show_default=True,
              help="What to subscribe to: chirpstack, tts, or mqtt:<topic pattern> for generic JSON devices "
                   "(e.g. mqtt:calanque/{tenant}/devices/{device}/up). Repeat for several.")
@click.option("--client-id", default="calanque-ingest", show_default=True,
              help="Stable MQTT client id: the broker keeps this worker's session (QoS 1) while it is down. "
                   "Give each worker its own.")
@click.option("--shared-group", default=None,
              help="MQTT v5 shared-subscription group: workers of one group share the messages.")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 10_000),
              help="Messages written per store transaction at most.")
@click.option("--batch-wait", default=0.05, show_default=True, type=click.FloatRange(0, 5),
              help="Seconds to wait for more messages before writing a partial batch.")
@_store_options
def ingest(mqtt_url: str, connectors: tuple[str, ...], client_id: str, shared_group: str | None,
           batch_size: int, batch_wait: float, data_dir: Path, database_url: str | None, tenant: str) -> None:
    """Run an MQTT ingest worker: network-server topics in, entities and history out.

    Messages are acknowledged to the broker only once their batch is committed, on a persistent
    session: stopping or killing the worker loses nothing. Run several with the same
    --shared-group (and distinct --client-id) to share the load. Prints progress every 10 s.
    """
    import signal

    from calanque.pipeline.ingest import Ingestor
    from calanque.pipeline.mqtt_worker import MqttIngestWorker, Subscription, tune_gc_for_batches
    from calanque.usecases.registry import discover, parse_paths

    try:
        subscriptions = [Subscription.parse(c) for c in connectors]
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--connector") from err
    store = _open_store(data_dir, database_url)
    ingestor = Ingestor(store, usecases=discover(parse_paths(os.environ.get("CALANQUE_USECASE_PATHS"))))
    worker = MqttIngestWorker(
        ingestor, mqtt_url, subscriptions, tenant=tenant, client_id=client_id, shared_group=shared_group,
        batch_size=batch_size, batch_wait=batch_wait,
        progress=lambda stats: click.echo(f"[ingest] {stats.line()}"),
    )
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    tune_gc_for_batches()
    click.echo(f"[ingest] {client_id}: {', '.join(connectors)} from {mqtt_url} into "
               f"{database_url or data_dir.resolve()} (tenant '{tenant}')")
    try:
        stats = worker.run()
    except KeyboardInterrupt:
        worker.stop()
        stats = worker.stats
    except OSError as err:
        raise click.ClickException(f"cannot reach the MQTT broker at {mqtt_url}: {err}") from err
    finally:
        store.close()
    click.echo(f"[ingest] stopped: {stats.line()}")


@main.group()
def integrations() -> None:
    """Manage integration keys: what HTTP pushes (ChirpStack, TTS webhooks, generic) authenticate with."""


@integrations.command("create")
@click.argument("name")
@click.option("--kind", type=click.Choice(["chirpstack", "tts", "http"]), required=True,
              help="Which ingestion endpoint the key opens.")
@_store_options
def integrations_create(name: str, kind: str, data_dir: Path, database_url: str | None, tenant: str) -> None:
    """Create integration NAME for a tenant and print its key (shown only this once)."""
    from calanque.ngsild.errors import NgsiLdError
    from calanque.pipeline import integrations as integ

    store = _open_store(data_dir, database_url)
    try:
        with store.session(write=True) as session:
            record, key = integ.create_integration(session, name, kind, tenant)
    except NgsiLdError as err:
        raise click.ClickException(err.detail) from err
    finally:
        store.close()
    click.echo(f"integration '{record.name}' ({record.kind}, tenant '{record.tenant}') created; its key, "
               "shown only now:")
    click.echo(key)


@integrations.command("list")
@_store_options
def integrations_list(data_dir: Path, database_url: str | None, tenant: str) -> None:
    """List integrations (name, kind, tenant, key prefix, last use)."""
    from calanque.pipeline import integrations as integ

    store = _open_store(data_dir, database_url)
    try:
        with store.session() as session:
            found = integ.list_integrations(session)
    finally:
        store.close()
    for i in found:
        click.echo(f"{i.name}\t{i.kind}\ttenant='{i.tenant}'\t{i.key_prefix}…\tcreated {i.created_at:%Y-%m-%d}")


@integrations.command("revoke")
@click.argument("name")
@_store_options
def integrations_revoke(name: str, data_dir: Path, database_url: str | None, tenant: str) -> None:
    """Revoke integration NAME: its key stops working at once."""
    from calanque.pipeline import integrations as integ

    store = _open_store(data_dir, database_url)
    try:
        with store.session(write=True) as session:
            if not integ.revoke_integration(session, name):
                raise click.ClickException(f"no integration named '{name}'")
    finally:
        store.close()
    click.echo(f"integration '{name}' revoked")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def _mount_usecase_commands() -> None:
    """Add each use case's command group (`calanque <usecase> …`) from the use-case registry."""
    from calanque.usecases.registry import discover, parse_paths

    for uc in discover(parse_paths(os.environ.get("CALANQUE_USECASE_PATHS"))):
        if uc.cli is not None and uc.name not in main.commands:
            main.add_command(uc.cli, name=uc.name)


_mount_usecase_commands()
