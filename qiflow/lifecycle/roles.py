"""Who holds which role on a project: plugins (owner, sponsor, ...) and the staff directory."""

from __future__ import annotations

from typing import Protocol

import pluggy

from qiflow import hookcall
from qiflow.snapshots import Person, Project
from qiflow.store import Tx

#: The actor of what qiflow does by itself (automatic transitions, expiry).
SYSTEM = "system"


class Directory(Protocol):
    """Looks people up by id (a trust's staff directory can implement this)."""

    def person(self, person_id: str) -> Person | None: ...


class DatabaseDirectory:
    """The ``person`` table, read inside the command's transaction."""

    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    def person(self, person_id: str) -> Person | None:
        return self._tx.people.get(person_id)


class Roles:
    """Role look-ups through the plugins and the directory (a plugin's, else the database's)."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._pm = pm
        self.plugin_directory: Directory | None = hookcall.call(pm, "qiflow_directory")
        self._known: frozenset[str] | None = None

    def holders(self, role: str) -> list[str] | None:
        """Who holds ``role`` in a plugin's directory (``qiflow_role_holders``); None when
        no plugin says, and qiflow's own directory answers."""
        found = hookcall.call(self._pm, "qiflow_role_holders", role=role)
        return None if found is None else list(found)

    def from_holders(self, person: str) -> set[str]:
        """The roles the ``qiflow_role_holders`` hook lists ``person`` under."""
        if self._known is None:
            self._known = frozenset(
                r for found in hookcall.call(self._pm, "qiflow_roles") for r in found
            )
        return {role for role in self._known if person in (self.holders(role) or ())}

    def directory(self, tx: Tx) -> Directory:
        return self.plugin_directory or DatabaseDirectory(tx)

    def from_plugins(self, project: Project, person: str) -> set[str]:
        """Roles plugins give ``person`` on ``project`` (owner and sponsor, built in)."""
        roles: set[str] = set()
        for found in hookcall.call(self._pm, "qiflow_actor_roles", project=project, actor=person):
            roles.update(found)
        return roles

    def of(self, project: Project, person: str, directory: Directory) -> set[str]:
        """Roles from plugins (``qiflow_actor_roles``, ``qiflow_role_holders``) and from
        the directory; for a role the holders hook answers, its answer alone counts."""
        roles = self.from_plugins(project, person) | self.from_holders(person)
        record = directory.person(person)
        if record is not None and record.active:
            # a role the holders hook answers for is held by whom it names, no one else
            roles.update(
                role
                for role in record.roles
                if (named := self.holders(role)) is None or person in named
            )
        return roles
