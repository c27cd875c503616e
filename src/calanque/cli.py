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
def serve(host: str, port: int, data_dir: Path, database_url: str | None, workers: int,
          context_preload: Path | None, log_level: str) -> None:
    """Run the NGSI-LD API server (migrations run at start-up)."""
    import uvicorn

    _export_settings(host=host, port=port, data_dir=data_dir.resolve(), database_url=database_url,
                     context_preload=context_preload.resolve() if context_preload else None, workers=workers)
    where = database_url or f"SQLite in {data_dir.resolve()}"
    click.echo(f"Calanque {__version__}: NGSI-LD API on http://{host}:{port}/ngsi-ld/v1 (store: {where})")
    click.echo(f"  API documentation: http://{host}:{port}/docs")
    uvicorn.run("calanque.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, access_log=False)


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
