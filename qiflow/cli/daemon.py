"""``qiflow daemon`` and ``qiflow outbox``: reminders, escalations and their delivery."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import click
from click.core import ParameterSource

from qiflow.cli.context import Context
from qiflow.cli.output import emit_json, json_option, table, use_zone, when
from qiflow.config import Settings, load_settings, plugin_manager
from qiflow.daemon import Daemon
from qiflow.engine import DatabaseClock, Engine
from qiflow.exceptions import QiflowError
from qiflow.logs import configure_logging
from qiflow.metrics import readiness_problems
from qiflow.snapshots import NOTIFICATION_STATUSES, OutboxStatus

PENDING, SENDING, SENT, DEAD = NOTIFICATION_STATUSES

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


def _engine(
    ctx: click.Context, state: Context, settings: Settings, *, database_clock: bool = False
) -> Engine:
    url = _database_url(ctx, state, settings)
    clock = DatabaseClock(url) if database_clock else None
    pm = plugin_manager(settings)
    use_zone(settings.window.zone)
    return Engine(
        url,
        clock=clock,
        plugins=pm,
        workflows_dir=state.workflows_dir or settings.workflows_dir,
        timezone=settings.window.timezone,
    )


@contextmanager
def _closing(clock: object) -> Iterator[None]:
    """Close the database clock's connections with the engine."""
    try:
        yield
    finally:
        if isinstance(clock, DatabaseClock):
            clock.close()


def _configured_engine(ctx: click.Context, config_path: Path | None) -> Engine:
    """The engine of --db, or of the configuration file, without reading channel secrets."""
    state = ctx.find_object(Context)
    assert state is not None
    return _engine(ctx, state, load_settings(config_path, channels=False))


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
    with _engine(ctx, state, settings, database_clock=True) as engine, _closing(engine.clock):
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
@click.option(
    "--check",
    is_flag=True,
    help="Exit 1 unless healthy: the database reachable at this qiflow's schema, every "
    "configured channel provided, and a daemon swept within --max-age (for cron monitors).",
)
@click.option(
    "--max-age",
    type=click.FloatRange(min=1),
    help="With --check: seconds since some daemon's last sweep [default: 3 x "
    "[daemon] sweep_interval + 60].",
)
@json_option
@click.pass_context
def status(
    ctx: click.Context,
    config_path: Path | None,
    check: bool,
    max_age: float | None,
    as_json: bool,
) -> None:
    """Last sweep and delivery of each daemon, queue depth, oldest pending, dead letters."""
    state = ctx.find_object(Context)
    assert state is not None
    if check:
        _check(ctx, state, config_path, max_age, as_json)
        return
    with _configured_engine(ctx, config_path) as engine:
        found = engine.outbox_status()
    if as_json:
        emit_json(found)
        return
    _show_status(found)


def _show_status(found: OutboxStatus) -> None:
    counts = found.counts
    click.echo(
        f"queue: {counts.get('pending', 0)} pending, {counts.get('sending', 0)} being "
        f"sent, {counts.get('sent', 0)} sent, {counts.get('dead', 0)} dead letters"
    )
    click.echo(f"oldest pending due: {when(found.oldest_pending)}")
    if found.daemons:
        table(
            ["daemon", "last sweep", "last delivery"],
            [(d.name, when(d.last_sweep_at), when(d.last_delivery_at)) for d in found.daemons],
        )
    else:
        click.echo("no daemon has run against this database yet")


def _check(
    ctx: click.Context,
    state: Context,
    config_path: Path | None,
    max_age: float | None,
    as_json: bool,
) -> None:
    """``daemon status --check``: one line per problem, exit status 1 if there is any."""
    found: OutboxStatus | None = None
    try:
        settings = load_settings(config_path)
        limit = max_age or 3 * settings.daemon.sweep_interval + 60
        with _engine(ctx, state, settings) as engine:
            problems = readiness_problems(
                engine, settings.channels, engine.channels(settings.channels)
            )
            if not problems:
                found = engine.outbox_status()
                problems += _stale(found, engine.database_now(), limit)
    except QiflowError as exc:
        problems = [str(exc)]
    problems = [" ".join(p.split()) for p in problems]  # one line each (psycopg's span two)
    if as_json:
        emit_json({"ok": not problems, "problems": problems, "status": found})
    else:
        if found is not None:
            _show_status(found)
        for problem in problems:
            click.echo(f"not ready: {problem}")
        if not problems:
            click.echo("ok: the database answers at this qiflow's schema and a daemon sweeps")
    if problems:
        ctx.exit(1)


def _stale(found: OutboxStatus, now: datetime, limit: float) -> list[str]:
    sweeps = [d.last_sweep_at for d in found.daemons if d.last_sweep_at is not None]
    if not sweeps:
        return ["no daemon has swept this database yet: start `qiflow daemon`"]
    age = (now - max(sweeps)).total_seconds()
    if age > limit:
        return [
            f"no daemon has swept for {age:.0f}s (limit {limit:.0f}s): check that "
            "`qiflow daemon` runs and its log"
        ]
    return []


@click.group(name="outbox")
def outbox_group() -> None:
    """Inspect and manage the notification outbox."""


@outbox_group.command(name="list")
@config_option
@click.option(
    "--status",
    "status_name",
    type=click.Choice(list(NOTIFICATION_STATUSES)),
)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@json_option
@click.pass_context
def list_(
    ctx: click.Context, config_path: Path | None, status_name: str | None, limit: int, as_json: bool
) -> None:
    """List notifications, newest first."""
    with _configured_engine(ctx, config_path) as engine:
        found = engine.outbox(status=status_name, limit=limit)
    if as_json:
        emit_json(found)
        return
    table(
        ["id", "status", "to", "channel", "tries", "due", "subject", "error"],
        [
            (
                r.id,
                r.status,
                r.recipient,
                r.channel,
                r.attempts,
                when(r.not_before),
                r.subject[:40],
                (r.last_error or "")[:40] or None,
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
    with _configured_engine(ctx, config_path) as engine:
        count = engine.retry_notifications(list(ids) or None)
    if as_json:
        emit_json({"requeued": count})
    else:
        click.echo(f"{count} dead letter(s) requeued")


@outbox_group.command()
@config_option
@click.option(
    "--status",
    "status_name",
    type=click.Choice([SENT, DEAD]),
    default=SENT,
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
    with _configured_engine(ctx, config_path) as engine:
        count = engine.purge_notifications(status_name, older_than=timedelta(days=older_than))
    if as_json:
        emit_json({"purged": count})
    else:
        click.echo(f"{count} {status_name} notification(s) purged")
