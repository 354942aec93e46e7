"""Every call into a plugin goes through here: pluggy's own hook call, and a plugin that
raises becomes a :class:`~qiflow.exceptions.PluginError` naming the plugin and the hook.

:func:`call` calls a hook as pluggy does (its ``_multicall``: wrappers, ``firstresult``,
registration order); when an implementation raises something other than a qiflow error
(a plugin's deliberate refusal passes through as it is), the traceback tells which
implementation it was. :func:`guarded` does the same for a method of an object a plugin
registered (a requirement's ``check``, a gate's ``assess``). Raised inside a command's
transaction, the error rolls it back: the command writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pluggy

from qiflow.exceptions import PluginError, QiflowError

T = TypeVar("T")


def call(pm: pluggy.PluginManager, name: str, **kwargs: Any) -> Any:
    """Call hook ``name`` with ``kwargs``; a plugin's failure is a :class:`PluginError`."""
    hook = getattr(pm.hook, name)
    try:
        return hook(**kwargs)
    except QiflowError:
        raise
    except Exception as exc:
        raise PluginError(_culprit(hook, exc), name, exc) from exc


def guarded(plugin: str, where: str, method: Callable[..., T], *args: Any) -> T:
    """Call ``method`` of an object plugin ``plugin`` registered (``where`` names it)."""
    try:
        return method(*args)
    except QiflowError:
        raise
    except Exception as exc:
        raise PluginError(plugin, where, exc) from exc


def _name(impl: Any) -> str:
    """A hook implementation's plugin as people know it: its registered name, or its
    class's name for an object registered without one (pluggy names those by ``id``)."""
    name: str = impl.plugin_name
    return type(impl.plugin).__name__ if name.isdigit() else name


def provider(thing: object) -> str:
    """The plugin an object came from, by the package that defines its class."""
    module = getattr(thing, "__module__", None) or type(thing).__module__
    return module.split(".")[0] if not module.startswith("qiflow.") else module


def _culprit(hook: Any, exc: BaseException) -> str:
    """The plugin whose implementation raised ``exc``: the innermost traceback frame that
    runs one of the hook's implementations."""
    owners = {impl.function.__code__: _name(impl) for impl in hook.get_hookimpls()}
    found = "an unknown plugin"
    tb = exc.__traceback__
    while tb is not None:
        owner = owners.get(tb.tb_frame.f_code)
        if owner is not None:
            found = owner
        tb = tb.tb_next
    return found
