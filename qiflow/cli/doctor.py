"""``qiflow doctor``: is this installation fit to run? One line per check."""

from __future__ import annotations

from pathlib import Path

import click

from qiflow.cli.daemon import config_option
from qiflow.cli.output import emit_json, json_option
from qiflow.doctor import Doctor


@click.command()
@config_option
@click.option(
    "--send-test",
    "person",
    metavar="PERSON",
    help="Also send a test message to this person (by id) through their channels.",
)
@json_option
@click.pass_context
def doctor(ctx: click.Context, config_path: Path | None, person: str | None, as_json: bool) -> None:
    """Check the configuration, database, clock, plugins, channels, calendar and secrets.

    Prints one line per check (ok or FAIL, and why); exits with status 1 if any fails.
    """
    root = ctx.find_root()
    source = root.get_parameter_source("database_url")
    given = source is not None and source.name != "DEFAULT"
    url = root.params["database_url"] if given else None
    findings = Doctor(config_path=config_path, database_url=url).run(send_test=person)
    if as_json:
        emit_json([{"check": f.check, "ok": f.ok, "detail": f.detail} for f in findings])
    else:
        for finding in findings:
            click.echo(finding.line())
    if not all(f.ok for f in findings):
        ctx.exit(1)
