"""`calanque keys|users|audit`: API keys, local accounts and the audit log, from the command line.

These commands act on the store directly (they need its URL or data directory, not a running server);
each change they make is itself written to the audit log as ``cli:<system user>``.
"""

from __future__ import annotations

import csv
import getpass
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import orjson

from calanque.auth import repository as repo
from calanque.auth.model import AuthInputError, now_us


def _store_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--data-dir and --database-url, like the other store commands."""
    func = click.option(
        "--database-url",
        default=None,
        envvar="CALANQUE_DATABASE_URL",
        help="PostgreSQL URL instead of the embedded store.",
    )(func)
    func = click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("calanque-data"),
        show_default=True,
        help="Embedded store directory.",
    )(func)
    return func


def _open(data_dir: Path, database_url: str | None) -> Any:
    from calanque.store.base import open_store

    try:
        return open_store(database_url, str(data_dir))
    except (RuntimeError, ValueError) as err:
        raise click.ClickException(str(err)) from err


def _usecases() -> list[str]:
    import os

    from calanque.usecases.registry import discover, parse_paths

    return [uc.name for uc in discover(parse_paths(os.environ.get("CALANQUE_USECASE_PATHS")))]


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _audit(session: Any, action: str, tenant: str, detail: dict[str, Any]) -> None:
    repo.append_audit(
        session,
        repo.AuditEntry(
            at=now_us(),
            actor=_actor(),
            role="admin",
            tenant=tenant,
            action=action,
            address="local",
            status=0,
            detail=detail,
        ),
    )


def _parse_moment(text: str, option: str) -> int:
    """A date, an ISO 8601 time (UTC when no zone is given) or a duration from now (90d, 12h)."""
    m = re.fullmatch(r"(\d+)([dhm])", text.strip())
    if m:
        unit = {"d": "days", "h": "hours", "m": "minutes"}[m.group(2)]
        moment = datetime.now(UTC) + timedelta(**{unit: int(m.group(1))})
    else:
        try:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise click.BadParameter(
                f"'{text}' is neither a date/time (2027-01-31, 2027-01-31T12:00Z) nor a duration (90d, 12h)",
                param_hint=option,
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    from calanque.devices.repository import to_us

    return to_us(moment)


def _fmt(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%MZ") if moment else "-"


# keys -----------------------------------------------------------------------------------------
@click.group()
def keys() -> None:
    """Manage API keys: create (the key is shown once), list, rotate, revoke."""


_NARROWING = [
    click.option(
        "--usecase", "usecases", multiple=True, help="Use case of an operator (repeat for several)."
    ),
    click.option(
        "--commune",
        "communes",
        multiple=True,
        help="Limit writes to entities and devices of this INSEE commune code (repeat for several).",
    ),
    click.option(
        "--site", "sites", multiple=True, help="Limit writes to this experimentation site (repeatable)."
    ),
]


def _narrowing(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_NARROWING):
        func = option(func)
    return func


@keys.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(["admin", "operator", "viewer", "partner"]), required=True)
@click.option(
    "--tenant", default="", show_default=True, help="NGSI-LD tenant ('' default tenant, '*' every tenant)."
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(["read", "write", "command", "admin"]),
    help="Narrow the role to these scopes (repeatable; default: everything the role allows).",
)
@_narrowing
@click.option(
    "--expires", default=None, metavar="WHEN", help="Expiry: 2027-01-31, an ISO time, or 90d / 12h."
)
@_store_options
def keys_create(
    name: str,
    role: str,
    tenant: str,
    scopes: tuple[str, ...],
    usecases: tuple[str, ...],
    communes: tuple[str, ...],
    sites: tuple[str, ...],
    expires: str | None,
    data_dir: Path,
    database_url: str | None,
) -> None:
    """Create API key NAME and print it (shown only this once; only its digest is stored)."""
    expires_at = _parse_moment(expires, "--expires") if expires else None
    store = _open(data_dir, database_url)
    try:
        with store.session(write=True) as session:
            key, secret = repo.create_key(
                session,
                name=name,
                tenant=tenant,
                role=role,
                scopes=list(scopes) or None,
                usecases=list(usecases),
                communes=list(communes),
                sites=list(sites),
                expires_at=expires_at,
                created_by=_actor(),
                known_usecases=_usecases(),
            )
            _audit(session, "keys create", tenant, {"key": key.id, "role": role})
    except AuthInputError as err:
        raise click.ClickException(str(err)) from err
    finally:
        store.close()
    click.echo(
        f"key {key.id} '{key.name}' ({key.role}, tenant '{key.tenant}', scopes {','.join(key.scopes)}) "
        f"created; the key, shown only now:",
        err=True,
    )
    click.echo(secret)


@keys.command("list")
@click.option("--tenant", default=None, help="Only this tenant's keys (default: every tenant).")
@click.option("--revoked", is_flag=True, help="Include revoked keys.")
@_store_options
def keys_list(tenant: str | None, revoked: bool, data_dir: Path, database_url: str | None) -> None:
    """List keys: id, name, tenant, role, scopes, use cases, expiry, last use (never the keys)."""
    store = _open(data_dir, database_url)
    try:
        with store.session() as session:
            found = repo.list_keys(session, tenant, include_revoked=revoked)
    finally:
        store.close()
    for k in found:
        state = f"revoked {_fmt(k.revoked_at)}" if k.revoked_at else f"expires {_fmt(k.expires_at)}"
        click.echo(
            f"{k.id}\t{k.name}\ttenant='{k.tenant}'\t{k.role}\t{','.join(k.scopes)}\t"
            f"{','.join(k.usecases) or '-'}\t{state}\tlast used {_fmt(k.last_used_at)}"
        )
    click.echo(f"{len(found)} keys", err=True)


@keys.command("rotate")
@click.argument("key_id")
@_store_options
def keys_rotate(key_id: str, data_dir: Path, database_url: str | None) -> None:
    """Give key KEY_ID a new secret and print it; the old secret stops working (within seconds)."""
    store = _open(data_dir, database_url)
    try:
        with store.session(write=True) as session:
            key, secret = repo.rotate_key(session, key_id)
            _audit(session, "keys rotate", key.tenant, {"key": key_id})
    except AuthInputError as err:
        raise click.ClickException(str(err)) from err
    finally:
        store.close()
    click.echo(f"key {key.id} '{key.name}' rotated; the new key, shown only now:", err=True)
    click.echo(secret)


@keys.command("revoke")
@click.argument("key_id")
@_store_options
def keys_revoke(key_id: str, data_dir: Path, database_url: str | None) -> None:
    """Revoke key KEY_ID for good (servers stop accepting it within seconds)."""
    store = _open(data_dir, database_url)
    try:
        with store.session(write=True) as session:
            key = repo.get_key(session, key_id)
            if key is None or not repo.revoke_key(session, key_id):
                raise click.ClickException(f"no live key '{key_id}' (see `calanque keys list`)")
            _audit(session, "keys revoke", key.tenant, {"key": key_id})
    finally:
        store.close()
    click.echo(f"key {key_id} revoked")


# users -----------------------------------------------------------------------------------------
@click.group()
def users() -> None:
    """Manage local accounts (web UI login): create, list, set a password, disable."""


def _read_password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("password", hide_input=True, confirmation_prompt=True)


@users.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "operator", "viewer", "partner"]), required=True)
@click.option(
    "--tenant", default="", show_default=True, help="NGSI-LD tenant ('' default tenant, '*' every tenant)."
)
@_narrowing
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input instead of a prompt."
)
@_store_options
def users_create(
    username: str,
    role: str,
    tenant: str,
    usecases: tuple[str, ...],
    communes: tuple[str, ...],
    sites: tuple[str, ...],
    password_stdin: bool,
    data_dir: Path,
    database_url: str | None,
) -> None:
    """Create local account USERNAME (password asked for: 12 characters at least; stored as argon2id)."""
    password = _read_password(password_stdin)
    store = _open(data_dir, database_url)
    try:
        with store.session(write=True) as session:
            user = repo.create_user(
                session,
                username=username,
                password=password,
                tenant=tenant,
                role=role,
                usecases=list(usecases),
                communes=list(communes),
                sites=list(sites),
                known_usecases=_usecases(),
            )
            _audit(session, "users create", tenant, {"user": username, "role": role})
    except AuthInputError as err:
        raise click.ClickException(str(err)) from err
    finally:
        store.close()
    click.echo(f"user '{user.username}' ({user.role}, tenant '{user.tenant}') created")


@users.command("list")
@click.option("--tenant", default=None, help="Only this tenant's accounts.")
@_store_options
def users_list(tenant: str | None, data_dir: Path, database_url: str | None) -> None:
    """List accounts: name, tenant, role, use cases, last login, disabled."""
    store = _open(data_dir, database_url)
    try:
        with store.session() as session:
            found = repo.list_users(session, tenant)
    finally:
        store.close()
    for u in found:
        state = f"disabled {_fmt(u.disabled_at)}" if u.disabled_at else "enabled"
        click.echo(
            f"{u.username}\ttenant='{u.tenant}'\t{u.role}\t{','.join(u.usecases) or '-'}\t"
            f"last login {_fmt(u.last_login_at)}\t{state}"
        )
    click.echo(f"{len(found)} users", err=True)


@users.command("password")
@click.argument("username")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input instead of a prompt."
)
@_store_options
def users_password(username: str, password_stdin: bool, data_dir: Path, database_url: str | None) -> None:
    """Set USERNAME's password (its open sessions end)."""
    password = _read_password(password_stdin)
    store = _open(data_dir, database_url)
    try:
        with store.session(write=True) as session:
            user = repo.get_user(session, username)
            if user is None or not repo.set_password(session, username, password):
                raise click.ClickException(f"no user '{username}'")
            _audit(session, "users password", user.tenant, {"user": username})
    except AuthInputError as err:
        raise click.ClickException(str(err)) from err
    finally:
        store.close()
    click.echo(f"password of '{username}' changed; its sessions are closed")


@users.command("disable")
@click.argument("username")
@_store_options
def users_disable(username: str, data_dir: Path, database_url: str | None) -> None:
    """Disable USERNAME (it can no longer log in; its sessions end)."""
    store = _open(data_dir, database_url)
    try:
        with store.session(write=True) as session:
            user = repo.get_user(session, username)
            if user is None or not repo.disable_user(session, username):
                raise click.ClickException(f"no enabled user '{username}'")
            _audit(session, "users disable", user.tenant, {"user": username})
    finally:
        store.close()
    click.echo(f"user '{username}' disabled")


# audit -------------------------------------------------------------------------------------------
@click.group()
def audit() -> None:
    """Read and export the append-only audit log (every write, command and refusal)."""


def _audit_filters(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--actor", default=None, help="key:<id>, user:<name>, oidc:<subject>, anonymous…")(
        func
    )
    func = click.option("--tenant", default=None, help="Only this tenant's entries.")(func)
    func = click.option("--until", default=None, help="Before this time (ISO 8601, UTC when no zone).")(func)
    func = click.option("--since", default=None, help="From this time (ISO 8601, UTC when no zone).")(func)
    return func


def _window(since: str | None, until: str | None) -> tuple[int | None, int | None]:
    return (
        _parse_moment(since, "--since") if since else None,
        _parse_moment(until, "--until") if until else None,
    )


@audit.command("list")
@_audit_filters
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@_store_options
def audit_list(
    since: str | None,
    until: str | None,
    tenant: str | None,
    actor: str | None,
    limit: int,
    data_dir: Path,
    database_url: str | None,
) -> None:
    """Print audit entries, oldest first: time, actor, role, tenant, action, address, status."""
    start, end = _window(since, until)
    store = _open(data_dir, database_url)
    try:
        with store.session() as session:
            found = repo.list_audit(session, tenant=tenant, actor=actor, since=start, until=end, limit=limit)
    finally:
        store.close()
    for e in found:
        j = e.as_json()
        click.echo(
            f"{j['at']}\t{e.actor}\t{e.role}\ttenant='{e.tenant}'\t{e.action}\t{e.address}\t{e.status}"
        )
    click.echo(f"{len(found)} entries", err=True)


EXPORT_FIELDS = ("id", "at", "actor", "role", "tenant", "action", "address", "status", "detail")


@audit.command("export")
@_audit_filters
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="jsonl", show_default=True)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File to write (default: standard output).",
)
@_store_options
def audit_export(
    since: str | None,
    until: str | None,
    tenant: str | None,
    actor: str | None,
    fmt: str,
    output: Path | None,
    data_dir: Path,
    database_url: str | None,
) -> None:
    """Export the audit log (or a window of it) as CSV or JSON lines, in pages of 5 000 entries."""
    from rich.progress import Progress

    start, end = _window(since, until)
    store = _open(data_dir, database_url)
    out = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
    written = 0
    try:
        writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS) if fmt == "csv" else None
        if writer:
            writer.writeheader()
        after: int | None = None
        with Progress(transient=True, disable=output is None) as bar:
            task = bar.add_task("exporting audit entries", total=None)
            while True:
                with store.session() as session:
                    page = repo.list_audit(
                        session,
                        tenant=tenant,
                        actor=actor,
                        since=start,
                        until=end,
                        after_id=after,
                        limit=5000,
                    )
                for e in page:
                    row = e.as_json()
                    if writer:
                        writer.writerow({**row, "detail": orjson.dumps(row["detail"]).decode()})
                    else:
                        out.write(orjson.dumps(row).decode() + "\n")
                written += len(page)
                bar.update(task, completed=written)
                if len(page) < 5000:
                    break
                after = page[-1].id
    finally:
        store.close()
        if output:
            out.close()
    click.echo(f"{written} audit entries exported" + (f" to {output}" if output else ""), err=True)


# publication ------------------------------------------------------------------------------------
@click.group()
def publication() -> None:
    """Public data: list, publish and unpublish the entity types and attributes anyone may read.

    Everything is private unless published. A running server sees a change within 5 seconds.
    """


def _tenant_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--tenant", default="", show_default="the default tenant", help="Tenant (NGSI-LD tenant name)."
    )(func)


def _usecase_objects() -> list[Any]:
    import os

    from calanque.usecases.registry import discover, parse_paths

    return discover(parse_paths(os.environ.get("CALANQUE_USECASE_PATHS")))


@publication.command("list")
@_tenant_option
@click.option("--defaults", is_flag=True, help="Also list the defaults the use cases declare.")
@_store_options
def publication_list(tenant: str, defaults: bool, data_dir: Path, database_url: str | None) -> None:
    """Print each published type with its public attributes, its source and last change."""
    from calanque.auth import publication as pub

    store = _open(data_dir, database_url)
    try:
        with store.session(write=True) as session:
            pub.seed(session, _usecase_objects())  # what a server applies at start-up
            found = pub.list_published(session, tenant)
    finally:
        store.close()
    for p in found:
        j = p.as_json()
        click.echo(
            f"{j['entityType']}\t{','.join(j['attributes']) or '(no attribute)'}\t{j['source']}\t"
            f"{j['updatedAt']}\t{j['updatedBy']}"
        )
    click.echo(f"{len(found)} published types in tenant '{tenant}'", err=True)
    if defaults:
        for d in pub.describe_defaults(_usecase_objects()):
            click.echo(f"default ({d['usecase']})\t{d['entityType']}\t{','.join(d['attributes'])}")


@publication.command("publish")
@click.argument("entity_type", required=False)
@click.argument("attributes", nargs=-1)
@_tenant_option
@click.option("--exactly", is_flag=True, help="Make these the type's only public attributes.")
@click.option(
    "--defaults", is_flag=True, help="Publish every use case's defaults (even ones unpublished since)."
)
@_store_options
def publication_publish(
    entity_type: str | None,
    attributes: tuple[str, ...],
    tenant: str,
    exactly: bool,
    defaults: bool,
    data_dir: Path,
    database_url: str | None,
) -> None:
    """Publish ENTITY_TYPE and ATTRIBUTES (terms such as LAeq, or IRIs), or --defaults.

    Example: calanque publication publish NoiseLevelObserved LAeq LAmax location name
    """
    from calanque.auth import publication as pub

    if defaults == (entity_type is not None):
        raise click.UsageError("give an ENTITY_TYPE (and its ATTRIBUTES) or --defaults, not both")
    store = _open(data_dir, database_url)
    try:
        with store.session(write=True) as session:
            pub.seed(session, _usecase_objects())
            if defaults:
                added = pub.apply_defaults(
                    session, tenant, _usecase_objects(), actor=_actor(), only_new=False
                )
                detail: dict[str, Any] = {
                    "published": [[pub.compact(t), pub.compact(a) if a else ""] for t, a in added]
                }
                message = f"{len(added)} default entries published in tenant '{tenant}'"
            else:
                assert entity_type is not None
                found = pub.publish(session, tenant, entity_type, attributes, actor=_actor(), replace=exactly)
                j = found.as_json()
                detail = {"entityType": j["entityType"], "attributes": j["attributes"]}
                message = f"{j['entityType']} is public with {', '.join(j['attributes']) or 'no attribute'}"
            _audit(session, "publication publish", tenant, detail)
    except AuthInputError as err:
        raise click.ClickException(str(err)) from None
    finally:
        store.close()
    click.echo(message)


@publication.command("unpublish")
@click.argument("entity_type")
@click.argument("attributes", nargs=-1)
@_tenant_option
@_store_options
def publication_unpublish(
    entity_type: str, attributes: tuple[str, ...], tenant: str, data_dir: Path, database_url: str | None
) -> None:
    """Make ENTITY_TYPE private again, or only its ATTRIBUTES when some are given."""
    from calanque.auth import publication as pub

    store = _open(data_dir, database_url)
    try:
        with store.session(write=True) as session:
            pub.seed(session, _usecase_objects())
            removed = pub.unpublish(session, tenant, entity_type, list(attributes) or None)
            if removed:
                _audit(
                    session,
                    "publication unpublish",
                    tenant,
                    {"entityType": entity_type, "attributes": list(attributes) or None},
                )
    except AuthInputError as err:
        raise click.ClickException(str(err)) from None
    finally:
        store.close()
    if not removed:
        raise click.ClickException(
            f"'{entity_type}' is not published in tenant '{tenant}'"
            + (" with those attributes" if attributes else "")
        )
    click.echo(
        f"unpublished: {entity_type}" + (f" {', '.join(attributes)}" if attributes else " (the whole type)")
    )
