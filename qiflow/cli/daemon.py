"""``qiflow daemon`` and ``qiflow outbox``: reminders, escalations and their delivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from click.core import ParameterSource

from qiflow import outbox
from qiflow.cli import Context
from qiflow.cli.output import emit_json, json_option, table, when
from qiflow.config import Settings, load_settings
from qiflow.daemon import Daemon, DatabaseClock
from qiflow.engine import Engine
from qiflow.logs import configure_logging
from qiflow.plugins import get_plugin_manager
from qiflow.store import Store

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Configuration file [default: $QIFLOW_CONFIG, or ./qiflow.toml if present].",
)


def _database_url(ctx: click.Context, state: Context, settings: Settings) -> str:
    """--db or QIFLOW_DATABASE_URL when given, else the configuration file's, else the default."""
    root = ctx.find_root()
    source = root.get_parameter_source("database_url")
    if source is not None and source.name != "DEFAULT":
        return state.database_url
    return settings.database_url


def _engine(ctx: click.Context, state: Context, settings: Settings) -> Engine:
    url = _database_url(ctx, state, settings)
    clock = DatabaseClock(Store(url))
    pm = get_plugin_manager(allow=settings.plugins_allow)
    return Engine(
        url, clock=clock, plugins=pm, workflows_dir=state.workflows_dir or settings.workflows_dir
    )


def _configured_store(ctx: click.Context, config_path: Path | None) -> Store:
    """The store of --db, or of the configuration file, without reading channel secrets."""
    state = ctx.find_object(Context)
    assert state is not None
    return _store(_database_url(ctx, state, load_settings(config_path, channels=False)))


def _store(url: str) -> Store:
    store = Store(url)
    try:
        store.ensure_schema()
    except BaseException:
        store.dispose()
        raise
    return store


@click.group(invoke_without_command=True)
@config_option
@click.option("--once", is_flag=True, help="One sweep and one delivery pass, then exit.")
@click.option("--name", help="This daemon's name in `daemon status` [default: host:pid].")
@click.pass_context
def daemon(ctx: click.Context, config_path: Path | None, once: bool, name: str | None) -> None:
    """Send overdue-review reminders and escalations, and deliver the outbox.

    Runs until SIGTERM or SIGINT (a second one exits at once). Several daemons may share
    one PostgreSQL database. With no configuration, notifications go to the console.
    """
    if ctx.invoked_subcommand is not None:
        return
    state = ctx.find_object(Context)
    assert state is not None
    root = ctx.find_root()
    if root.get_parameter_source("log_level") is ParameterSource.DEFAULT:
        configure_logging(json=True if root.params.get("log_json") else None, level="info")
    settings = load_settings(config_path, check_permissions=True)
    with _engine(ctx, state, settings) as engine:
        worker = Daemon(engine, settings, name=name)
        if once:
            enqueued, report = worker.once()
            click.echo(
                f"swept: {enqueued} new notification(s); delivered: {report.sent} sent, "
                f"{report.retried} to retry, {report.dead} dead"
            )
            now, window = worker.clock.now(), settings.policy.window
            if not window.is_open(now):
                opens = window.next_open(now).astimezone(window.zone)
                click.echo(
                    f"the sending window is closed; it opens {opens:%a %d %b %H:%M %Z} "
                    "(qiflow.toml [sending] sets it)"
                )
            return
        worker.run()


@daemon.command()
@config_option
@json_option
@click.pass_context
def status(ctx: click.Context, config_path: Path | None, as_json: bool) -> None:
    """Last sweep and delivery of each daemon, queue depth, oldest pending, dead letters."""
    state = ctx.find_object(Context)
    assert state is not None
    store = _configured_store(ctx, config_path)
    try:
        with store.read() as tx:
            found = outbox.stats(tx)
    finally:
        store.dispose()
    if as_json:
        emit_json(found)
        return
    counts = found["counts"]
    click.echo(
        f"queue: {counts.get('pending', 0)} pending, {counts.get('sending', 0)} being "
        f"sent, {counts.get('sent', 0)} sent, {counts.get('dead', 0)} dead letters"
    )
    click.echo(f"oldest pending due: {when(found['oldest_pending'])}")
    if found["daemons"]:
        table(
            ["daemon", "last sweep", "last delivery"],
            [
                (d["name"], when(d["last_sweep_at"]), when(d["last_delivery_at"]))
                for d in found["daemons"]
            ],
        )
    else:
        click.echo("no daemon has run against this database yet")


@click.group(name="outbox")
def outbox_group() -> None:
    """Inspect and manage the notification outbox."""


@outbox_group.command(name="list")
@config_option
@click.option(
    "--status",
    "status_name",
    type=click.Choice([outbox.PENDING, outbox.SENDING, outbox.SENT, outbox.DEAD]),
)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@json_option
@click.pass_context
def list_(
    ctx: click.Context, config_path: Path | None, status_name: str | None, limit: int, as_json: bool
) -> None:
    """List notifications, newest first."""
    store = _configured_store(ctx, config_path)
    try:
        with store.read() as tx:
            found = [dict(r) for r in outbox.rows(tx, status=status_name, limit=limit)]
    finally:
        store.dispose()
    if as_json:
        emit_json(found)
        return
    table(
        ["id", "status", "to", "channel", "tries", "due", "subject", "error"],
        [
            (
                r["id"],
                r["status"],
                r["recipient"],
                r["channel"],
                r["attempts"],
                when(r["not_before"]),
                r["subject"][:40],
                (r["last_error"] or "")[:40] or None,
            )
            for r in found
        ],
    )


@outbox_group.command()
@config_option
@click.argument("ids", nargs=-1, type=int)
@json_option
@click.pass_context
def retry(
    ctx: click.Context, config_path: Path | None, ids: tuple[int, ...], as_json: bool
) -> None:
    """Put dead letters back in the queue (all, or the IDS given)."""
    store = _configured_store(ctx, config_path)
    try:
        with store.write() as tx:
            count = outbox.retry(tx, list(ids) or None, datetime.now(UTC))
    finally:
        store.dispose()
    if as_json:
        emit_json({"requeued": count})
    else:
        click.echo(f"{count} dead letter(s) requeued")


@outbox_group.command()
@config_option
@click.option(
    "--status",
    "status_name",
    type=click.Choice([outbox.SENT, outbox.DEAD]),
    default=outbox.SENT,
    show_default=True,
)
@click.option(
    "--older-than", type=click.IntRange(min=0), default=90, show_default=True, help="Days."
)
@json_option
@click.pass_context
def purge(
    ctx: click.Context, config_path: Path | None, status_name: str, older_than: int, as_json: bool
) -> None:
    """Delete sent (or dead) notifications older than --older-than days."""
    store = _configured_store(ctx, config_path)
    try:
        with store.write() as tx:
            count = outbox.purge(
                tx, status=status_name, before=datetime.now(UTC) - timedelta(days=older_than)
            )
    finally:
        store.dispose()
    if as_json:
        emit_json({"purged": count})
    else:
        click.echo(f"{count} {status_name} notification(s) purged")
