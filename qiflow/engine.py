"""The engine: commands that change projects, and queries that read them.

Every command runs in one database transaction: it checks the rules, changes
the project row under an optimistic version check, and appends its events to
the project's hash chain. Plugins hear about the events only after commit.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Unpack

import pluggy
import structlog

from qiflow import audit, changes
from qiflow.clock import Clock, SystemClock, ensure_utc
from qiflow.commands import CommandRunner
from qiflow.exceptions import ValidationError, WorkflowDefinitionError
from qiflow.fields import ProjectFields, check_json, clean_fields
from qiflow.governance import GovernanceCommands
from qiflow.lifecycle import Rules
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
)
from qiflow.store import Store
from qiflow.workflow import Workflow, WorkflowRegistry, load_directory
from qiflow.workflow.catalog import build_registry, default_workflows_dir, vocabulary

log = structlog.get_logger("qiflow")

DEFAULT_DATABASE_URL = "sqlite:///qiflow.db"
DEFAULT_WORKFLOW = "qi_project"
PDSA_FIELDS = ("plan", "prediction", "study")


class Engine(GovernanceCommands):
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
            self._store.ensure_schema(migrate=migrate)
            self.registry = self._load_workflows(workflows_dir)
        except BaseException:
            self._store.dispose()
            raise
        self._rules = Rules(self.pm, self.registry)
        self._runner = CommandRunner(self._store, self._rules, self.pm, self.clock)

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
    def store(self) -> Store:
        """The engine's store (for qiflow's own daemon; not part of the embedding API)."""
        return self._store

    @property
    def database_url(self) -> str:
        return self._store.engine.url.render_as_string(hide_password=True)

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
        registry = build_registry(files, stored, vocab)
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
        if workflow not in self._latest:
            raise WorkflowDefinitionError(
                f"no workflow file defines {workflow!r}; available: "
                f"{', '.join(sorted(self._latest)) or 'none'}"
            )
        definition = self.registry.get(workflow, self._latest[workflow])
        return self._runner.create(definition, values, actor=actor, idempotency_key=idempotency_key)

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
        return self._runner.run(
            project,
            "update",
            changes.update(self._rules, values),
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
        check_json(extra, "data")
        change = changes.fire(self._rules, trigger, actor=actor, values=values, extra=extra)
        return self._runner.run(
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
        return self._runner.run(
            project,
            "pdsa",
            changes.record_pdsa(cycle, given, note),
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
        return self._runner.run(
            project,
            "measure",
            changes.add_measure(name, kind, unit, direction),
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
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise ValidationError(f"a data point's value must be a number, not {value!r}")
        when = ensure_utc(observed_at) if observed_at else self.clock.now()
        change = changes.record_data_point(measure, float(value), when, note)
        return self._runner.run(
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
        change = changes.record_review(self._rules, notes, progress_score)
        return self._runner.run(
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
        change = changes.migrate(self.registry, to_version)
        return self._runner.run(
            project,
            "migrate",
            change,
            actor=actor,
            expected_version=expected_version,
            idempotency_key=None,
        )

    # queries ---------------------------------------------------------------------
    def get(self, project: str) -> Project:
        with self._store.read() as tx:
            return Project.from_row(self._runner.row(tx, project))

    def projects(
        self,
        *,
        state: str | None = None,
        owner: str | None = None,
        directorate: str | None = None,
        workflow: str | None = None,
        programme: str | None = None,
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
                programme=programme,
                overdue_at=self.clock.now() if overdue else None,
                limit=limit,
                offset=offset,
            )
        return [Project.from_row(row) for row in rows]

    def available_triggers(self, project: str, actor: str | None = None) -> list[TriggerOption]:
        """Each trigger from the current state, whether it may fire and, if not, every reason."""
        with self._store.read() as tx:
            snapshot = Project.from_row(self._runner.row(tx, project))
            return self._rules.options(snapshot, tx, actor, self.clock.now())

    def history(self, project: str) -> list[Event]:
        with self._store.read() as tx:
            row = self._runner.row(tx, project)
            return [Event.from_row(r) for r in tx.events(row["id"])]

    def cycles(self, project: str) -> list[PdsaCycle]:
        with self._store.read() as tx:
            return [PdsaCycle.from_row(r) for r in tx.cycles(self._runner.row(tx, project)["id"])]

    def measures(self, project: str) -> list[Measure]:
        with self._store.read() as tx:
            return [Measure.from_row(r) for r in tx.measures(self._runner.row(tx, project)["id"])]

    def data_points(self, project: str, measure: str) -> list[DataPoint]:
        with self._store.read() as tx:
            project_id = self._runner.row(tx, project)["id"]
            found = [m for m in tx.measures(project_id) if m["name"] == measure]
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
