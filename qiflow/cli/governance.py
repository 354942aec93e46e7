"""``qiflow signoff``, ``qiflow qeia`` and ``qiflow people``: the governance commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from qiflow import toml_input
from qiflow.cli.context import Context, actor_option, pass_context
from qiflow.cli.output import emit_json, json_option, table, when
from qiflow.exceptions import ValidationError
from qiflow.governance.people import parse_people


def read_form(path: Path | None) -> dict[str, Any]:
    """A sign-off form from a TOML or JSON file (``-`` reads JSON from stdin)."""
    if path is None:
        return {}
    try:
        text = sys.stdin.read() if str(path) == "-" else toml_input.read_text(path)
        form = toml_input.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except OSError as exc:
        raise ValidationError(f"cannot read the form {path}: {exc.strerror or exc}") from exc
    except toml_input.TomlProblem as exc:
        raise ValidationError(f"the form {path}: {exc}") from exc
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValidationError(f"the form {path} is not valid JSON: {exc}") from exc
    if not isinstance(form, dict):
        raise ValidationError(f"the form {path} must be a table (an object)")
    return form


form_option = click.option(
    "--from",
    "form_path",
    type=click.Path(dir_okay=False, path_type=Path, allow_dash=True),
    help="The form as a TOML or JSON file ('-': JSON on stdin).",
)


@click.group()
def signoff() -> None:
    """Request, decide and inspect sign-offs (approval gates)."""


@signoff.command()
@click.argument("ref")
@click.argument("gate")
@form_option
@actor_option
@json_option
@pass_context
def request(
    state: Context, /, ref: str, gate: str, form_path: Path | None, actor: str, as_json: bool
) -> None:
    """Request sign-off of GATE for project REF (a new round replaces a pending one)."""
    done = state.engine().request_signoff(ref, gate, read_form(form_path), actor=actor)
    latest = state.engine().signoffs(ref, gate)[-1]
    if as_json:
        emit_json({"project": done, "signoff": latest})
    elif not latest.roles:  # the gate said the form shows it is not needed
        click.echo(f"{done.ref}: {latest.stage} not needed ({latest.reason}); passed")
    else:
        how = "all of" if latest.mode == "all" else "any of"
        click.echo(
            f"{done.ref}: {latest.stage} requested (round {latest.round}); awaiting "
            f"{how} {', '.join(latest.roles)}"
        )


@signoff.command()
@click.argument("ref")
@click.argument("gate")
@click.option("--approve/--reject", required=True, help="The decision.")
@click.option("--role", help="Which awaited role you decide as [default: the first you hold].")
@click.option("--on-behalf-of", help="Decide as the recorded deputy of this person.")
@click.option("--comment", help="Why (required to reject).")
@actor_option
@json_option
@pass_context
def decide(
    state: Context,
    /,
    ref: str,
    gate: str,
    approve: bool,
    role: str | None,
    on_behalf_of: str | None,
    comment: str | None,
    actor: str,
    as_json: bool,
) -> None:
    """Approve or reject the pending sign-off of GATE for project REF."""
    done = state.engine().decide_signoff(
        ref,
        gate,
        actor=actor,
        approve=approve,
        role=role,
        on_behalf_of=on_behalf_of,
        comment=comment,
    )
    latest = state.engine().signoffs(ref, gate)[-1]
    if as_json:
        emit_json({"project": done, "signoff": latest})
    else:
        rest = f"; awaiting {', '.join(latest.awaiting)}" if latest.status == "pending" else ""
        click.echo(f"{done.ref}: {latest.stage} is {latest.status}{rest}")


@signoff.command()
@click.argument("ref")
@json_option
@pass_context
def status(state: Context, /, ref: str, as_json: bool) -> None:
    """Show the gates of project REF, what each awaits, and every sign-off round."""
    engine = state.engine()
    gates = engine.gate_status(ref)
    rounds = engine.signoffs(ref)
    if as_json:
        emit_json(
            {
                "gates": [{"gate": g, "passed": not w, "awaiting": w} for g, w in gates.items()],
                "signoffs": rounds,
            }
        )
        return
    for gate, waiting in gates.items():
        click.echo(f"{gate}: {'passed' if not waiting else '; '.join(waiting)}")
    if rounds:
        table(
            ["gate", "round", "stage", "status", "requested by", "decisions", "valid until"],
            [
                (
                    s.gate,
                    s.round,
                    s.stage,
                    s.status,
                    s.requested_by,
                    ", ".join(
                        f"{d.role}={d.decision} by {d.approver}"
                        + (f" for {d.delegated_by}" if d.delegated_by else "")
                        for d in s.decisions
                    )
                    or None,
                    when(s.valid_until),
                )
                for s in rounds
            ],
        )


@signoff.command()
@actor_option
@json_option
@pass_context
def expire(state: Context, /, actor: str, as_json: bool) -> None:
    """Mark approvals whose validity has run out as expired (for cron or the daemon)."""
    done = state.engine().expire_signoffs(actor=actor)
    if as_json:
        emit_json(done)
    else:
        click.echo(
            f"{len(done)} sign-off(s) expired"
            + (": " + ", ".join(p.ref for p in done) if done else "")
        )


@click.group()
def qeia() -> None:
    """Quality and Equality Impact Assessments."""


@qeia.command()
@click.argument("ref")
@click.option(
    "--from",
    "form_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path, allow_dash=True),
    help="The screening: [scores.<domain>] impact and likelihood, 1-5 each; "
    "full_assessment for stage 2.",
)
@actor_option
@json_option
@click.pass_context
def screen(ctx: click.Context, ref: str, form_path: Path, actor: str, as_json: bool) -> None:
    """Submit a QEIA screening for project REF (a sign-off request of the qeia gate)."""
    ctx.invoke(request, ref=ref, gate="qeia", form_path=form_path, actor=actor, as_json=as_json)


@click.group()
def people() -> None:
    """The staff directory: who holds which role."""


@people.command(name="import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Deactivate everyone not in the file.")
@actor_option
@json_option
@pass_context
def import_(state: Context, /, path: Path, replace: bool, actor: str, as_json: bool) -> None:
    """Import people from a CSV (id,name,email,roles,directorate,deputy_for,channels) or
    TOML file.

    Roles, deputy_for and channels are separated by ';' in CSV. All rows are checked first:
    a file with any bad row imports nothing.
    """
    engine = state.engine()
    found = parse_people(path, engine.known_roles())
    added, updated, deactivated = engine.import_people(found, actor=actor, replace=replace)
    if as_json:
        emit_json({"added": added, "updated": updated, "deactivated": deactivated})
    else:
        click.echo(
            f"{len(found)} people read: {added} added, {updated} updated, {deactivated} deactivated"
        )


@people.command(name="list")
@click.option("--role", help="Only people holding this role.")
@json_option
@pass_context
def list_(state: Context, /, role: str | None, as_json: bool) -> None:
    """List the directory."""
    found = state.engine().people(role=role)
    if as_json:
        emit_json(found)
        return
    table(
        ["id", "name", "roles", "directorate", "deputy for", "active"],
        [
            (
                p.id,
                p.name,
                ", ".join(p.roles),
                p.directorate,
                ", ".join(p.deputy_for) or None,
                "yes" if p.active else "no",
            )
            for p in found
        ],
    )
