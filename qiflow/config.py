"""Configuration: ``qiflow.toml`` plus ``QIFLOW_*`` environment variables.

Secrets never need to be in the file: any channel setting ``NAME_env = "VAR"``
takes its value from the environment variable VAR, and ``NAME_file = "path"``
from a file. A configuration file that does hold a secret must not be readable
by group or others; the daemon refuses to start otherwise and says how to fix it.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pluggy

from qiflow import config_schema, toml_input
from qiflow.engine import DEFAULT_DATABASE_URL
from qiflow.exceptions import ConfigError
from qiflow.notify.civil_time import SendingWindow, parse_window
from qiflow.notify.delivery import DeliverySettings
from qiflow.notify.reminders import ReminderPolicy
from qiflow.plugins import (
    ALLOW_ENV,
    allow_list_from_env,
    allow_list_problems,
    get_plugin_manager,
)

SECRET_WORDS = ("password", "secret", "token", "api_key", "url")


@dataclass(frozen=True)
class DaemonSettings:
    sweep_interval: float = 60.0
    delivery_interval: float = 10.0
    shutdown_timeout: float = 30.0
    delivery: DeliverySettings = field(default_factory=DeliverySettings)


@dataclass(frozen=True)
class WebSettings:
    """``[web]``: the pages' base URL, and the reverse proxies (addresses or networks)
    trusted to name the signed-in person in ``user_header``."""

    base_url: str = ""
    trusted_proxies: tuple[str, ...] = ()
    user_header: str = "X-Remote-User"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    workflows_dir: str | None = None
    policy: ReminderPolicy = field(default_factory=ReminderPolicy)
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    channels: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    plugins_allow: tuple[str, ...] | None = None
    path: Path | None = None
    web: WebSettings = field(default_factory=WebSettings)
    #: Where the daemon serves metrics and health (``[metrics] address``); None: nowhere.
    metrics_address: tuple[str, int] | None = None
    #: How long the daemon keeps sent and dead notifications (``[retention]``), by status.
    retention: Mapping[str, timedelta] = field(default_factory=dict)

    @property
    def window(self) -> SendingWindow:
        return self.policy.window


def default_path(env: Mapping[str, str]) -> Path | None:
    if env.get("QIFLOW_CONFIG"):
        return Path(env["QIFLOW_CONFIG"])
    local = Path("qiflow.toml")
    return local if local.exists() else None


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
ROUTING_KINDS = ("reminder", "escalation", "event")


def load_settings(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    check_permissions: bool = False,
    channels: bool = True,
) -> Settings:
    """Read settings from ``path`` (or $QIFLOW_CONFIG, or ./qiflow.toml) and the environment.

    The whole file is checked against :mod:`qiflow.config_schema`; every problem is
    reported at once, each with its key (or the environment variable that set it).
    ``channels=False`` leaves the channel tables (and so their secrets) unread, for
    commands that only need the database.
    """
    env = os.environ if env is None else env
    path = path or default_path(env)
    doc: dict[str, Any] = {}
    if path is not None:
        try:
            doc = toml_input.loads(toml_input.read_text(path))
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
        except toml_input.TomlProblem as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    parsed, problems = config_schema.parse(doc)
    window, digest = _sending(parsed.sending, env, problems)
    routing = _routing(parsed.routing, problems)
    policy = ReminderPolicy(
        window=window,
        digest=digest,
        routing={
            "reminder": ("console",),
            "escalation": ("console",),
            "event": ("console",),
            **routing,
        },
    )
    # Relative paths in channel tables mean "next to qiflow.toml", wherever the daemon runs.
    here = (path.parent if path is not None else Path()).resolve()
    resolved, secrets = _channels(parsed.channels if channels else {}, env, problems, here)
    # Channels link to the web pages ({base_url}/projects/{ref}) and date in the trust's zone.
    base_url, url_key = (
        (env["QIFLOW_WEB_BASE_URL"], "QIFLOW_WEB_BASE_URL")
        if env.get("QIFLOW_WEB_BASE_URL")
        else (parsed.web.base_url, "web.base_url")
    )
    if base_url and not base_url.startswith(("https://", "http://")):
        problems.append(f"{url_key} {base_url!r} must be an http(s) URL")
    zone_given = "timezone" in parsed.sending.model_fields_set or env.get("QIFLOW_TIMEZONE")
    for table in resolved.values():
        if zone_given:
            table.setdefault("timezone", window.timezone)
        if base_url:
            table.setdefault("base_url", base_url.rstrip("/"))
    plugins = _plugins(parsed.plugins.allow, env, problems)
    for proxy in parsed.web.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            problems.append(
                f"web.trusted_proxies: {proxy!r} is not an IP address or network "
                '(e.g. "10.0.0.5" or "10.0.0.0/24")'
            )
    header = parsed.web.user_header
    if not header or not all(c.isascii() and (c.isalnum() or c == "-") for c in header):
        problems.append(
            f"web.user_header: {parsed.web.user_header!r} is not an HTTP header name "
            '(letters, digits and hyphens, e.g. "X-Remote-User")'
        )
    metrics = _address(env.get("QIFLOW_METRICS_ADDRESS") or parsed.metrics.address, problems)
    if problems:
        raise ConfigError(f"{path or 'configuration'}: " + "; ".join(problems))
    if check_permissions and path is not None and secrets:
        _check_private(path, secrets)
    raw_daemon = parsed.daemon
    return Settings(
        database_url=env.get("QIFLOW_DATABASE_URL") or parsed.database_url or DEFAULT_DATABASE_URL,
        workflows_dir=env.get("QIFLOW_WORKFLOWS_DIR") or parsed.workflows_dir,
        policy=policy,
        daemon=DaemonSettings(
            sweep_interval=raw_daemon.sweep_interval,
            delivery_interval=raw_daemon.delivery_interval,
            shutdown_timeout=raw_daemon.shutdown_timeout,
            delivery=DeliverySettings(
                lease=timedelta(seconds=raw_daemon.lease),
                batch=raw_daemon.batch,
                max_attempts=raw_daemon.max_attempts,
                digest=digest,
            ),
        ),
        channels=resolved,
        plugins_allow=plugins,
        path=path,
        web=WebSettings(
            base_url=base_url.rstrip("/"),
            trusted_proxies=tuple(parsed.web.trusted_proxies),
            user_header=parsed.web.user_header,
        ),
        metrics_address=metrics,
        retention={
            status: timedelta(days=days)
            for status, days in (
                ("sent", parsed.retention.sent_notifications),
                ("dead", parsed.retention.dead_notifications),
            )
            if days is not None
        },
    )


def plugin_manager(settings: Settings, plugins: Sequence[object] = ()) -> pluggy.PluginManager:
    """The plugin manager every command uses: the built-ins and the allowed plugins only."""
    return get_plugin_manager(plugins, allow=settings.plugins_allow)


def _sending(
    table: config_schema.SendingTable, env: Mapping[str, str], problems: list[str]
) -> tuple[SendingWindow, bool]:
    """The sending window and the digest setting, with QIFLOW_* overrides."""
    values = table.model_dump()
    keys = {name: f"sending.{name}" for name in values}
    for key, var in (
        ("timezone", "QIFLOW_TIMEZONE"),
        ("days", "QIFLOW_SENDING_DAYS"),
        ("hours", "QIFLOW_SENDING_HOURS"),
    ):
        if env.get(var):
            values[key], keys[key] = env[var], var
    digest = bool(values.pop("digest"))
    word = env.get("QIFLOW_DIGEST", "").strip().lower()
    if word:
        if word not in TRUE_WORDS + FALSE_WORDS:
            problems.append(
                f"QIFLOW_DIGEST: {env['QIFLOW_DIGEST']!r} is not one of "
                f"{', '.join(TRUE_WORDS + FALSE_WORDS)}"
            )
        digest = word in TRUE_WORDS
    try:
        ZoneInfo(values["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"{keys['timezone']}: unknown time zone {values['timezone']!r}")
        return SendingWindow(), digest
    try:
        window = parse_window(
            values["days"],
            values["hours"],
            holidays=values["holidays"],
            timezone=values["timezone"],
            country=values["country"],
            subdivision=values["subdivision"],
        )
    except ValueError as exc:
        key = keys["days"] if "day" in str(exc) else keys["hours"]
        problems.append(f"{key}: {exc}")
        return SendingWindow(), digest
    return window, digest


def _address(raw: str | None, problems: list[str]) -> tuple[str, int] | None:
    """``HOST:PORT`` (``[::1]:9464`` for IPv6) as (host, port)."""
    if not raw:
        return None
    host, _, port = raw.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or int(port) > 65535:
        problems.append(
            f'metrics.address: {raw!r} is not HOST:PORT (e.g. "127.0.0.1:9464" or "[::1]:9464")'
        )
        return None
    return host, int(port)


def _routing(raw: Mapping[str, Sequence[str]], problems: list[str]) -> dict[str, tuple[str, ...]]:
    routing: dict[str, tuple[str, ...]] = {}
    for kind, channels in raw.items():
        if kind.split(":")[0] not in ROUTING_KINDS:
            problems.append(
                f"routing.{kind}: unknown kind; expected {', '.join(ROUTING_KINDS)} "
                "or event:<event type>"
            )
            continue
        routing[kind] = tuple(channels)
    return routing


def _plugins(
    allow: Sequence[str] | None, env: Mapping[str, str], problems: list[str]
) -> tuple[str, ...] | None:
    """QIFLOW_PLUGINS (comma-separated entry-point names) or ``[plugins] allow``."""
    from_env = allow_list_from_env(env)
    names, key = (from_env, ALLOW_ENV) if from_env is not None else (allow, "plugins.allow")
    if names is None:
        return None
    problems.extend(allow_list_problems(names, key))
    return tuple(names)


def _channels(
    raw: Mapping[str, Mapping[str, Any]], env: Mapping[str, str], problems: list[str], here: Path
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Resolve ``*_env`` and ``*_file`` settings and relative paths (``path``, ``*_path``,
    ``*_dir``, and the files ``*_file`` names) against ``here``, the directory of
    ``qiflow.toml``; also list literal secrets in the file."""
    result: dict[str, dict[str, Any]] = {}
    literal: list[str] = []
    for name, table in raw.items():
        if not isinstance(table, dict):
            problems.append(f"channels.{name} must be a table")
            continue
        resolved: dict[str, Any] = {}
        for key, value in table.items():
            if key.endswith("_env"):
                var = str(value)
                if var not in env:
                    problems.append(f"channels.{name}.{key}: environment variable {var} is not set")
                    continue
                resolved[key[:-4]] = env[var]
            elif key.endswith("_file"):
                try:
                    secret = (here / str(value)).read_text(encoding="utf-8")
                    resolved[key[:-5]] = secret.rstrip("\r\n")
                except OSError as exc:
                    problems.append(f"channels.{name}.{key}: {exc}")
            elif _is_path(key) and isinstance(value, str) and value:
                resolved[key] = str(here / Path(value).expanduser())
            else:
                resolved[key] = value
                if any(word in key.lower() for word in SECRET_WORDS):
                    literal.append(f"channels.{name}.{key}")
        result[name] = resolved
    return result, literal


def _is_path(key: str) -> bool:
    """Whether a channel setting names a file or folder (resolved next to qiflow.toml)."""
    return key == "path" or key.endswith(("_path", "_dir"))


def _check_private(path: Path, secrets: list[str]) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"{path} holds secrets ({', '.join(secrets)}) and is readable by group or others "
            f"(mode {mode:o}); run `chmod 600 {path}`, or move each secret to an environment "
            'variable (e.g. password_env = "QIFLOW_SMTP_PASSWORD")'
        )


def secret_problems(path: Path | None, env: Mapping[str, str] | None = None) -> list[str]:
    """Secrets readable by group or others: the file itself (if it holds one) and ``*_file``s."""
    env = os.environ if env is None else env
    path = path or default_path(env)
    if path is None:
        return []
    try:
        doc = toml_input.loads(toml_input.read_text(path))
    except (OSError, toml_input.TomlProblem):
        return []  # the configuration check reports it
    tables = doc.get("channels", {})
    here = path.parent
    _, literal = _channels(tables, env, [], here)
    problems: list[str] = []
    if literal:
        try:
            _check_private(path, literal)
        except ConfigError as exc:
            problems.append(str(exc))
    for name, table in tables.items():
        for key, value in table.items() if isinstance(table, dict) else ():
            secret = here / str(value)
            if key.endswith("_file") and secret.exists():
                mode = stat.S_IMODE(secret.stat().st_mode)
                if mode & 0o077:
                    problems.append(
                        f"channels.{name}.{key}: {secret} is readable by group or others "
                        f"(mode {mode:o}); run `chmod 600 {secret}`"
                    )
    return problems
