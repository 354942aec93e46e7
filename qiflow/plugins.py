"""Building the plugin manager: hook specs, qiflow's built-ins, then entry points."""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pluggy

from qiflow import hookspecs
from qiflow.exceptions import ConfigError
from qiflow.hookmarkers import PROJECT_NAME, hookimpl
from qiflow.notify.channels import Channel

#: qiflow's own features, registered through the same seam as third-party plugins.
DEFAULT_PLUGINS = (
    "qiflow.builtin.lifecycle",
    "qiflow.builtin.measurement",
    "qiflow.builtin.qeia",
    "qiflow.builtin.console",
    "qiflow.governance.escalation",
    "qiflow.notify.reminders",
    "qiflow.risks.policy",
    "qiflow.builtin.risks",
)


#: An entry-point name, as ``QIFLOW_PLUGINS`` and ``[plugins] allow`` list them.
PLUGIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
#: The environment variable that lists the plugins that may load.
ALLOW_ENV = "QIFLOW_PLUGINS"


def allow_list_problems(names: Sequence[str], key: str) -> list[str]:
    """What is wrong with an allow-list (``key`` names where it came from)."""
    return [
        f"{key}: {name!r} is not a plugin name (an entry-point name)"
        for name in names
        if not isinstance(name, str) or not PLUGIN_NAME.fullmatch(name)
    ]


def allow_list_from_env(env: Mapping[str, str] | None = None) -> tuple[str, ...] | None:
    """The names ``QIFLOW_PLUGINS`` lists (comma-separated; spaces around names ignored),
    or None when it is unset or empty. The one reading of that variable, for the CLI, the
    daemon and :class:`~qiflow.Engine` alike."""
    raw = (os.environ if env is None else env).get(ALLOW_ENV, "").strip()
    if not raw:
        return None
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def get_plugin_manager(
    plugins: Iterable[object] = (),
    *,
    entry_points: bool = True,
    allow: Iterable[str] | None = None,
) -> pluggy.PluginManager:
    """A new plugin manager with the built-ins, installed plugins and ``plugins``.

    ``allow``, when given, lists the entry-point names that may load; others are skipped
    (qiflow's built-ins and ``plugins`` always load). Raises
    :class:`~qiflow.exceptions.ConfigError` for a name that cannot be an entry point.
    """
    if isinstance(allow, str):
        raise ConfigError(f"plugins.allow must be a list of names, not the string {allow!r}")
    if allow is not None:
        allow = tuple(allow)
        problems = allow_list_problems(allow, "plugins.allow")
        if problems:
            raise ConfigError("; ".join(problems))
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    if entry_points:
        if allow is None:
            pm.load_setuptools_entrypoints(PROJECT_NAME)
        else:
            for name in allow:
                pm.load_setuptools_entrypoints(PROJECT_NAME, name=name)
    for plugin in plugins:
        pm.register(plugin)
    return pm


def build_channels(
    pm: pluggy.PluginManager, config: Mapping[str, Mapping[str, Any]]
) -> dict[str, Channel]:
    """The notification channels the plugins build from ``config`` (``[channels.<name>]``)."""
    found: dict[str, Channel] = {}
    for provided in pm.hook.qiflow_channels(config=config):
        found.update(provided)
    return found


__all__ = ["DEFAULT_PLUGINS", "PROJECT_NAME", "build_channels", "get_plugin_manager", "hookimpl"]
