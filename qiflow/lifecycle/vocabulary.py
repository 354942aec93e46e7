"""The names a workflow file may use, gathered from the plugins and the engine's own effects."""

from __future__ import annotations

from typing import Any

import pluggy

from qiflow.lifecycle.effects import EFFECTS
from qiflow.workflow import Vocabulary
from qiflow.workflow.loader import TableCheck


def vocabulary(pm: pluggy.PluginManager) -> Vocabulary:
    """The guard, gate, effect and role names, and the table checks, plugins registered."""
    guards: set[str] = set()
    for found in pm.hook.qiflow_requirements():
        guards.update(found)
    gates: dict[str, Any] = {}
    for found in pm.hook.qiflow_gates():
        gates.update(found)
    roles: set[str] = set()
    for found in pm.hook.qiflow_roles():
        roles.update(found)
    events: set[str] = set()
    for found in pm.hook.qiflow_event_types():
        events.update(found)
    tables: dict[str, TableCheck] = {}
    for found in pm.hook.qiflow_workflow_tables():
        tables.update(found)
    return Vocabulary(
        events=frozenset(events),
        guards=frozenset(guards),
        gates=frozenset(gates),
        effects=frozenset(EFFECTS),
        roles=frozenset(roles),
        gate_config_checks={name: gate.check_config for name, gate in gates.items()},
        table_checks=tables,
    )
