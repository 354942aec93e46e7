"""``qiflow backup`` and ``qiflow restore --check``: copies an operator can rely on."""

from __future__ import annotations

from pathlib import Path

import click

from qiflow.cli.context import Context, pass_context
from qiflow.cli.output import emit_json, json_option
from qiflow.engine import CopyCheck, backup_database, check_copy


def _report(found: CopyCheck, as_json: bool, what: str) -> None:
    if as_json:
        emit_json(
            {
                "copy": found.url,
                "ok": found.ok,
                "schema": found.revision,
                "projects_checked": found.projects,
                "integrity": list(found.integrity),
                "breaks": [str(b) for b in found.breaks],
                "problem": found.problem,
            }
        )
    else:
        for line in found.integrity:
            click.echo(f"INTEGRITY {line}")
        for broken in found.breaks:
            click.echo(f"BROKEN {broken}")
        if found.problem:
            click.echo(f"error: {found.problem}", err=True)
        if found.ok:
            click.echo(
                f"{what}: {found.url} at schema {found.revision}; "
                f"{found.projects} project chain(s) verified"
            )
    if not found.ok:
        raise SystemExit(1)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@pass_context
def backup(state: Context, /, file: Path, as_json: bool) -> None:
    """Copy the SQLite database to FILE while daemons run, then verify the copy.

    Uses SQLite's online backup API, then checks the copy's integrity and every
    project's hash chain; a copy that fails is removed (exit status 1). For
    PostgreSQL use pg_dump (see the README's Operations section).
    """
    found = backup_database(state.database_url, file)
    _report(found, as_json, "backed up")


@click.command()
@click.option("--check", "check", is_flag=True, help="Verify FILE; change nothing.")
@click.argument("copy")
@json_option
def restore(check: bool, copy: str, as_json: bool) -> None:
    """Verify a backup before anyone relies on it (only --check is supported).

    COPY is a SQLite file or a database URL (a PostgreSQL database restored from
    pg_dump). Checks its integrity, schema and every project's hash chain; exit status
    1 if anything fails. To restore a SQLite copy, stop the daemons and put the checked
    file in place of the database.
    """
    if not check:
        raise click.UsageError(
            "only `qiflow restore --check COPY` is supported: stop the daemons, check the "
            "copy, then put it in place of the database"
        )
    url = copy if "://" in copy else f"sqlite:///{copy}"
    if "://" not in copy and not Path(copy).is_file():
        raise click.BadParameter(f"{copy} is not a file", param_hint="COPY")
    _report(check_copy(url), as_json, "checked")
