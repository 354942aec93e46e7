"""``qiflow token``: bearer tokens for the HTTP API."""

from __future__ import annotations

import click

from qiflow.cli.context import Context, actor_option, default_actor, pass_context
from qiflow.cli.output import emit_json, json_option, table, when
from qiflow.exceptions import ValidationError
from qiflow.snapshots import TOKEN_SCOPES, Token, to_jsonable


@click.group()
def token() -> None:
    """Create, list and revoke bearer tokens for the HTTP API (`qiflow serve`)."""


@token.command()
@click.option(
    "--actor",
    "owner",
    required=True,
    help="The person (or service) the token acts as: its id.",
)
@click.option(
    "--scope",
    type=click.Choice(TOKEN_SCOPES),
    required=True,
    help="read: queries; write: also commands; admin: also tokens and the people directory.",
)
@click.option(
    "--act-as",
    is_flag=True,
    help="Let this (service) token act for a person it names in the Qiflow-Act-As header.",
)
@click.option(
    "--expires", metavar="DURATION", help="ISO-8601 duration, e.g. P90D [default: never]."
)
@click.option(
    "--by",
    "created_by",
    envvar="QIFLOW_ACTOR",
    default=None,
    help="Who is creating it [default: $QIFLOW_ACTOR or your login name].",
)
@json_option
@pass_context
def create(
    state: Context,
    /,
    owner: str,
    scope: str,
    act_as: bool,
    expires: str | None,
    created_by: str | None,
    as_json: bool,
) -> None:
    """Create a token. It is printed once: only its hash is kept."""
    made, text = state.engine().create_token(
        actor=owner,
        scope=scope,
        act_as=act_as,
        expires=expires,
        created_by=created_by or default_actor(),
    )
    if as_json:
        emit_json({**_fields(made), "token": text})
        return
    click.echo(
        f"token {made.id} for {made.actor} (scope {made.scope}"
        f"{', act_as' if made.act_as else ''}, expires {when(made.expires_at)}):"
    )
    click.echo(text)
    click.echo("Store it now: it cannot be shown again.", err=True)


@token.command(name="list")
@json_option
@pass_context
def list_(state: Context, /, as_json: bool) -> None:
    """List tokens (never their secrets)."""
    tokens = state.engine().tokens()
    if as_json:
        emit_json([_fields(t) for t in tokens])
        return
    table(
        ["id", "actor", "scope", "act_as", "created", "expires", "revoked"],
        [
            (
                t.id,
                t.actor,
                t.scope,
                "yes" if t.act_as else "no",
                when(t.created_at),
                when(t.expires_at),
                when(t.revoked_at),
            )
            for t in tokens
        ],
    )


@token.command()
@click.argument("token_id", metavar="ID")
@actor_option
@json_option
@pass_context
def revoke(state: Context, /, token_id: str, actor: str, as_json: bool) -> None:
    """Revoke token ID at once."""
    revoked = state.engine().revoke_token(token_id, actor=actor)
    if revoked is None:
        raise ValidationError(f"no token {token_id!r} (`qiflow token list` shows them)")
    if as_json:
        emit_json(_fields(revoked))
    else:
        click.echo(f"revoked token {revoked.id} of {revoked.actor}")


def _fields(token: Token) -> dict[str, object]:
    data: dict[str, object] = to_jsonable(token)
    return data
