"""Configuration: ``qiflow.toml`` plus ``QIFLOW_*`` environment variables.

Secrets never need to be in the file: any channel setting ``NAME_env = "VAR"``
takes its value from the environment variable VAR, and ``NAME_file = "path"``
from a file. A configuration file that does hold a secret must not be readable
by group or others; the daemon refuses to start otherwise and says how to fix it.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from qiflow.engine import DEFAULT_DATABASE_URL
from qiflow.exceptions import ConfigError
from qiflow.notify.civil_time import SendingWindow, parse_window
from qiflow.notify.delivery import DeliverySettings
from qiflow.notify.reminders import ReminderPolicy

SECRET_WORDS = ("password", "secret", "token", "api_key", "url")
TOP_KEYS = {
    "database_url",
    "workflows_dir",
    "sending",
    "daemon",
    "routing",
    "channels",
    "plugins",
    "web",
}


@dataclass(frozen=True)
class DaemonSettings:
    sweep_interval: float = 60.0
    delivery_interval: float = 10.0
    shutdown_timeout: float = 30.0
    delivery: DeliverySettings = field(default_factory=DeliverySettings)


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    workflows_dir: str | None = None
    policy: ReminderPolicy = field(default_factory=ReminderPolicy)
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    channels: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    plugins_allow: tuple[str, ...] | None = None
    path: Path | None = None

    @property
    def window(self) -> SendingWindow:
        return self.policy.window


def default_path(env: Mapping[str, str]) -> Path | None:
    if env.get("QIFLOW_CONFIG"):
        return Path(env["QIFLOW_CONFIG"])
    local = Path("qiflow.toml")
    return local if local.exists() else None


def load_settings(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    check_permissions: bool = False,
    channels: bool = True,
) -> Settings:
    """Read settings from ``path`` (or $QIFLOW_CONFIG, or ./qiflow.toml) and the environment.

    ``channels=False`` leaves the channel tables (and so their secrets) unread, for
    commands that only need the database.
    """
    env = os.environ if env is None else env
    path = path or default_path(env)
    doc: dict[str, Any] = {}
    if path is not None:
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: malformed TOML: {exc}") from exc
    problems = [
        f"unknown key {k!r} (expected {', '.join(sorted(TOP_KEYS))})"
        for k in doc
        if k not in TOP_KEYS
    ]
    sending = {**doc.get("sending", {})}
    for key, var in (
        ("timezone", "QIFLOW_TIMEZONE"),
        ("days", "QIFLOW_SENDING_DAYS"),
        ("hours", "QIFLOW_SENDING_HOURS"),
    ):
        if env.get(var):
            sending[key] = env[var]
    digest = sending.pop("digest", True)
    if env.get("QIFLOW_DIGEST"):
        digest = env["QIFLOW_DIGEST"].lower() not in ("0", "false", "no", "off")
    try:
        window = parse_window(**{k: str(v) for k, v in sending.items()})
        window.zone  # noqa: B018 - fail now on an unknown time zone
    except (ValueError, TypeError, KeyError) as exc:
        problems.append(f"sending: {exc}")
        window = SendingWindow()
    except Exception as exc:  # zoneinfo raises its own error for unknown zones
        problems.append(f"sending.timezone: {exc}")
        window = SendingWindow()
    routing = {kind: tuple(channels) for kind, channels in doc.get("routing", {}).items()}
    policy = ReminderPolicy(
        window=window,
        digest=bool(digest),
        routing={
            "reminder": ("console",),
            "escalation": ("console",),
            "event": ("console",),
            **routing,
        },
    )
    # Relative paths in channel tables mean "next to qiflow.toml", wherever the daemon runs.
    here = (path.parent if path is not None else Path()).resolve()
    raw_channels = doc.get("channels", {}) if channels else {}
    resolved, secrets = _channels(raw_channels, env, problems, here)
    # Channels link to the web pages ({base_url}/projects/{ref}) and date in the trust's zone.
    base_url = str(env.get("QIFLOW_WEB_BASE_URL") or doc.get("web", {}).get("base_url", ""))
    if base_url and not base_url.startswith(("https://", "http://")):
        problems.append(f"web.base_url {base_url!r} must be an http(s) URL")
    for table in resolved.values():
        if "timezone" in sending:
            table.setdefault("timezone", window.timezone)
        if base_url:
            table.setdefault("base_url", base_url.rstrip("/"))
    daemon = _daemon(doc.get("daemon", {}), problems, digest=bool(digest))
    allow = env.get("QIFLOW_PLUGINS")
    plugins = (
        tuple(p.strip() for p in allow.split(",") if p.strip())
        if allow
        else (tuple(doc["plugins"]["allow"]) if "allow" in doc.get("plugins", {}) else None)
    )
    if problems:
        raise ConfigError(f"{path or 'configuration'}: " + "; ".join(problems))
    if check_permissions and path is not None and secrets:
        _check_private(path, secrets)
    return Settings(
        database_url=env.get("QIFLOW_DATABASE_URL")
        or doc.get("database_url")
        or DEFAULT_DATABASE_URL,
        workflows_dir=env.get("QIFLOW_WORKFLOWS_DIR") or doc.get("workflows_dir"),
        policy=policy,
        daemon=daemon,
        channels=resolved,
        plugins_allow=plugins,
        path=path,
    )


def _channels(
    raw: Mapping[str, Any], env: Mapping[str, str], problems: list[str], here: Path
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


def _daemon(raw: Mapping[str, Any], problems: list[str], *, digest: bool) -> DaemonSettings:
    def number(key: str, default: float) -> float:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            problems.append(f"daemon.{key} must be a positive number of seconds")
            return default
        return float(value)

    attempts = raw.get("max_attempts", 8)
    if not isinstance(attempts, int) or attempts < 1:
        problems.append("daemon.max_attempts must be a whole number, 1 or more")
        attempts = 8
    return DaemonSettings(
        sweep_interval=number("sweep_interval", 60),
        delivery_interval=number("delivery_interval", 10),
        shutdown_timeout=number("shutdown_timeout", 30),
        delivery=DeliverySettings(
            lease=timedelta(seconds=number("lease", 300)),
            batch=int(number("batch", 200)),
            max_attempts=attempts,
            digest=digest,
        ),
    )


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
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
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
