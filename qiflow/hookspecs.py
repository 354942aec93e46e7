"""The plugin contract: every hook qiflow calls, documented in ``docs/plugins.md``.

Implement any of these in a module or class, mark each with
``@qiflow.hookimpl`` and publish it under the ``qiflow`` entry-point group.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from qiflow.hookmarkers import hookspec

if TYPE_CHECKING:
    from qiflow.fields import ProjectField
    from qiflow.governance.gates import GateType
    from qiflow.lifecycle.requirements import Requirement
    from qiflow.lifecycle.roles import Directory
    from qiflow.notify.channels import Channel
    from qiflow.snapshots import Event, Project


@hookspec
def qiflow_requirements() -> Mapping[str, Requirement]:  # type: ignore[empty-body]
    """Register requirements (guards) that workflow files name in ``requires``.

    Return a mapping of name to :class:`qiflow.Requirement`.
    """


@hookspec
def qiflow_gates() -> Mapping[str, GateType]:  # type: ignore[empty-body]
    """Register gate types (approval steps) that workflow files name in ``gates``.

    Return a mapping of name to a gate type; subclass :class:`qiflow.BaseGate`.
    """


@hookspec(firstresult=True)
def qiflow_directory() -> Directory | None:
    """Return a staff directory to use instead of the database's ``person`` table.

    The first plugin that returns one wins; return None to leave the choice to others.
    """


@hookspec(firstresult=True)
def qiflow_role_holders(role: str) -> Iterable[str] | None:
    """Return the ids of the people who hold ``role`` in the trust's directory, or None
    to leave the answer to other plugins and then to qiflow's ``person`` table.

    qiflow asks it wherever it needs a role's holders: the approvers a sign-off reminder
    or notice goes to, the transformation team that hears of escalations and overdue
    reviews, and whether a person holds a role when they decide a sign-off or fire a
    transition. The first plugin that answers (even with an empty list) wins.
    """


@hookspec
def qiflow_roles() -> Iterable[str]:  # type: ignore[empty-body]
    """Declare role names that workflow files may use in ``roles``."""


@hookspec
def qiflow_actor_roles(project: Project, actor: str) -> Iterable[str]:  # type: ignore[empty-body]
    """Return the roles ``actor`` holds on ``project``; the results of all plugins are joined."""


@hookspec
def qiflow_event_committed(event: Event, project: Project) -> None:
    """Called once per event after its transaction has committed, in the process that
    ran the command: best effort (a crash between commit and call loses the call, and a
    slow listener slows the command). Use :func:`qiflow_subscribers` for every event at
    least once.

    ``project`` is the snapshot after the command. An exception here is logged and
    never undoes the committed change.
    """


@hookspec
def qiflow_subscribers() -> Mapping[str, Callable[[Event], None]]:  # type: ignore[empty-body]
    """Return durable subscribers: a name (unique, e.g. ``"finance.ledger"``) and a
    handler called with every committed event at least once, in commit order per
    project. The daemon runs them under a lease (several daemons share them); the
    cursor lives in the database and moves only after the handler returns. A handler
    that raises is retried with backoff and never holds up another subscriber. A new
    subscriber starts from now (``qiflow events replay NAME --from SEQ`` moves it).
    """


@hookspec
def qiflow_channels(config: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Channel]:  # type: ignore[empty-body]
    """Return notification channels, built from ``config``: the ``[channels.<name>]``
    tables of ``qiflow.toml``, secrets already resolved. Return only the channels whose
    table is present (qiflow's console channel needs none)."""


@hookspec
def qiflow_workflow_tables() -> Mapping[str, Callable[[Mapping[str, Any]], list[str]]]:  # type: ignore[empty-body]
    """Register a check for a configuration table of workflow files (``escalation``,
    ``reminders``): return a mapping of table name to a function that returns the
    table's problems (empty when it is valid). The module that reads a table checks it.
    """


@hookspec
def qiflow_project_fields() -> Iterable[ProjectField]:  # type: ignore[empty-body]
    """Declare project fields: return :class:`qiflow.ProjectField` values (name, type,
    choices or a validator, label, help). They are stored with the project, set through
    ``update_project(..., fields={...})`` and read as ``project.fields[name]``."""


@hookspec
def qiflow_event_types() -> Iterable[str]:  # type: ignore[empty-body]
    """Declare event types (``"finance.approved"``) that a transition's ``on`` may name.

    qiflow declares its own (``project.created``, ``review.recorded``, ``gate.passed``,
    ...). A workflow file whose ``on`` names a type nobody declares is invalid: it would
    never fire. Event types starting ``gate.`` or ``signoff.`` may be followed by
    ``:<gate>``.
    """
