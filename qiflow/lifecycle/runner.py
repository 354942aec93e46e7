"""The runner: how a command runs. One transaction, an optimistic version check, events,
then plugins.

A command is a ``Change``: a function that reads what it needs through the
transaction and records field changes and events on a :class:`~qiflow.lifecycle.draft.Draft`.
The runner locks the project row, checks the expected version and the
idempotency key, applies the change and any automatic transitions, appends the
events to the project's hash chain, and commits. Plugins hear about the events
only after the commit.
"""

from __future__ import annotations

import functools
import inspect
import json
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar

import pluggy

from qiflow import audit, exceptions, hookcall, idempotency, limits
from qiflow.clock import Clock, require_aware
from qiflow.exceptions import (
    ConcurrencyConflict,
    IdempotencyConflict,
    PluginError,
    QiflowError,
    UnknownProject,
    ValidationError,
)
from qiflow.lifecycle.draft import Draft
from qiflow.lifecycle.steps import Lifecycle
from qiflow.logs import get_logger
from qiflow.snapshots import EDITABLE_FIELDS, Project, to_jsonable
from qiflow.store import IntegrityError, NewEvent, Store, StoredProject, Tx
from qiflow.workflow import Workflow
from qiflow.workflow.catalog import digest

log = get_logger("qiflow")

#: A command's effect on one project, applied inside its transaction.
Change = Callable[[Draft, Tx], None]


#: The service acting for a command's actor (``Engine.acting_via``), recorded in each of
#: the command's events as ``via``.
acting_service: ContextVar[str | None] = ContextVar("qiflow_acting_service", default=None)


#: The fingerprint of the request being run: set by :func:`fingerprinted` around an
#: engine method called with an idempotency key, remembered with the key.
request_fingerprint: ContextVar[str | None] = ContextVar("qiflow_request", default=None)

P = ParamSpec("P")
R = TypeVar("R")
#: Arguments that say how to run a request, not what it asks.
_NOT_THE_REQUEST = frozenset({"self", "idempotency_key", "expected_version"})


def fingerprinted(method: Callable[P, R]) -> Callable[P, R]:
    """Bind an engine method's idempotency key to its request: the method's name and
    arguments (not the key itself nor the expected version)."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        bound = signature.bind(*args, **kwargs)
        if bound.arguments.get("idempotency_key") is None:
            return method(*args, **kwargs)
        asked = {k: v for k, v in bound.arguments.items() if k not in _NOT_THE_REQUEST}
        token = request_fingerprint.set(
            idempotency.fingerprint({"command": method.__name__, "arguments": asked})
        )
        try:
            return method(*args, **kwargs)
        finally:
            request_fingerprint.reset(token)

    return run


@dataclass(frozen=True)
class Request:
    """Who asks for a command, the version they saw, and the key that makes a retry safe."""

    actor: str
    expected_version: int | None = None
    idempotency_key: str | None = None


class Runner:
    """Runs changes against projects, durably and exactly once per idempotency key."""

    def __init__(
        self,
        store: Store,
        lifecycle: Lifecycle,
        pm: pluggy.PluginManager,
        clock: Clock,
        idempotency_expiry: timedelta = idempotency.DEFAULT_EXPIRY,
    ) -> None:
        self.store, self.lifecycle, self.pm, self.clock = store, lifecycle, pm, clock
        self.idempotency_expiry = idempotency_expiry

    def stored(self, tx: Tx, key: str, *, lock: bool = False) -> StoredProject:
        """The project by id or reference, with its bookkeeping; UnknownProject if none."""
        stored = tx.projects.get(key, lock=lock)
        if stored is None:
            raise UnknownProject(key)
        return stored

    def project(self, tx: Tx, key: str) -> Project:
        """The project by id or reference; UnknownProject if there is none."""
        return self.stored(tx, key).project

    def create(
        self,
        definition: Workflow,
        values: dict[str, Any],
        *,
        actor: str,
        idempotency_key: str | None,
    ) -> Project:
        """Insert a project in the workflow's initial state, with its ``project.created``."""
        _check_actor(actor)
        _check_key(idempotency_key)
        now = require_aware(self.clock.now(), "the clock's now()")
        try:
            with self.store.write() as tx:
                if idempotency_key and (prior := self._prior(tx, idempotency_key, "", "create")):
                    return prior
                store_definition(tx, definition, now)
                number = tx.counters.next("project")
                initial = definition.initial
                review = initial.review.after(now, self.lifecycle.zone) if initial.review else None
                row: dict[str, Any] = {
                    "id": uuid.uuid4().hex,
                    "number": number,
                    "ref": f"QI-{number:04d}",
                    "workflow": definition.name,
                    "workflow_version": definition.version,
                    "state": initial.name,
                    "previous_state": None,
                    "version": 1,
                    "current_cycle": 0,
                    "next_review_at": review,
                    "next_reminder_at": review,
                    "event_count": 0,
                    "head_hash": audit.GENESIS,
                    "created_at": now,
                    "updated_at": now,
                    "state_entered_at": now,
                    "state_entered_version": 1,
                    "programme_status": "none",
                    "escalation_dismissed": None,
                    **{name: None for name in EDITABLE_FIELDS},
                    "quality_objectives": [],
                    "secondary_outcomes": [],
                    **values,
                }
                tx.projects.insert(row)
                payload = {name: row[name] for name in EDITABLE_FIELDS}
                if row.get("plugin_fields"):
                    payload["fields"] = row["plugin_fields"]
                payload.update(
                    ref=row["ref"],
                    workflow=definition.name,
                    workflow_version=definition.version,
                    state=initial.name,
                    next_review_at=review.isoformat() if review else None,
                )
                draft = Draft(stored=StoredProject.from_row(row), now=now, version=1)
                draft.emit("project.created", payload)
                self.lifecycle.settle(draft, tx)
                project = self._commit(
                    tx,
                    draft,
                    expected=1,
                    version=1,
                    actor=actor,
                    now=now,
                    idempotency=(idempotency_key, "create"),
                )
        except IntegrityError as exc:
            return self._after_integrity_error(exc, idempotency_key, "create")
        self._after_commit(project, draft, actor=actor, command="create")
        return project

    def run(
        self,
        key: str,
        command: str,
        change: Change,
        request: Request,
        *,
        trigger: str | None = None,
    ) -> Project:
        """Apply ``change`` to project ``key`` in one transaction and return the result."""
        actor, expected_version, idempotency_key = (
            request.actor,
            request.expected_version,
            request.idempotency_key,
        )
        _check_actor(actor)
        _check_key(idempotency_key)
        try:
            with self.store.write() as tx:
                stored = self.stored(tx, key, lock=True)
                current = stored.project
                if idempotency_key and (
                    prior := self._prior(tx, idempotency_key, current.id, command)
                ):
                    return prior
                if expected_version is not None and current.version != expected_version:
                    raise ConcurrencyConflict(current.ref, expected_version, current.version)
                if current.withdrawn_at is not None:
                    raise ValidationError(
                        f"{current.ref} was withdrawn (created in error): it takes no more "
                        "commands; its history stays readable"
                    )
                now = require_aware(self.clock.now(), "the clock's now()")
                draft = Draft(stored=stored, now=now, version=current.version + 1)
                change(draft, tx)
                self.lifecycle.settle(draft, tx)
                project = self._commit(
                    tx,
                    draft,
                    expected=current.version,
                    version=current.version + 1,
                    actor=actor,
                    now=now,
                    idempotency=(idempotency_key, command),
                )
        except IntegrityError as exc:
            return self._after_integrity_error(exc, idempotency_key, command)
        self._after_commit(project, draft, actor=actor, command=command, trigger=trigger)
        if draft.refusal is not None:
            raise draft.refusal
        return project

    def _prior(
        self, tx: Tx, key: str, project_id: str, command: str, *, reading: bool = False
    ) -> Project | None:
        """The result remembered under ``key`` for this same request (a refusal is raised
        again); None if the key is new or its period ran out; a different request under
        it is an :class:`IdempotencyConflict`."""
        remembered = tx.idempotency.recall(key)
        if remembered is None:
            return None
        if idempotency.expired(remembered.created_at, self.clock.now(), self.idempotency_expiry):
            if reading:
                return None
            tx.idempotency.forget(key)
            return None
        if remembered.command != command or (project_id and remembered.project_id != project_id):
            raise IdempotencyConflict(key, "a different command or project")
        asked = request_fingerprint.get()
        if remembered.fingerprint and asked and remembered.fingerprint != asked:
            raise IdempotencyConflict(key)
        if remembered.refusal is not None:
            raise _refusal_from_json(remembered.refusal)
        return project_from_json(json.loads(remembered.result))

    def _after_integrity_error(
        self, exc: IntegrityError, idempotency_key: str | None, command: str
    ) -> Project:
        """A concurrent twin with the same idempotency key won the race: return its result."""
        if idempotency_key:
            with self.store.read() as tx:
                prior = self._prior(tx, idempotency_key, "", command, reading=True)
                if prior is not None:
                    return prior
        raise ValidationError(f"the change conflicts with stored data: {exc.orig}") from exc

    def _commit(
        self,
        tx: Tx,
        draft: Draft,
        *,
        expected: int,
        version: int,
        actor: str,
        now: datetime,
        idempotency: tuple[str | None, str],
    ) -> Project:
        """Append the command's events and update the row if it is still at ``expected``."""
        if not draft.events:
            return draft.project
        if (via := acting_service.get()) is not None:
            draft.events = [NewEvent(e.type, {**e.payload, "via": via}) for e in draft.events]
        events, head = tx.events.append(
            draft.values["id"],
            event_count=draft.values["event_count"],
            head_hash=draft.values["head_hash"],
            version=version,
            actor=actor,
            at=now,
            events=draft.events,
        )
        changes = {
            **draft.changes,
            "version": version,
            "updated_at": now,
            "event_count": draft.values["event_count"] + len(events),
            "head_hash": head,
        }
        if not tx.projects.update(draft.values["id"], expected, changes):
            now_stored = tx.projects.get(draft.values["id"])
            raise ConcurrencyConflict(
                draft.values["ref"], expected, now_stored.project.version if now_stored else -1
            )
        draft.record(**changes)
        draft.committed = events
        project = draft.project
        key, command = idempotency
        if key:
            tx.idempotency.remember(
                key,
                project.id,
                command,
                audit.dumps(to_jsonable(project)),
                now,
                fingerprint=request_fingerprint.get(),
                refusal=_refusal_to_json(draft.refusal),
            )
        return project

    def _after_commit(
        self,
        project: Project,
        draft: Draft,
        *,
        actor: str,
        command: str,
        trigger: str | None = None,
    ) -> None:
        log.info(
            "command",
            command=command,
            project=project.ref,
            trigger=trigger,
            actor=actor,
            version=project.version,
            state=project.state,
            events=len(draft.committed),
        )
        for event in draft.committed:  # best effort: the change stands whatever happens
            try:
                hookcall.call(self.pm, "qiflow_event_committed", event=event, project=project)
            except PluginError as exc:
                log.error(
                    "plugin failed after commit; the change stands",
                    plugin=exc.plugin,
                    hook=exc.hook,
                    project=project.ref,
                    event_type=event.type,
                    seq=event.seq,
                    error=str(exc.__cause__),
                )


def store_definition(tx: Tx, workflow: Workflow, now: datetime) -> None:
    """Keep the workflow version a project uses in the database, once."""
    if not tx.workflows.has(workflow.name, workflow.version):
        tx.workflows.add(
            workflow.name, workflow.version, digest(workflow.source), workflow.source, now
        )


def project_from_json(data: dict[str, Any]) -> Project:
    for name in ("next_review_at", "created_at", "updated_at", "state_entered_at", "withdrawn_at"):
        if data.get(name) is not None:
            data[name] = datetime.fromisoformat(data[name])
    data["quality_objectives"] = tuple(data["quality_objectives"])
    data["secondary_outcomes"] = tuple(data["secondary_outcomes"])
    return Project(**data)


def _check_actor(actor: str) -> None:
    if not isinstance(actor, str) or not actor.strip():
        raise ValidationError("every command needs an actor: who is doing this?")
    limits.check_text(actor, "actor")


def _check_key(key: str | None) -> None:
    if key is not None:
        limits.check_text(key, "idempotency key")


def _refusal_to_json(refusal: Exception | None) -> str | None:
    """A command's refusal as remembered with its key: type, message, attributes."""
    if refusal is None:
        return None
    attributes = {k: v for k, v in vars(refusal).items() if not k.startswith("_")}
    document = {"type": type(refusal).__name__, "message": str(refusal), "attrs": attributes}
    return json.dumps(document, default=str)


def _refusal_from_json(text: str) -> Exception:
    """The remembered refusal, raised again on a replay: the same type and message."""
    document = json.loads(text)
    kind = getattr(exceptions, document["type"], None)
    if not (isinstance(kind, type) and issubclass(kind, QiflowError)):
        kind = QiflowError
    refusal = kind.__new__(kind)
    Exception.__init__(refusal, document["message"])
    refusal.__dict__.update(document["attrs"])
    return refusal
