"""The ``qiflow`` command line."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click
from sqlalchemy.exc import SQLAlchemyError

from qiflow.engine import DEFAULT_DATABASE_URL, Engine
from qiflow.exceptions import QiflowError
from qiflow.logs import configure_logging

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Context:
    """What every subcommand shares: where the database and workflows are."""

    database_url: str
    workflows_dir: str | None
    _engine: Engine | None = field(default=None, repr=False)

    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = Engine(self.database_url, workflows_dir=self.workflows_dir)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


pass_context = click.make_pass_decorator(Context)


def default_actor() -> str:
    return os.environ.get("QIFLOW_ACTOR") or getpass.getuser()


actor_option: Callable[[F], F] = click.option(
    "--actor",
    default=default_actor,
    show_default="$QIFLOW_ACTOR or your login name",
    help="Who is doing this (a person's id); recorded in the audit trail.",
)


class QiflowGroup(click.Group):
    """Turns qiflow's errors into one clear line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except QiflowError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            click.echo(
                f"error: the database refused the request: {detail}. If qiflow was "
                "upgraded, run `qiflow init`; otherwise please report this.",
                err=True,
            )
            ctx.exit(1)


@click.group(cls=QiflowGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "database_url",
    envvar="QIFLOW_DATABASE_URL",
    default=DEFAULT_DATABASE_URL,
    show_default=True,
    help="Database URL (sqlite:///FILE or postgresql://...); env QIFLOW_DATABASE_URL.",
)
@click.option(
    "--workflows",
    "workflows_dir",
    envvar="QIFLOW_WORKFLOWS_DIR",
    type=click.Path(file_okay=False),
    default=None,
    help="Directory of workflow files [default: the shipped workflows]; env QIFLOW_WORKFLOWS_DIR.",
)
@click.option(
    "--log-json",
    is_flag=True,
    help="Write logs as JSON lines (default when stderr is not a terminal).",
)
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
@click.version_option(package_name="qiflow")
@click.pass_context
def main(
    ctx: click.Context, database_url: str, workflows_dir: str | None, log_json: bool, log_level: str
) -> None:
    """qiflow carries quality-improvement projects through their lifecycle.

    Start with `qiflow demo`, or `qiflow init` then `qiflow project create`.
    """
    configure_logging(json=True if log_json else None, level=log_level)
    state = Context(database_url=database_url, workflows_dir=workflows_dir)
    ctx.obj = state
    ctx.call_on_close(state.close)


@main.command()
@pass_context
def init(state: Context) -> None:
    """Create the database's tables, or upgrade them to this version of qiflow."""
    from qiflow import db
    from qiflow.store import Store

    store = Store(state.database_url)
    try:
        before = store.revision()
        db.upgrade(store.engine)
        after = store.revision()
    finally:
        store.dispose()
    url = store.engine.url.render_as_string(hide_password=True)
    if before == after:
        click.echo(f"{url} is up to date (schema {after})")
    else:
        click.echo(f"{url}: schema {before or 'none'} -> {after}")


def _register() -> None:
    from qiflow.cli import audit, daemon, demo, governance, projects, records, workflows

    main.add_command(projects.project)
    main.add_command(records.pdsa)
    main.add_command(records.measure)
    main.add_command(records.review)
    main.add_command(workflows.workflow)
    main.add_command(audit.audit)
    main.add_command(governance.signoff)
    main.add_command(governance.qeia)
    main.add_command(governance.people)
    main.add_command(daemon.daemon)
    main.add_command(daemon.outbox_group)
    main.add_command(demo.demo)


_register()
