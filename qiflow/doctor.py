"""``qiflow doctor``: checks an installation and explains each finding in one line.

Each check is independent: a broken configuration does not hide what the database
says. Checks that need something an earlier check found missing say so and fail.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path

import holidays

from qiflow.clock import Clock, SystemClock
from qiflow.config import Settings, default_path, load_settings, secret_problems
from qiflow.engine import Engine, database_state
from qiflow.exceptions import QiflowError
from qiflow.hookmarkers import PROJECT_NAME
from qiflow.notify.channels import Notification
from qiflow.plugins import build_channels, get_plugin_manager

#: Host and database clocks further apart than this make "due" ambiguous between daemons.
CLOCK_TOLERANCE = timedelta(seconds=5)


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'} {self.check}: {self.detail}"


@dataclass
class Doctor:
    """Runs the checks against one configuration (and, optionally, a database URL)."""

    config_path: Path | None = None
    database_url: str | None = None  # --db, overriding the configuration's
    env: Mapping[str, str] | None = None
    host_clock: Clock | None = None

    def __post_init__(self) -> None:
        self._env = os.environ if self.env is None else self.env
        self._path = self.config_path or default_path(self._env)
        self._settings: Settings | None = None
        self._db_ok = False

    def run(self, send_test: str | None = None) -> list[Finding]:
        checks: list[Callable[[], Finding]] = [
            self.config,
            self.database,
            self.clock,
            self.plugins,
            self.channels,
            self.calendar,
            self.secrets,
        ]
        found = [check() for check in checks]
        if send_test is not None:
            found.append(self.send_test(send_test))
        return found

    # each check ----------------------------------------------------------------------
    def config(self) -> Finding:
        where = str(self._path) if self._path else "no qiflow.toml; the defaults"
        try:
            self._settings = load_settings(self._path, self._env)
        except QiflowError as exc:
            return Finding("config", False, str(exc))
        return Finding("config", True, f"{where} is valid")

    def _url(self) -> str:
        if self.database_url is not None:
            return self.database_url
        settings = self._settings or self._database_only()
        return settings.database_url

    def _database_only(self) -> Settings:
        try:
            return load_settings(self._path, self._env, channels=False)
        except QiflowError:
            return Settings()

    def database(self) -> Finding:
        url = self._url()
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            file = Path(url.removeprefix("sqlite:///"))
            if not file.exists():
                return Finding("database", False, f"{file} does not exist: run `qiflow init`")
        try:
            state = database_state(url)
        except QiflowError as exc:
            return Finding("database", False, str(exc))
        if state.revision is None:
            return Finding(
                "database", False, f"{state.url} has no qiflow tables: run `qiflow init`"
            )
        if not state.known:
            return Finding(
                "database",
                False,
                f"{state.url} is at schema {state.revision}, newer than this qiflow knows "
                f"(newest {state.head}): upgrade qiflow",
            )
        if not state.current:
            return Finding(
                "database",
                False,
                f"{state.url} is at schema {state.revision}, this qiflow expects {state.head}: "
                "stop the daemons if the release notes say so, then run `qiflow init`",
            )
        self._db_ok = True
        return Finding("database", True, f"{state.url} ({state.backend}) at schema {state.head}")

    def clock(self) -> Finding:
        if not self._db_ok:
            return Finding("clock", False, "cannot compare: the database check failed")
        try:
            state = database_state(self._url())
        except QiflowError:
            return Finding("clock", False, "cannot compare: the database is unreachable")
        host = (self.host_clock or SystemClock()).now()
        drift = host - state.now
        seconds = abs(drift.total_seconds())
        detail = (
            f"this host is {seconds:.1f}s {'ahead of' if drift > timedelta(0) else 'behind'} "
            "the database"
        )
        if abs(drift) > CLOCK_TOLERANCE:
            return Finding(
                "clock",
                False,
                f"{detail} (more than {CLOCK_TOLERANCE.total_seconds():.0f}s): run NTP "
                "(e.g. systemd-timesyncd or chrony) on both; the daemons go by the database",
            )
        return Finding("clock", True, detail)

    def plugins(self) -> Finding:
        allow = (self._settings or self._database_only()).plugins_allow
        installed = sorted({ep.name for ep in entry_points(group=PROJECT_NAME)})
        if allow is None:
            return Finding(
                "plugins", True, f"loaded: {', '.join(installed) or 'none'} (no allow-list)"
            )
        unknown = sorted(set(allow) - set(installed))
        refused = sorted(set(installed) - set(allow))
        loaded = sorted(set(installed) & set(allow))
        detail = f"loaded: {', '.join(loaded) or 'none'}; refused by the allow-list: " + (
            ", ".join(refused) or "none"
        )
        if unknown:
            return Finding(
                "plugins",
                False,
                f"the allow-list names {', '.join(unknown)}, which no installed plugin provides "
                f"(installed: {', '.join(installed) or 'none'}); {detail}",
            )
        try:
            get_plugin_manager(allow=allow)
        except Exception as exc:  # a plugin that fails to import
            return Finding("plugins", False, f"a plugin failed to load: {exc}")
        return Finding("plugins", True, detail)

    def channels(self) -> Finding:
        if self._settings is None:
            return Finding("channels", False, "cannot check: the configuration is invalid")
        settings = self._settings
        try:
            built = build_channels(
                get_plugin_manager(allow=settings.plugins_allow), settings.channels
            )
        except QiflowError as exc:
            return Finding("channels", False, str(exc))
        missing = sorted(set(settings.channels) - set(built))
        if missing:
            return Finding(
                "channels",
                False,
                f"[channels.{missing[0]}] is configured but no installed plugin provides "
                f"{', '.join(missing)}; install its plugin or add it to [plugins] allow",
            )
        routed = {name for names in settings.policy.routing.values() for name in names}
        unknown = sorted(routed - set(built))
        if unknown:
            return Finding(
                "channels",
                False,
                f"[routing] names {', '.join(unknown)}, which no channel provides "
                f"(available: {', '.join(sorted(built))})",
            )
        return Finding("channels", True, f"settings complete: {', '.join(sorted(built))}")

    def calendar(self) -> Finding:
        window = (self._settings or self._database_only()).window
        if window.country is None:
            return Finding("calendar", True, "bank holidays are off ([sending] holidays = false)")
        region = f"{window.country}" + (f"-{window.subdivision}" if window.subdivision else "")
        try:
            today = (self.host_clock or SystemClock()).now().astimezone(window.zone).date()
            days = holidays.country_holidays(
                window.country, subdiv=window.subdivision, years=[today.year, today.year + 1]
            )
        except (NotImplementedError, KeyError, ValueError) as exc:
            return Finding(
                "calendar",
                False,
                f"no bank-holiday calendar for {region} ({exc}); set [sending] country and "
                "subdivision (e.g. GB and ENG)",
            )
        upcoming = sorted(d for d in days if d >= today)
        following = (
            f"next bank holiday {upcoming[0]:%a %d %b %Y} ({days.get(upcoming[0])})"
            if upcoming
            else "no bank holiday this year or next"
        )
        return Finding(
            "calendar",
            True,
            f"time zone {window.timezone}, sending {_days(window.days)} "
            f"{window.start:%H:%M}-{window.end:%H:%M}, bank holidays of {region}; {following}",
        )

    def secrets(self) -> Finding:
        problems = secret_problems(self._path, self._env)
        if problems:
            return Finding("secrets", False, "; ".join(problems))
        return Finding("secrets", True, "no secret is readable by group or others")

    def send_test(self, person: str) -> Finding:
        if self._settings is None or not self._db_ok:
            return Finding(
                "send-test", False, "cannot send: the configuration or database check failed"
            )
        settings = self._settings
        pm = get_plugin_manager(allow=settings.plugins_allow)
        try:
            with Engine(self._url(), plugins=pm) as engine:
                found = engine.person(person)
                built = engine.channels(settings.channels)
        except QiflowError as exc:
            return Finding("send-test", False, str(exc))
        if found is None:
            return Finding("send-test", False, f"no person {person!r} in the directory")
        names = found.channels or settings.policy.routing.get("event", ("console",))
        sent, failed = [], []
        for name in names:
            channel = built.get(name)
            if channel is None:
                failed.append(f"{name}: not available here")
                continue
            message = Notification(
                key=f"qiflow-doctor-{person}-{datetime.now().timestamp():.0f}",
                channel=name,
                recipient=found.id,
                name=found.name,
                address=found.email,
                subject="qiflow test message",
                body="qiflow doctor sent this to check that messages reach you.",
            )
            try:
                channel.send(message)
            except Exception as exc:  # any channel failure is the finding
                failed.append(f"{name}: {exc}")
            else:
                sent.append(name)
        if failed:
            return Finding("send-test", False, f"to {person}: failed {'; '.join(failed)}")
        return Finding("send-test", True, f"to {person}: sent through {', '.join(sent)}")


def _days(days: tuple[int, ...]) -> str:
    names = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    return ",".join(names[d] for d in days)


__all__ = ["CLOCK_TOLERANCE", "Doctor", "Finding"]
