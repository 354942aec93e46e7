"""``qiflow audit``: check the audit trail's hash chains."""

from __future__ import annotations

import sys

import click

from qiflow.cli.context import Context, pass_context
from qiflow.cli.output import emit_json, json_option


@click.group()
def audit() -> None:
    """Check the audit trail."""


@audit.command()
@json_option
@pass_context
def verify(state: Context, /, as_json: bool) -> None:
    """Recompute every project's hash chain; name the first broken event of each.

    Exits with status 1 if any chain is broken.
    """
    engine = state.engine()
    breaks = []
    checked = 0
    results = engine.iter_audit()
    with click.progressbar(
        results, label="verifying", file=sys.stderr, show_pos=True, hidden=not sys.stderr.isatty()
    ) as bar:
        for _ref, found in bar:
            checked += 1
            if found is not None:
                breaks.append(found)
    if as_json:
        emit_json(
            {
                "projects_checked": checked,
                "ok": not breaks,
                "breaks": [
                    {"project": b.project_ref, "seq": b.seq, "pos": b.pos, "reason": b.reason}
                    for b in breaks
                ],
            }
        )
    elif breaks:
        for found in breaks:
            click.echo(f"BROKEN {found}")
    else:
        click.echo(f"ok: {checked} project chain(s) verified")
    if breaks:
        raise SystemExit(1)
