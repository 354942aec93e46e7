"""The engine: commands that change projects, and queries that read them.

Every command runs in one database transaction: it checks the rules, changes
the project row under an optimistic version check, and appends its events to
the project's hash chain. Plugins hear about the events only after commit.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Unpack

import pluggy
import structlog
from sqlalchemy.exc import IntegrityError

from qiflow import audit, db
from qiflow.clock import Clock, SystemClock, ensure_utc
from qiflow.exceptions import (
    ConcurrencyConflict,
    DatabaseError,
    UnknownProject,
    ValidationError,
    WorkflowDefinitionError,
)
from qiflow.fields import ProjectFields, clean_fields
from qiflow.lifecycle import Rules, Work
from qiflow.plugins import get_plugin_manager
from qiflow.replay import differences
from qiflow.snapshots import (
    DIRECTIONS,
    EDITABLE_FIELDS,
    MEASURE_KINDS,
    DataPoint,
    Event,
    Measure,
    PdsaCycle,
    Project,
    TriggerOption,
    to_jsonable,
)
from qiflow.store import Store, Tx
from qiflow.workflow import Workflow, WorkflowRegistry, load_directory
from qiflow.workflow.catalog import build_registry, default_workflows_dir, digest, vocabulary

log = structlog.get_logger("qiflow")

DEFAULT_DATABASE_URL = "sqlite:///qiflow.db"
DEFAULT_WORKFLOW = "qi_project"
PDSA_FIELDS = ("plan", "prediction", "study")


class Engine:
    """Carries QI projects through their lifecycle, durably.

    >>> with Engine("sqlite:///qi.db", migrate=True) as engine:  # doctest: +SKIP
    ...     p = engine.create_project("Reduce missed doses", actor="alice", owner="alice")
    """

    def __init__(
        self,
        database_url: str = DEFAULT_DATABASE_URL,
        *,
        workflows_dir: str | Path | Sequence[str | Path] | None = None,
        clock: Clock | None = None,
        plugins: pluggy.PluginManager | Sequence[object] | None = None,
        migrate: bool = False,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.pm = (
            plugins
            if isinstance(plugins, pluggy.PluginManager)
            else get_plugin_manager(plugins or ())
        )
        self._store = Store(database_url)
        try:
            self._check_schema(migrate)
            self.registry = self._load_workflows(workflows_dir)
        except BaseException:
            self._store.dispose()
            raise
        self._rules = Rules(self.pm, self.registry)

    # lifecycle of the engine itself --------------------------------------------
    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._store.dispose()

    @property
    def database_url(self) -> str:
        return self._store.engine.url.render_as_string(hide_password=True)

    def _check_schema(self, migrate: bool) -> None:
        current, head = self._store.revision(), db.head_revision()
        if current == head:
            return
        if migrate:
            db.upgrade(self._store.engine)
            return
        if current is None:
            raise DatabaseError(
                f"{self.database_url} has no qiflow tables yet: run "
                "`qiflow init` (or pass migrate=True to Engine)"
            )
        raise DatabaseError(
            f"{self.database_url} is at schema revision {current}, this qiflow "
            f"expects {head}: run `qiflow init` to upgrade it"
        )

    def _load_workflows(
        self, workflows_dir: str | Path | Sequence[str | Path] | None
    ) -> WorkflowRegistry:
        if workflows_dir is None:
            workflows_dir = os.environ.get("QIFLOW_WORKFLOWS_DIR") or default_workflows_dir()
        dirs = [workflows_dir] if isinstance(workflows_dir, str | Path) else workflows_dir
        vocab = vocabulary(self.pm)
        files, problems = load_directory([Path(d) for d in dirs], vocab)
        if problems:
            raise WorkflowDefinitionError(
                "invalid workflow files (check them with `qiflow workflow validate`):\n"
                + "\n".join(f"  {p}" for p in problems),
                problems,
            )
        with self._store.read() as tx:
            stored = tx.stored_workflows()
        registry, _ = build_registry(files, stored, vocab)
        self._latest = {w.name: w.version for w in files}
        return registry

    # commands ---------------------------------------------------------------------
    def create_project(
        self,
        title: str,
        *,
        actor: str,
        workflow: str = DEFAULT_WORKFLOW,
        idempotency_key: str | None = None,
        **fields: Unpack[ProjectFields],
    ) -> Project:
        """Create a project in its workflow's initial state, pinned to the latest version."""
        values = clean_fields({"title": title, **fields})
        definition = self._workflow_for_new(workflow)
        now = self.clock.now()
        with self._store.write() as tx:
            if idempotency_key and (prior := self._prior(tx, idempotency_key, "", "create")):
                return prior
            self._store_definition(tx, definition, now)
            number = tx.next_number("project")
            project_id = uuid.uuid4().hex
            initial = definition.initial
            review = initial.review.after(now) if initial.review else None
            row: dict[str, Any] = {
                "id": project_id,
                "number": number,
                "ref": f"QI-{number:04d}",
                "workflow": definition.name,
                "workflow_version": definition.version,
                "state": initial.name,
                "previous_state": None,
                "version": 1,
                "current_cycle": 0,
                "next_review_at": review,
                "event_count": 0,
                "head_hash": audit.GENESIS,
                "created_at": now,
                "updated_at": now,
                **{name: None for name in EDITABLE_FIELDS},
                "quality_objectives": [],
                "secondary_outcomes": [],
                **values,
            }
            tx.insert_project(row)
            payload = {name: row[name] for name in EDITABLE_FIELDS}
            payload.update(
                ref=row["ref"],
                workflow=definition.name,
                workflow_version=definition.version,
                state=initial.name,
                next_review_at=review.isoformat() if review else None,
            )
            work = Work(values=row)
            work.emit("project.created", payload)
            self._rules.fire_automatic(work, tx, now=now)
            project = self._commit(
                tx,
                work,
                expected=1,
                version=1,
                actor=actor,
                now=now,
                idempotency=(idempotency_key, "create"),
            )
        self._after_commit(project, work, actor=actor, command="create")
        return project

    def update_project(
        self,
        project: str,
        *,
        actor: str,
        title: str | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
        **fields: Unpack[ProjectFields],
    ) -> Project:
        """Change editable fields; only fields that really change are recorded."""
        values = clean_fields({**fields, **({"title": title} if title is not None else {})})
        if not values:
            raise ValidationError("nothing to update: give at least one field")

        def change(work: Work, tx: Tx) -> None:
            self._apply_fields(work, values)

        return self._command(
            project,
            "update",
            change,
            actor=actor,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
        )

    def fire(
        self,
        project: str,
        trigger: str,
        *,
        actor: str,
        expected_version: int | None = None,
        data: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Project:
        """Fire ``trigger`` on the project.

        Keys of ``data`` that name editable fields (``learning`` for ``abandon``, say)
        are applied first, in the same transaction; the rest is kept in the event.
        """
        data = dict(data or {})
        values = clean_fields({k: v for k, v in data.items() if k in EDITABLE_FIELDS})
        extra = {k: v for k, v in data.items() if k not in EDITABLE_FIELDS}
        _check_json(extra)

        def change(work: Work, tx: Tx) -> None:
            if values:
                self._apply_fields(work, values)
            self._rules.fire(work, tx, trigger, actor=actor, now=self.clock.now(), data=extra)

        return self._command(
            project,
            f"fire:{trigger}",
            change,
            actor=actor,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
            trigger=trigger,
        )

    def record_pdsa(
        self,
        project: str,
        *,
        actor: str,
        cycle: int | None = None,
        plan: str | None = None,
        prediction: str | None = None,
        observation: str | None = None,
        study: str | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Project:
        """Record the plan (with its prediction), a Do observation, or the study of a cycle.

        ``cycle`` defaults to the current cycle (cycle 1 before testing starts).
        """
        given = {
            k: v.strip()
            for k, v in {"plan": plan, "prediction": prediction, "study": study}.items()
            if v is not None and v.strip()
        }
        note = observation.strip() if observation else None
        if not given and not note:
            raise ValidationError("nothing to record: give plan, prediction, observation or study")

        def change(work: Work, tx: Tx) -> None:
            current = work.values["current_cycle"]
            number = cycle if cycle is not None else max(current, 1)
            if number < 1 or number > max(current, 1):
                raise ValidationError(
                    f"{work.values['ref']} has no PDSA cycle {number}; "
                    f"the current cycle is {max(current, 1)}"
                )
            existing = tx.cycle(work.values["id"], number)
            if existing is not None and existing["act"]:
                raise ValidationError(
                    f"PDSA cycle {number} is closed (decision: {existing['act']}); record on "
                    f"cycle {current}"
                )
            values: dict[str, Any] = dict(given)
            if note:
                observations = list(existing["observations"]) if existing else []
                values["observations"] = [*observations, note]
            tx.save_cycle(work.values["id"], number, values)
            payload: dict[str, Any] = {"cycle": number, **given}
            if note:
                payload["observation"] = note
            work.emit("pdsa.recorded", payload)

        return self._command(
            project,
            "pdsa",
            change,
            actor=actor,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
        )

    def add_measure(
        self,
        project: str,
        name: str,
        *,
        kind: str,
        unit: str,
        direction: str,
        actor: str,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Project:
        """Add an outcome, process or balancing measure to the project."""
        name, unit = name.strip(), unit.strip()
        problems = []
        if not name:
            problems.append("a measure needs a name")
        if kind not in MEASURE_KINDS:
            problems.append(f"kind {kind!r} is not one of {', '.join(MEASURE_KINDS)}")
        if direction not in DIRECTIONS:
            problems.append(f"direction {direction!r} is not one of {', '.join(DIRECTIONS)}")
        if not unit:
            problems.append("a measure needs a unit (e.g. '%', 'days', 'count')")
        if problems:
            raise ValidationError("; ".join(problems))

        def change(work: Work, tx: Tx) -> None:
            if any(m["name"] == name for m in tx.measures(work.values["id"])):
                raise ValidationError(f"{work.values['ref']} already has a measure {name!r}")
            tx.insert_measure(
                {
                    "project_id": work.values["id"],
                    "name": name,
                    "kind": kind,
                    "unit": unit,
                    "direction": direction,
                }
            )
            work.emit(
                "measure.added", {"name": name, "kind": kind, "unit": unit, "direction": direction}
            )

        return self._command(
            project,
            "measure",
            change,
            actor=actor,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
        )

    def record_data_point(
        self,
        project: str,
        measure: str,
        value: float,
        *,
        actor: str,
        observed_at: datetime | None = None,
        note: str | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Project:
        """Record one observation of a measure (no patient-identifiable data)."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError(f"a data point's value must be a number, not {value!r}")
        when = ensure_utc(observed_at) if observed_at else self.clock.now()

        def change(work: Work, tx: Tx) -> None:
            found = [m for m in tx.measures(work.values["id"]) if m["name"] == measure]
            if not found:
                raise ValidationError(f"{work.values['ref']} has no measure {measure!r}")
            tx.insert_data_point(
                {
                    "measure_id": found[0]["id"],
                    "observed_at": when,
                    "value": float(value),
                    "note": note,
                }
            )
            work.emit(
                "datapoint.recorded",
                {
                    "measure": measure,
                    "value": float(value),
                    "observed_at": when.isoformat(),
                    "note": note,
                },
            )

        return self._command(
            project,
            "datapoint",
            change,
            actor=actor,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
        )

    def record_review(
        self,
        project: str,
        *,
        actor: str,
        notes: str | None = None,
        progress_score: float | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Project:
        """Record a review; the next one is due after the state's review cadence.

        ``progress_score`` is the IHI scale, 0.5 to 5.0 in steps of 0.5.
        """
        if progress_score is not None and (
            not 0.5 <= progress_score <= 5.0 or (progress_score * 2) % 1
        ):
            raise ValidationError("progress_score is the IHI scale: 0.5 to 5.0 in steps of 0.5")

        def change(work: Work, tx: Tx) -> None:
            workflow = self._rules.workflow(work.project)
            state = workflow.state(work.values["state"])
            if state.review is None:
                raise ValidationError(
                    f"{work.values['ref']} is {state.name}, a state with no review cadence"
                )
            due = state.review.after(self.clock.now())
            work.set(next_review_at=due)
            work.emit(
                "review.recorded",
                {
                    "notes": notes,
                    "progress_score": progress_score,
                    "next_review_at": due.isoformat(),
                },
            )

        return self._command(
            project,
            "review",
            change,
            actor=actor,
            expected_version=expected_version,
            idempotency_key=idempotency_key,
        )

    def migrate_project(
        self,
        project: str,
        to_version: int,
        *,
        actor: str,
        expected_version: int | None = None,
    ) -> Project:
        """Move a project to another version of its workflow, if its state exists there."""

        def change(work: Work, tx: Tx) -> None:
            current = work.project
            target = self.registry.get(current.workflow, to_version)
            if to_version == current.workflow_version:
                raise ValidationError(
                    f"{current.ref} is already on {current.workflow} version {to_version}"
                )
            missing = [
                s
                for s in (current.state, current.previous_state)
                if s is not None and not target.has_state(s)
            ]
            if missing:
                raise ValidationError(
                    f"{current.ref} cannot move to {current.workflow} version {to_version}: "
                    f"state {missing[0]!r} does not exist there; fire a transition to a state "
                    "both versions share first"
                )
            self._store_definition(tx, target, self.clock.now())
            work.set(workflow_version=to_version)
            work.emit(
                "project.migrated",
                {"from_version": current.workflow_version, "to_version": to_version},
            )

        return self._command(
            project,
            "migrate",
            change,
            actor=actor,
            expected_version=expected_version,
            idempotency_key=None,
        )

    # queries ----------------------------------------------------------------------
    def get(self, project: str) -> Project:
        with self._store.read() as tx:
            return Project.from_row(self._row(tx, project))

    def projects(
        self,
        *,
        state: str | None = None,
        owner: str | None = None,
        directorate: str | None = None,
        workflow: str | None = None,
        overdue: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Project]:
        """Projects in reference order, filtered; ``overdue`` means the review date has passed."""
        with self._store.read() as tx:
            rows = tx.projects(
                state=state,
                owner=owner,
                directorate=directorate,
                workflow=workflow,
                overdue_at=self.clock.now() if overdue else None,
                limit=limit,
                offset=offset,
            )
        return [Project.from_row(row) for row in rows]

    def available_triggers(self, project: str, actor: str | None = None) -> list[TriggerOption]:
        """Each trigger from the current state, whether it may fire and, if not, every reason."""
        with self._store.read() as tx:
            snapshot = Project.from_row(self._row(tx, project))
            return self._rules.options(snapshot, tx, actor)

    def history(self, project: str) -> list[Event]:
        with self._store.read() as tx:
            row = self._row(tx, project)
            return [Event.from_row(r) for r in tx.events(row["id"])]

    def cycles(self, project: str) -> list[PdsaCycle]:
        with self._store.read() as tx:
            return [PdsaCycle.from_row(r) for r in tx.cycles(self._row(tx, project)["id"])]

    def measures(self, project: str) -> list[Measure]:
        with self._store.read() as tx:
            return [Measure.from_row(r) for r in tx.measures(self._row(tx, project)["id"])]

    def data_points(self, project: str, measure: str) -> list[DataPoint]:
        with self._store.read() as tx:
            found = [m for m in tx.measures(self._row(tx, project)["id"]) if m["name"] == measure]
            if not found:
                raise ValidationError(f"{project} has no measure {measure!r}")
            return [DataPoint.from_row(r) for r in tx.data_points(found[0]["id"])]

    def workflow(self, name: str = DEFAULT_WORKFLOW, version: int | None = None) -> Workflow:
        return self.registry.get(name, version if version is not None else self._latest.get(name))

    def verify_audit(self) -> list[audit.Break]:
        """Check every project's hash chain and that its events replay to its row.

        Returns the first break of each broken project; empty when all verify.
        """
        return [found for _ref, found in self.iter_audit() if found is not None]

    def iter_audit(self) -> Iterator[tuple[str, audit.Break | None]]:
        """Like :meth:`verify_audit`, one project at a time (for progress reporting)."""
        with self._store.read() as tx:
            projects = tx.project_ids()
        for project_id, ref, count, head in projects:
            with self._store.read() as tx:
                rows = tx.events(project_id)
                found = audit.verify_project(ref, head, count, rows)
                if found is None:
                    row = tx.project(project_id)
                    assert row is not None
                    diff = differences(Project.from_row(row), [Event.from_row(r) for r in rows])
                    if diff:
                        found = audit.Break(
                            ref,
                            None,
                            None,
                            f"the project row does not match its events: {'; '.join(diff)}",
                        )
            yield ref, found

    # plumbing ---------------------------------------------------------------------
    def _row(self, tx: Tx, key: str, *, lock: bool = False) -> dict[str, Any]:
        row = tx.project(key, lock=lock)
        if row is None:
            raise UnknownProject(key)
        return dict(row)

    def _workflow_for_new(self, name: str) -> Workflow:
        if name not in self._latest:
            raise WorkflowDefinitionError(
                f"no workflow file defines {name!r}; available: "
                f"{', '.join(sorted(self._latest)) or 'none'}"
            )
        return self.registry.get(name, self._latest[name])

    def _store_definition(self, tx: Tx, workflow: Workflow, now: datetime) -> None:
        if not any(
            r["name"] == workflow.name and r["version"] == workflow.version
            for r in tx.stored_workflows()
        ):
            tx.store_workflow(
                workflow.name, workflow.version, digest(workflow.source), workflow.source, now
            )

    def _apply_fields(self, work: Work, values: Mapping[str, Any]) -> None:
        changed = {k: v for k, v in values.items() if work.values.get(k) != v}
        if not changed:
            return
        removes_quality = "quality_objectives" in changed and not changed["quality_objectives"]
        if (
            removes_quality
            and work.values["state"] != self._rules.workflow(work.project).initial.name
        ):
            raise ValidationError(
                f"{work.values['ref']}: an improvement plan without a quality objective is "
                "refused, even with a financial objective (strategy section 5.1); replace "
                "the quality objective rather than removing it"
            )
        work.set(**changed)
        work.emit("project.updated", {"changes": changed})

    def _prior(self, tx: Tx, key: str, project_id: str, command: str) -> Project | None:
        row = tx.idempotent(key)
        if row is None:
            return None
        if row["command"] != command or (project_id and row["project_id"] != project_id):
            raise ValidationError(
                f"idempotency key {key!r} was already used for a different "
                "command; use a new key for each distinct request"
            )
        return _project_from_json(json.loads(row["result"]))

    def _command(
        self,
        key: str,
        command: str,
        change: Callable[[Work, Tx], None],
        *,
        actor: str,
        expected_version: int | None,
        idempotency_key: str | None,
        trigger: str | None = None,
    ) -> Project:
        if not actor or not actor.strip():
            raise ValidationError("every command needs an actor: who is doing this?")
        try:
            with self._store.write() as tx:
                row = self._row(tx, key, lock=True)
                if idempotency_key and (
                    prior := self._prior(tx, idempotency_key, row["id"], command)
                ):
                    return prior
                if expected_version is not None and row["version"] != expected_version:
                    raise ConcurrencyConflict(row["ref"], expected_version, row["version"])
                work = Work(values=row)
                now = self.clock.now()
                change(work, tx)
                self._rules.fire_automatic(work, tx, now=now)
                project = self._commit(
                    tx,
                    work,
                    expected=row["version"],
                    version=row["version"] + 1,
                    actor=actor,
                    now=now,
                    idempotency=(idempotency_key, command),
                )
        except IntegrityError as exc:
            if idempotency_key:
                with self._store.read() as tx:
                    if (prior := self._prior(tx, idempotency_key, "", command)) is not None:
                        return prior
            raise ValidationError(f"the change conflicts with stored data: {exc.orig}") from exc
        self._after_commit(project, work, actor=actor, command=command, trigger=trigger)
        return project

    def _commit(
        self,
        tx: Tx,
        work: Work,
        *,
        expected: int,
        version: int,
        actor: str,
        now: datetime,
        idempotency: tuple[str | None, str],
    ) -> Project:
        """Append the command's events and update the row if it is still at ``expected``."""
        if not work.events:
            return work.project
        events, head = tx.append_events(
            work.values["id"],
            event_count=work.values["event_count"],
            head_hash=work.values["head_hash"],
            version=version,
            actor=actor,
            at=now,
            events=work.events,
        )
        changes = {
            **work.changes,
            "version": version,
            "updated_at": now,
            "event_count": work.values["event_count"] + len(events),
            "head_hash": head,
        }
        if not tx.update_project(work.values["id"], expected, changes):
            current = tx.project(work.values["id"])
            raise ConcurrencyConflict(
                work.values["ref"], expected, current["version"] if current else -1
            )
        work.values.update(changes)
        work.committed = events
        project = work.project
        key, command = idempotency
        if key:
            tx.remember(key, project.id, command, audit.dumps(to_jsonable(project)), now)
        return project

    def _after_commit(
        self, project: Project, work: Work, *, actor: str, command: str, trigger: str | None = None
    ) -> None:
        log.info(
            "command",
            command=command,
            project=project.ref,
            trigger=trigger,
            actor=actor,
            version=project.version,
            state=project.state,
            events=len(work.committed),
        )
        hook = self.pm.hook.qiflow_event_committed
        for impl in hook.get_hookimpls():
            for event in work.committed:
                kwargs = {"event": event, "project": project}
                try:
                    impl.function(*(kwargs[name] for name in impl.argnames))
                except Exception:
                    log.exception(
                        "plugin failed after commit; the change stands",
                        plugin=impl.plugin_name,
                        project=project.ref,
                        event_type=event.type,
                        seq=event.seq,
                    )


def _check_json(data: Mapping[str, Any]) -> None:
    try:
        audit.dumps(data)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"data must be JSON-serialisable: {exc}") from exc


def _project_from_json(data: dict[str, Any]) -> Project:
    for name in ("next_review_at", "created_at", "updated_at"):
        if data[name] is not None:
            data[name] = datetime.fromisoformat(data[name])
    data["quality_objectives"] = tuple(data["quality_objectives"])
    data["secondary_outcomes"] = tuple(data["secondary_outcomes"])
    return Project(**data)
