"""Building the plugin manager: hook specs, qiflow's built-ins, then entry points."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any

import pluggy

from qiflow import hookspecs
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


def get_plugin_manager(
    plugins: Iterable[object] = (),
    *,
    entry_points: bool = True,
    allow: Iterable[str] | None = None,
) -> pluggy.PluginManager:
    """A new plugin manager with the built-ins, installed plugins and ``plugins``.

    ``allow``, when given, lists the entry-point names that may load; others are skipped.
    """
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
