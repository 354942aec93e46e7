"""The ``qiflow`` command: its global options, ``qiflow init``, and every subcommand."""

from __future__ import annotations

import click

from qiflow.cli import (
    audit,
    backup,
    daemon,
    demo,
    doctor,
    drivers,
    events,
    governance,
    measurement,
    privacy,
    projects,
    records,
    report,
    risks,
    serve,
    tokens,
    workflows,
)
from qiflow.cli.context import Context, QiflowGroup, pass_context
from qiflow.engine import DEFAULT_DATABASE_URL, upgrade_database
from qiflow.logs import configure_logging, reset_logging


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
    ctx.call_on_close(reset_logging)
    state = Context(database_url=database_url, workflows_dir=workflows_dir)
    ctx.obj = state
    ctx.call_on_close(state.close)


@main.command()
@pass_context
def init(state: Context) -> None:
    """Create the database's tables, or upgrade them to this version of qiflow."""
    url, before, after = upgrade_database(state.database_url)
    if before == after:
        click.echo(f"{url} is up to date (schema {after})")
    else:
        click.echo(f"{url}: schema {before or 'none'} -> {after}")


def _register() -> None:
    main.add_command(projects.project)
    main.add_command(records.pdsa)
    main.add_command(measurement.measure)  # records' group, with measurement's commands
    main.add_command(measurement.review)
    main.add_command(workflows.workflow)
    main.add_command(audit.audit)
    main.add_command(events.events)
    main.add_command(governance.signoff)
    main.add_command(governance.qeia)
    main.add_command(governance.people)
    governance.people.add_command(privacy.export)
    governance.people.add_command(privacy.forget)
    main.add_command(risks.risk)
    main.add_command(daemon.daemon)
    main.add_command(daemon.outbox_group)
    main.add_command(demo.demo)
    main.add_command(drivers.driver)
    main.add_command(drivers.team)
    main.add_command(doctor.doctor)
    main.add_command(backup.backup)
    main.add_command(backup.restore)
    main.add_command(serve.serve)
    main.add_command(report.report)
    main.add_command(tokens.token)


_register()
