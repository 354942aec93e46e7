"""What every ``qiflow`` subcommand shares: the context, the actor option, error handling."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from qiflow.engine import Engine
from qiflow.exceptions import QiflowError
from qiflow.store import DriverError

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
        except DriverError as exc:
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            click.echo(
                f"error: the database refused the request: {detail}. If qiflow was "
                "upgraded, run `qiflow init`; otherwise please report this.",
                err=True,
            )
            ctx.exit(1)
