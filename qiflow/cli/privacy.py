"""``qiflow people export`` and ``qiflow people forget``: subject access and erasure."""

from __future__ import annotations

import click

from qiflow.cli.context import Context, actor_option, pass_context
from qiflow.cli.output import emit_json, json_option


@click.command()
@click.argument("person_id", metavar="ID")
@pass_context
def export(state: Context, /, person_id: str) -> None:
    """Print, as JSON, everything qiflow holds about person ID (a subject access request):
    each row, by table, that holds their id, name or e-mail address."""
    emit_json({"person": person_id, "tables": state.engine().export_person(person_id)})


@click.command()
@click.argument("person_id", metavar="ID")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@actor_option
@json_option
@pass_context
def forget(state: Context, /, person_id: str, yes: bool, actor: str, as_json: bool) -> None:
    """Erase person ID's name, e-mail address and channels (UK GDPR erasure).

    The id stays (events refer to it) and reads "former staff member". Free text that
    names them is redacted, in events where the hash chain commits to it by digest, so
    `qiflow audit verify` stays green. Lists every place it could not erase safely.
    Cannot be undone: take a backup first.
    """
    engine = state.engine()
    if not yes:
        click.confirm(
            f"Erase {person_id}'s name, e-mail and channels from this database for good?",
            abort=True,
        )
    found = engine.forget_person(person_id, actor=actor)
    if as_json:
        emit_json(found)
        return
    click.echo(
        f"{person_id} is now a former staff member: {found.redacted_events} event(s) and "
        f"{found.redacted_rows} row(s) redacted, {found.deleted_rows} row(s) deleted"
    )
    for place in found.not_erased:
        click.echo(f"NOT ERASED {place}")
