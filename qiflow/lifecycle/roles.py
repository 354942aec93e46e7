"""Who holds which role on a project: plugins (owner, sponsor, ...) and the staff directory."""

from __future__ import annotations

from typing import Protocol

import pluggy

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
        self.plugin_directory: Directory | None = pm.hook.qiflow_directory()

    def directory(self, tx: Tx) -> Directory:
        return self.plugin_directory or DatabaseDirectory(tx)

    def from_plugins(self, project: Project, person: str) -> set[str]:
        """Roles plugins give ``person`` on ``project`` (owner and sponsor, built in)."""
        roles: set[str] = set()
        for found in self._pm.hook.qiflow_actor_roles(project=project, actor=person):
            roles.update(found)
        return roles

    def of(self, project: Project, person: str, directory: Directory) -> set[str]:
        """Roles from plugins and from the directory."""
        roles = self.from_plugins(project, person)
        record = directory.person(person)
        if record is not None and record.active:
            roles.update(record.roles)
        return roles
