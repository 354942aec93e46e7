"""``qiflow events``: the event trail as a feed, and its durable subscribers."""

from __future__ import annotations

import json
import time

import click

from qiflow.cli.context import Context, pass_context
from qiflow.cli.output import emit_json, json_option


@click.group()
def events() -> None:
    """The event trail, read without gaps, and its durable subscribers."""


@events.command()
@click.option(
    "--after",
    "after",
    type=click.IntRange(min=0),
    default=None,
    help="Start after this seq (default: the last 20 events).",
)
@click.option("--follow", is_flag=True, help="Keep printing events as they commit (Ctrl-C stops).")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@json_option
@pass_context
def tail(state: Context, /, after: int | None, follow: bool, limit: int, as_json: bool) -> None:
    """Print committed events in order (one JSON object a line with --json)."""
    engine = state.engine()
    if after is None:
        head = engine.subscription_head()
        after = max(0, head - 20)
    while True:
        found = engine.events_after(after, limit=limit)
        for event in found:
            if as_json:
                click.echo(
                    json.dumps(
                        {
                            "seq": event.seq,
                            "project_id": event.project_id,
                            "type": event.type,
                            "actor": event.actor,
                            "created_at": event.created_at.isoformat(),
                            "payload": event.payload,
                        },
                        sort_keys=True,
                    )
                )
            else:
                at = f"{event.created_at:%Y-%m-%d %H:%M:%S}"
                click.echo(f"{event.seq:>8}  {at}  {event.type:<24} {event.actor}")
            after = event.seq
        if not follow:
            return
        if not found:
            time.sleep(1.0)


@events.command()
@json_option
@pass_context
def subscribers(state: Context, /, as_json: bool) -> None:
    """Each durable subscriber: its cursor, lag, failures and last error."""
    engine = state.engine()
    head = engine.subscription_head()
    rows = [
        {
            "name": s.name,
            "cursor": s.position,
            "lag": max(0, head - s.position),
            "failures": s.failures,
            "last_error": s.last_error,
            "retry_at": s.retry_at.isoformat() if s.retry_at else None,
            "held_by": s.claimed_by,
        }
        for s in engine.subscribers()
    ]
    if as_json:
        emit_json({"head": head, "subscribers": rows})
        return
    if not rows:
        click.echo("no subscribers yet")
        return
    for row in rows:
        error = f"  last error: {row['last_error']}" if row["last_error"] else ""
        click.echo(f"{row['name']:<30} cursor {row['cursor']:>8}  lag {row['lag']:>6}{error}")


@events.command()
@click.argument("name")
@click.option(
    "--from",
    "from_seq",
    type=click.IntRange(min=0),
    required=True,
    help="Deliver every event after this seq again.",
)
@json_option
@pass_context
def replay(state: Context, /, name: str, from_seq: int, as_json: bool) -> None:
    """Move subscriber NAME's cursor: it gets every event after --from again."""
    moved = state.engine().replay_events(name, from_seq=from_seq)
    if as_json:
        emit_json({"name": moved.name, "cursor": moved.position})
    else:
        click.echo(f"{moved.name}: cursor at {moved.position}; events after it come again")
