"""The schema of ``qiflow.toml``, checked with pydantic: every problem, with its key.

Types are strict (``sending = "always"`` is not a table, ``allow = "finance"`` is not a
list, ``max_attempts = true`` is not a number) and unknown keys are refused at every
level except ``[channels.<name>]``, whose keys belong to the channel's plugin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field

_MESSAGES = {
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "dict_type": "must be a table",
    "list_type": "must be a list",
    "string_type": "must be text",
    "bool_type": "must be true or false",
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "greater_than": "must be more than 0",
    "greater_than_equal": "must be 1 or more",
}


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SendingTable(_Table):
    """``[sending]``: when it is civil to send."""

    timezone: str = "Europe/London"
    days: str = "mon-fri"
    hours: str = "09:00-17:00"
    country: str = "GB"
    subdivision: str = "ENG"
    #: Bank holidays of ``country``/``subdivision`` close the window (false: never).
    holidays: bool = True
    digest: bool = True


class DaemonTable(_Table):
    """``[daemon]``: the daemon's timings (seconds) and delivery limits."""

    sweep_interval: float = Field(default=60, gt=0)
    delivery_interval: float = Field(default=10, gt=0)
    shutdown_timeout: float = Field(default=30, gt=0)
    lease: float = Field(default=300, gt=0)
    batch: int = Field(default=200, ge=1)
    max_attempts: int = Field(default=8, ge=1)


class PluginsTable(_Table):
    """``[plugins]``: which installed plugins (entry-point names) may load."""

    allow: list[str] | None = None


class WebTable(_Table):
    """``[web]``: where people open projects (channels link to ``{base_url}/projects/REF``),
    and the reverse proxies trusted to name the signed-in user in ``user_header``."""

    base_url: str = ""
    trusted_proxies: list[str] = Field(default_factory=list)
    user_header: str = "X-Remote-User"


class MetricsTable(_Table):
    """``[metrics]``: where the daemon serves /metrics, /livez and /readyz (off when unset)."""

    #: ``HOST:PORT`` (``[::1]:9464`` for IPv6); port 0 picks a free one.
    address: str | None = None


class RetentionTable(_Table):
    """``[retention]``: days after which the daemon deletes old notifications (unset: kept)."""

    sent_notifications: int | None = Field(default=None, ge=1)
    dead_notifications: int | None = Field(default=None, ge=1)


class ConfigFile(_Table):
    """The whole of ``qiflow.toml``."""

    database_url: str | None = None
    workflows_dir: str | None = None
    sending: SendingTable = SendingTable()
    daemon: DaemonTable = DaemonTable()
    routing: dict[str, list[str]] = Field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = Field(default_factory=dict)
    plugins: PluginsTable = PluginsTable()
    web: WebTable = WebTable()
    metrics: MetricsTable = MetricsTable()
    retention: RetentionTable = RetentionTable()


def _key(loc: Sequence[int | str]) -> str:
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key


def _allowed(loc: Sequence[int | str]) -> list[str]:
    """The keys the table at ``loc`` (the parent of an unknown key) accepts."""
    model: type[BaseModel] = ConfigFile
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return sorted(model.model_fields)


def parse(doc: Mapping[str, Any]) -> tuple[ConfigFile, list[str]]:
    """The checked file and every problem as ``key: what is wrong``.

    With problems, the tables that had none are kept (so later checks of their values
    can report theirs too) and the rest take their defaults.
    """
    try:
        return ConfigFile.model_validate(doc), []
    except pydantic.ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = error["loc"]
            if error["type"] == "extra_forbidden":
                allowed = ", ".join(_allowed(loc[:-1]))
                message = f"unknown key; expected one of {allowed}"
            else:
                message = _MESSAGES.get(error["type"], error["msg"])
                if error["type"] not in ("missing",):
                    message += f", not {error['input']!r}"
            problems.append(f"{_key(loc)}: {message}")
        bad = {error["loc"][0] for error in exc.errors() if error["loc"]}
        good = {k: v for k, v in doc.items() if k in ConfigFile.model_fields and k not in bad}
        return ConfigFile.model_validate(good), problems
