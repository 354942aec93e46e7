"""What every ``qiflow`` subcommand shares: the context, the actor option, error handling."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import click
import pluggy

from qiflow.cli.output import use_zone
from qiflow.config import Settings, load_settings, plugin_manager
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
    _settings: Settings | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        """qiflow.toml and QIFLOW_* (without channel secrets), read once per command."""
        if self._settings is None:
            self._settings = load_settings(channels=False)
        return self._settings

    def plugins(self) -> pluggy.PluginManager:
        """The plugins every command uses: the built-ins and the allowed ones only."""
        return plugin_manager(self.settings())

    def engine(self) -> Engine:
        if self._engine is None:
            settings = self.settings()
            use_zone(settings.window.zone)
            self._engine = Engine(
                self.database_url,
                workflows_dir=self.workflows_dir,
                plugins=plugin_manager(settings),
                timezone=settings.window.timezone,
            )
        return self._engine

    def local(self, when: datetime | None) -> datetime | None:
        """A date and time a person typed, read in the trust's time zone."""
        if when is None or when.tzinfo is not None:
            return when
        return when.replace(tzinfo=self.settings().window.zone)

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
            missing = any(
                words in detail for words in ("no such table", "no such column", "does not exist")
            )
            hint = (
                "the schema is not what this qiflow expects: run `qiflow init`"
                if missing
                else "please report this"
            )
            click.echo(f"error: the database refused the request: {detail}; {hint}", err=True)
            ctx.exit(1)
