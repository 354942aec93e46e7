"""The engine: the one object an embedding service, the CLI and the daemon talk to.

It loads the workflows, builds the plugin manager and the store, and composes the
command groups that do the work: :class:`~qiflow.lifecycle.api.ProjectCommands`,
:class:`~qiflow.lifecycle.queries.ProjectQueries`,
:class:`~qiflow.governance.api.GovernanceCommands` and
:class:`~qiflow.notify.api.NotificationCommands`. Every command runs in one
database transaction (see :mod:`qiflow.lifecycle.runner`); plugins hear about
its events only after commit.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Unpack
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pluggy

from qiflow import audit, idempotency
from qiflow.access.api import AccessCommands
from qiflow.charter.diagram import DriverDiagram
from qiflow.charter.results import Charter, DiagramChange, IdeaHistory
from qiflow.charter.team import TeamMember
from qiflow.clock import Clock, SystemClock
from qiflow.exceptions import ConfigError, QiflowError, ValidationError, WorkflowDefinitionError
from qiflow.fields import ProjectFields, check_field_declarations, clean_fields
from qiflow.governance import escalation
from qiflow.governance.api import GovernanceCommands
from qiflow.governance.gates import gate_checks, registered_gates
from qiflow.governance.risks import RiskCommands, policy_of
from qiflow.lifecycle import effects, measures
from qiflow.lifecycle.api import ProjectCommands
from qiflow.lifecycle.charter import CharterCommands
from qiflow.lifecycle.corrections import CorrectionCommands
from qiflow.lifecycle.measure_api import MeasureCommands, check_settings
from qiflow.lifecycle.queries import ProjectQueries
from qiflow.lifecycle.roles import SYSTEM
from qiflow.lifecycle.runner import Request, Runner, acting_service, fingerprinted
from qiflow.lifecycle.steps import Lifecycle
from qiflow.lifecycle.vocabulary import vocabulary
from qiflow.logs import get_logger
from qiflow.measurement import Picture, Progress
from qiflow.notify.api import NotificationCommands
from qiflow.notify.channels import Channel
from qiflow.notify.civil_time import SendingWindow
from qiflow.notify.delivery import DeliveryReport, DeliverySettings
from qiflow.notify.reminders import ReminderPolicy
from qiflow.notify.subscriptions import Consumed, Handler, Subscriptions
from qiflow.plugins import allow_list_from_env, build_channels, get_plugin_manager
from qiflow.risks.heatmap import HeatMap
from qiflow.risks.policy import RiskPolicy
from qiflow.risks.register import TOLERATED, NewRisk, Risk
from qiflow.snapshots import (
    DataPoint,
    Event,
    Measure,
    OutboxStatus,
    PdsaCycle,
    Person,
    Project,
    Queued,
    RequestClaim,
    Signoff,
    StoredResponse,
    Token,
    TriggerOption,
)
from qiflow.store import ProjectFilter, RiskFilter, Store, Subscriber
from qiflow.store.operations import Depth
from qiflow.store.privacy import FORMER, Forgotten
from qiflow.workflow import Workflow, WorkflowRegistry, load_directory
from qiflow.workflow.catalog import build_registry, default_workflows_dir

DEFAULT_DATABASE_URL = "sqlite:///qiflow.db"


def _holder() -> str:
    """Who holds a subscriber's lease: this host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


DEFAULT_WORKFLOW = "qi_project"

log = get_logger("qiflow")


class DatabaseClock:
    """The database server's clock, so that every daemon judges "due" by the same time."""

    def __init__(self, database_url: str) -> None:
        self._store = Store(database_url)

    def now(self) -> datetime:
        return self._store.now()

    def close(self) -> None:
        self._store.dispose()


DEFAULT_TIMEZONE = "Europe/London"


def trust_zone(name: str) -> ZoneInfo:
    """The trust's time zone by its IANA name, or a ValidationError naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValidationError(
            f"timezone {name!r} is not a time zone name such as 'Europe/London'"
        ) from None


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
        allow_plugins: Sequence[str] | None = None,
        migrate: bool = False,
        timezone: str = DEFAULT_TIMEZONE,
        idempotency_expiry: timedelta = idempotency.DEFAULT_EXPIRY,
    ) -> None:
        """``timezone`` is the trust's: review cadences (``P1M``) and approval periods
        count its calendar days and months, whatever the clocks do in between.

        An idempotency key is bound to the request first made under it (the command and
        its arguments): the same request again returns the first result (or raises the
        same refusal), another request raises :class:`IdempotencyConflict`. A key is
        remembered for ``idempotency_expiry`` (24 hours by default), then may be reused.

        Plugins: qiflow's built-ins, the objects in ``plugins``, and the installed plugins
        (entry points) the allow-list lets load: ``allow_plugins`` (entry-point names;
        ``()`` loads none), else ``QIFLOW_PLUGINS`` when set, else every installed plugin,
        the same list the CLI and the daemon obey. A ready :class:`pluggy.PluginManager`
        in ``plugins`` is used as it is (``qiflow.config.plugin_manager(load_settings())``
        builds one from ``qiflow.toml``), and then ``allow_plugins`` may not be given."""
        self.clock: Clock = clock or SystemClock()
        self.zone = trust_zone(timezone)
        if isinstance(plugins, pluggy.PluginManager):
            if allow_plugins is not None:
                raise ValidationError(
                    "allow_plugins goes with a list of plugins, not a ready plugin manager"
                )
            self.pm = plugins
        else:
            allow = allow_list_from_env() if allow_plugins is None else allow_plugins
            self.pm = get_plugin_manager(plugins or (), allow=allow)
        #: The project fields plugins declare, by name.
        self.project_fields = check_field_declarations(
            spec for declared in self.pm.hook.qiflow_project_fields() for spec in declared
        )
        store = self._store = Store(database_url)
        try:
            store.ensure_schema(migrate=migrate)
            self.registry = self._load_workflows(workflows_dir)
        except BaseException:
            store.dispose()
            raise
        gate_types = registered_gates(self.pm)
        lifecycle = Lifecycle(
            self.pm,
            self.registry,
            gates=gate_checks(gate_types),
            gate_types=gate_types,
            after_change=[escalation.evaluate],
            watchers=[measures.watch],
            zone=self.zone,
        )
        runner = Runner(store, lifecycle, self.pm, self.clock, idempotency_expiry)
        self._commands = ProjectCommands(
            runner, lifecycle, self.registry, self.clock, self.project_fields
        )
        self._corrections = CorrectionCommands(runner)
        self._queries = ProjectQueries(store, runner, lifecycle, self.clock)
        self._governance = GovernanceCommands(store, runner, lifecycle, gate_types, self.clock)
        self._notifications = NotificationCommands(
            store, self.registry, self.person, self.zone, lookup=lifecycle.roles.holders
        )
        self._subscriptions = Subscriptions(store)
        self._charters = CharterCommands(store, runner)
        self._access = AccessCommands(store, self.clock)
        self._risks = RiskCommands(store, runner, lifecycle, self.clock)
        self._measures = MeasureCommands(store, runner, self.registry)

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
        """The database URL, its password hidden."""
        return self._store.display_url

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
            stored = tx.workflows.stored()
        registry = build_registry(files, stored, vocab, effects=effects.callbacks())
        self._latest = {w.name: w.version for w in files}
        return registry

    # project commands ----------------------------------------------------------------
    @fingerprinted
    def create_project(
        self,
        title: str,
        *,
        actor: str,
        workflow: str = DEFAULT_WORKFLOW,
        idempotency_key: str | None = None,
        fields: Mapping[str, Any] | None = None,
        **changes: Unpack[ProjectFields],
    ) -> Project:
        """Create a project in its workflow's initial state, pinned to the latest version.

        ``fields`` sets the project fields plugins declare (:attr:`project_fields`),
        checked like the built-in fields and recorded in ``project.created``."""
        values = clean_fields({"title": title, **changes})
        if workflow not in self._latest:
            raise WorkflowDefinitionError(
                f"no workflow file defines {workflow!r}; available: "
                f"{', '.join(sorted(self._latest)) or 'none'}"
            )
        definition = self.registry.get(workflow, self._latest[workflow])
        request = Request(actor, idempotency_key=idempotency_key)
        return self._commands.create(definition, values, request, fields)

    @fingerprinted
    def update_project(
        self,
        project: str,
        *,
        actor: str,
        title: str | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
        fields: Mapping[str, Any] | None = None,
        **changes: Unpack[ProjectFields],
    ) -> Project:
        """Change editable fields; only fields that really change are recorded.

        ``fields`` sets the project fields plugins declare (:attr:`project_fields`); a
        value of None clears one. They are checked like the built-in fields.
        """
        values = {**changes, **({"title": title} if title is not None else {})}
        request = Request(actor, expected_version, idempotency_key)
        return self._commands.update(project, values, request, fields)

    @fingerprinted
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
        request = Request(actor, expected_version, idempotency_key)
        return self._commands.fire(project, trigger, dict(data or {}), request)

    @fingerprinted
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
        tests: str | Sequence[str] | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Project:
        """Record the plan (with its prediction), a Do observation, or the study of a cycle.

        ``cycle`` defaults to the current cycle (cycle 1 before testing starts).
        ``tests`` names the change ideas the cycle tests (``"C1,C2"`` or a list); they
        are added to those it names already, and are now being tested.
        """
        return self._commands.record_pdsa(
            project,
            Request(actor, expected_version, idempotency_key),
            cycle=cycle,
            given={"plan": plan, "prediction": prediction, "study": study},
            observation=observation,
            tests=tests,
        )

    @fingerprinted
    def add_measure(
        self,
        project: str,
        name: str,
        *,
        kind: str,
        unit: str,
        direction: str,
        actor: str,
        target: float | None = None,
        primary: bool = False,
        baseline_points: int | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Project:
        """Add an outcome, process or balancing measure to the project.

        ``direction`` is increase, decrease or neutral; ``target`` gives its chart an
        assurance icon; ``primary`` makes an outcome measure the project's primary one;
        ``baseline_points`` (>= 12) fixes its chart's limits on its first points.
        """
        settings = check_settings(
            {"target": target, "baseline_points": baseline_points}
            | ({"primary": True} if primary else {})
        )
        return self._commands.add_measure(
            project,
            Request(actor, expected_version, idempotency_key),
            name=name,
            kind=kind,
            unit=unit,
            direction=direction,
            settings={k: v for k, v in settings.items() if v is not None},
        )

    @fingerprinted
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
        return self._commands.record_data_point(
            project,
            Request(actor, expected_version, idempotency_key),
            measure=measure,
            value=value,
            observed_at=observed_at,
            note=note,
        )

    @fingerprinted
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
        return self._commands.record_review(
            project,
            Request(actor, expected_version, idempotency_key),
            notes=notes,
            progress_score=progress_score,
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
        return self._commands.migrate(project, to_version, Request(actor, expected_version))

    # measurement ----------------------------------------------------------------------
    def configure_measure(
        self,
        project: str,
        measure: str,
        *,
        actor: str,
        expected_version: int | None = None,
        **settings: Any,
    ) -> Project:
        """Set a measure's ``target`` (None clears it), ``primary`` or ``baseline_points``."""
        return self._measures.configure(
            project, measure, settings, Request(actor, expected_version)
        )

    def rebase_measure(
        self,
        project: str,
        measure: str,
        *,
        at: datetime,
        reason: str,
        actor: str,
        expected_version: int | None = None,
    ) -> Project:
        """Start a new limit period of the measure's chart at the first point from ``at``."""
        return self._measures.rebase(
            project, measure, at=at, reason=reason, request=Request(actor, expected_version)
        )

    @fingerprinted
    def import_data_points(
        self,
        project: str,
        measure: str,
        text: str,
        *,
        actor: str,
        source: str = "the CSV",
        idempotency_key: str | None = None,
    ) -> Project:
        """Import CSV ``date,value[,note,cycle]`` rows in one command: all or nothing."""
        return self._measures.import_points(
            project, measure, text, source=source, request=Request(actor, None, idempotency_key)
        )

    def measure_chart(self, project: str, measure: str, *, use_xmr: bool | None = None) -> Picture:
        """The measure's chart: XmR from 12 points (or if ``use_xmr``), else a run chart."""
        return self._measures.chart(project, measure, use_xmr=use_xmr)

    def cycle_starts(self, project: str) -> dict[int, datetime]:
        """When each PDSA cycle of the project was first recorded."""
        return self._measures.cycle_starts(project)

    def progress(self, projects: Sequence[str] | None = None) -> list[Progress]:
        """Charts, suggested and confirmed progress scores of ``projects`` (None: all)."""
        return self._measures.progress(projects)

    # corrections: each an event with a reason; the original stays in the trail -------
    def correct_data_point(
        self,
        project: str,
        point_id: int,
        *,
        actor: str,
        reason: str,
        value: float | None = None,
        observed_at: datetime | None = None,
        note: str | None = None,
        expected_version: int | None = None,
    ) -> Project:
        """Correct a data point's value, time or note (``DataPoint.id``, in ``data_points``)."""
        return self._corrections.correct_data_point(
            project,
            point_id,
            Request(actor, expected_version),
            reason=reason,
            value=value,
            observed_at=observed_at,
            note=note,
        )

    def void_data_point(
        self,
        project: str,
        point_id: int,
        *,
        actor: str,
        reason: str,
        expected_version: int | None = None,
    ) -> Project:
        """Void a data point recorded in error: SPC and every query leave it out."""
        return self._corrections.void_data_point(
            project, point_id, Request(actor, expected_version), reason=reason
        )

    def correct_measure(
        self,
        project: str,
        measure: str,
        *,
        actor: str,
        reason: str,
        name: str | None = None,
        kind: str | None = None,
        unit: str | None = None,
        direction: str | None = None,
        expected_version: int | None = None,
    ) -> Project:
        """Correct a measure's name, kind, unit or direction."""
        return self._corrections.correct_measure(
            project,
            measure,
            Request(actor, expected_version),
            reason=reason,
            name=name,
            kind=kind,
            unit=unit,
            direction=direction,
        )

    def void_measure(
        self,
        project: str,
        measure: str,
        *,
        actor: str,
        reason: str,
        expected_version: int | None = None,
    ) -> Project:
        """Void a measure added in error (with its data points); requirements ignore it."""
        return self._corrections.void_measure(
            project, measure, Request(actor, expected_version), reason=reason
        )

    def correct_pdsa(
        self,
        project: str,
        cycle: int,
        entry: str,
        *,
        actor: str,
        reason: str,
        text: str | None,
        expected_version: int | None = None,
    ) -> Project:
        """Replace a PDSA entry (``plan``, ``prediction``, ``study``, ``act`` or
        ``observationN``); ``text=None`` voids it. A corrected ``act`` (adopt, adapt or
        abandon) gives the ideas the cycle tested that status; a voided one puts them back
        in test and reopens the cycle. The project's state moves only by transitions."""
        return self._corrections.correct_pdsa(
            project, cycle, entry, Request(actor, expected_version), reason=reason, text=text
        )

    def withdraw_project(
        self, project: str, *, actor: str, reason: str, expected_version: int | None = None
    ) -> Project:
        """Withdraw a project created in error: final, listed and reminded nowhere."""
        return self._corrections.withdraw(project, Request(actor, expected_version), reason=reason)

    # project queries -----------------------------------------------------------------
    def get(self, project: str) -> Project:
        return self._queries.get(project)

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
        withdrawn: bool = False,
    ) -> list[Project]:
        """Projects in reference order, filtered; ``overdue`` means the review date has passed.

        Projects withdrawn as created in error are left out unless ``withdrawn=True``.
        """
        where = ProjectFilter(
            state=state,
            owner=owner,
            directorate=directorate,
            workflow=workflow,
            programme=programme,
            withdrawn=withdrawn,
            overdue_at=self.clock.now() if overdue else None,
            limit=limit,
            offset=offset,
        )
        return self._queries.find(where)

    def available_triggers(self, project: str, actor: str | None = None) -> list[TriggerOption]:
        """Each trigger from the current state, whether it may fire and, if not, every reason."""
        return self._queries.available_triggers(project, actor)

    def history(self, project: str) -> list[Event]:
        return self._queries.history(project)

    def cycles(self, project: str) -> list[PdsaCycle]:
        return self._queries.cycles(project)

    def measures(self, project: str) -> list[Measure]:
        return self._queries.measures(project)

    def data_points(self, project: str, measure: str) -> list[DataPoint]:
        return self._queries.data_points(project, measure)

    def workflow(self, name: str = DEFAULT_WORKFLOW, version: int | None = None) -> Workflow:
        return self.registry.get(name, version if version is not None else self._latest.get(name))

    def verify_audit(self) -> list[audit.Break]:
        """Check every project's hash chain and that its events replay to its row.

        Returns the first break of each broken project; empty when all verify.
        """
        return [found for _ref, found in self.iter_audit() if found is not None]

    def iter_audit(self) -> Iterator[tuple[str, audit.Break | None]]:
        """Like :meth:`verify_audit`, one project at a time (for progress reporting)."""
        return self._queries.audit()

    # the charter: driver diagram and team ----------------------------------------------
    @fingerprinted
    def add_driver(
        self,
        project: str,
        title: str,
        *,
        kind: str,
        actor: str,
        under: str | Sequence[str] = (),
        measures: Sequence[str] = (),
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> DiagramChange:
        """Add a node to the project's driver diagram.

        ``kind`` is ``primary`` (under the aim), ``secondary`` (``under`` one primary
        driver) or ``idea`` (``under`` one or more drivers, ``"S1,P2"`` or a list);
        ``measures`` names the project's measures it is expected to move. The new
        node's id is ``change.nodes[0]``.
        """
        return self._charters.add_driver(
            project,
            Request(actor, expected_version, idempotency_key),
            title=title,
            kind=kind,
            under=under,
            measures=measures,
        )

    @fingerprinted
    def move_driver(
        self,
        project: str,
        node: str,
        *,
        under: str | Sequence[str],
        actor: str,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> DiagramChange:
        """Put a secondary driver or change idea under other drivers."""
        request = Request(actor, expected_version, idempotency_key)
        return self._charters.move_driver(project, request, node=node, under=under)

    @fingerprinted
    def rename_driver(
        self,
        project: str,
        node: str,
        title: str,
        *,
        actor: str,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> DiagramChange:
        """Give a node a new title; its id stays."""
        request = Request(actor, expected_version, idempotency_key)
        return self._charters.rename_driver(project, request, node=node, title=title)

    @fingerprinted
    def remove_driver(
        self,
        project: str,
        node: str,
        *,
        actor: str,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> DiagramChange:
        """Remove a node that is nobody's only driver and not under test; its id is retired."""
        request = Request(actor, expected_version, idempotency_key)
        return self._charters.remove_driver(project, request, node=node)

    @fingerprinted
    def import_drivers(
        self,
        project: str,
        outline: str,
        *,
        format: str,
        actor: str,
        source: str = "outline",
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> DiagramChange:
        """Add the nodes of a CSV or TOML outline (the text), all or nothing.

        Raises :class:`~qiflow.OutlineError` naming every bad row (``problems``);
        ``source`` names the outline in its message.
        """
        request = Request(actor, expected_version, idempotency_key)
        return self._charters.import_drivers(
            project, request, text=outline, format=format, source=source
        )

    @fingerprinted
    def add_team_member(
        self,
        project: str,
        person: str,
        *,
        role: str,
        actor: str,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Project:
        """Add a person (by id) to the project's team with a team role."""
        request = Request(actor, expected_version, idempotency_key)
        return self._charters.add_team_member(project, request, person=person, role=role)

    @fingerprinted
    def remove_team_member(
        self,
        project: str,
        person: str,
        *,
        actor: str,
        role: str | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Project:
        """Take a person out of the team: one role, or every role they hold."""
        request = Request(actor, expected_version, idempotency_key)
        return self._charters.remove_team_member(project, request, person=person, role=role)

    def driver_diagram(self, project: str) -> DriverDiagram:
        """The project's driver diagram (live nodes in the order they were added)."""
        return self._charters.driver_diagram(project)

    def team(self, project: str) -> tuple[TeamMember, ...]:
        return self._charters.team(project)

    def idea_history(self, project: str, idea: str) -> IdeaHistory:
        """A change idea (even a removed one), the cycles that tested it, and its events."""
        return self._charters.idea_history(project, idea)

    def charter(self, project: str) -> Charter:
        """The project with its measures, team and driver diagram, read together."""
        return self._charters.charter(project)

    # governance: sign-offs, programme status, people ------------------------------------
    @fingerprinted
    def request_signoff(
        self,
        project: str,
        gate: str,
        form: Mapping[str, Any] | None = None,
        *,
        actor: str,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Project:
        """Submit ``form`` for ``gate`` (a new round; a pending one is superseded)."""
        request = Request(actor, expected_version, idempotency_key)
        return self._governance.request_signoff(project, gate, form or {}, request)

    @fingerprinted
    def decide_signoff(
        self,
        project: str,
        gate: str,
        *,
        actor: str,
        approve: bool,
        role: str | None = None,
        on_behalf_of: str | None = None,
        comment: str | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Project:
        """Approve or reject the pending sign-off of ``gate`` as ``actor``.

        ``role`` picks which awaited role the decision fills (default: the first the
        actor holds). A deputy decides ``on_behalf_of`` the person they stand in for.
        A refused decision raises :class:`PermissionDenied` and is recorded in the audit
        trail as ``signoff.refused``.
        """
        return self._governance.decide_signoff(
            project,
            gate,
            Request(actor, expected_version, idempotency_key),
            approve=approve,
            role=role,
            on_behalf_of=on_behalf_of,
            comment=comment,
        )

    def expire_signoffs(self, *, actor: str = SYSTEM) -> list[Project]:
        """Mark every passed sign-off whose approval has run out as expired (``gate.expired``)."""
        return self._governance.expire_signoffs(actor=actor)

    def escalate(self, project: str, *, actor: str) -> Project:
        """Nominate a project for programme status (transformation team only).

        A candidate is granted programme status as soon as every condition holds;
        escalating a candidate that still lacks one raises :class:`GuardFailed` listing them.
        """
        return self._governance.escalate(project, Request(actor))

    def deescalate(self, project: str, *, actor: str, reason: str) -> Project:
        """Remove candidate or programme status, with a reason (transformation team only)."""
        return self._governance.deescalate(project, Request(actor), reason)

    def import_people(
        self, people: Sequence[Person], *, actor: str, replace: bool = False
    ) -> tuple[int, int, int]:
        """Load people into the built-in directory, all or nothing.

        With ``replace``, people not in ``people`` are deactivated (never deleted: the
        audit trail refers to them). Returns (added, updated, deactivated).
        """
        return self._governance.import_people(people, actor=actor, replace=replace)

    def people(self, *, role: str | None = None) -> list[Person]:
        return self._governance.people(role=role)

    def person(self, person_id: str) -> Person | None:
        """A person from the staff directory (a plugin's, if installed, else qiflow's)."""
        return self._governance.person(person_id)

    def export_person(self, person_id: str) -> dict[str, list[dict[str, Any]]]:
        """Everything qiflow holds about a person (a subject access request): each row, by
        table, that holds their id, name or e-mail address."""
        with self._store.read() as tx:
            person = _directory_entry(tx.people.get(person_id), person_id)
            return tx.privacy.export(person_id, [t for t in (person.name, person.email) if t])

    def forget_person(self, person_id: str, *, actor: str) -> Forgotten:
        """Erase a person's name, e-mail address and channels (UK GDPR erasure), keeping
        their id, which now reads "former staff member"; every hash chain still verifies.
        ``not_erased`` lists what could not be erased safely (see :mod:`qiflow.store.privacy`)."""
        with self._store.write() as tx:
            person = _directory_entry(tx.people.get(person_id), person_id)
            needles = [t for t in (person.name, person.email) if t and t != FORMER]
            result = tx.privacy.forget(person_id, needles, now=self.clock.now())
        log.info(
            "person forgotten",
            person=person_id,
            actor=actor,
            redacted_events=result.redacted_events,
            redacted_rows=result.redacted_rows,
            deleted_rows=result.deleted_rows,
            not_erased=len(result.not_erased),
        )
        return result

    def known_roles(self) -> list[str]:
        """Every role name plugins declare (for checking a people file)."""
        return sorted(vocabulary(self.pm).roles)

    def signoffs(self, project: str, gate: str | None = None) -> list[Signoff]:
        """Every sign-off round of the project (of one gate, if given), oldest first."""
        return self._governance.signoffs(project, gate)

    def gate_status(self, project: str) -> dict[str, list[str]]:
        """For each gate the project's workflow names: what it awaits (empty: passed)."""
        return self._governance.gate_status(project)

    # risk registers --------------------------------------------------------------------
    @fingerprinted
    def add_risk(
        self,
        project: str,
        description: str,
        *,
        category: str,
        owner: str,
        consequence: int,
        likelihood: int,
        actor: str,
        target: int | None = None,
        controls: str = "",
        review_by: date | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Risk:
        """Add a risk to the project's register (event ``risk.added``).

        ``consequence`` and ``likelihood`` are 1-5; the score is their product and its
        band sets the review date (unless ``review_by`` is given). An extreme risk also
        records ``risk.band_rose``, which the daemon tells the sponsor of.
        """
        new = NewRisk(
            description, category, owner, consequence, likelihood, target, controls, review_by
        )
        request = Request(actor, expected_version, idempotency_key)
        return self._risks.add(project, [new], request)[0]

    @fingerprinted
    def import_risks(
        self,
        project: str,
        csv_text: str,
        *,
        actor: str,
        source: str = "risk log",
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> list[Risk]:
        """Add every risk of a CSV risk log in one command, or none.

        Raises :class:`qiflow.risks.importing.RiskImportError` (a ``ValidationError``)
        naming every bad row; see :mod:`qiflow.risks.importing` for the columns.
        """
        request = Request(actor, expected_version, idempotency_key)
        return self._risks.import_csv(project, csv_text, request, source=source)

    @fingerprinted
    def update_risk(
        self,
        project: str,
        risk: str,
        *,
        actor: str,
        description: str | None = None,
        category: str | None = None,
        owner: str | None = None,
        target: int | None = None,
        controls: str | None = None,
        review_by: date | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Risk:
        """Change a risk's fields (scores change only by :meth:`review_risk`)."""
        changes = {
            "description": description,
            "category": category,
            "owner": owner,
            "target": target,
            "controls": controls,
            "review_by": review_by,
        }
        request = Request(actor, expected_version, idempotency_key)
        return self._risks.update(project, risk, changes, request)

    @fingerprinted
    def review_risk(
        self,
        project: str,
        risk: str,
        *,
        consequence: int,
        likelihood: int,
        actor: str,
        note: str | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Risk:
        """Record a review: the scores now, and the next review date by the new band.

        A rise in band records ``risk.band_rose`` (the sponsor is told); a review by
        the project's sponsor clears an extreme risk's block on spread.
        """
        return self._risks.review(
            project,
            risk,
            Request(actor, expected_version, idempotency_key),
            consequence=consequence,
            likelihood=likelihood,
            note=note,
        )

    @fingerprinted
    def add_risk_action(
        self,
        project: str,
        risk: str,
        text: str,
        *,
        owner: str,
        due: date,
        actor: str,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Risk:
        """Add an action to a risk, with its owner and due date (``risk.action_added``)."""
        request = Request(actor, expected_version, idempotency_key)
        return self._risks.add_action(project, risk, text, request, owner=owner, due=due)

    @fingerprinted
    def complete_risk_action(
        self,
        project: str,
        risk: str,
        action: str,
        *,
        actor: str,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Risk:
        """Mark a risk's action done (``risk.action_done``); it is no longer reminded of."""
        request = Request(actor, expected_version, idempotency_key)
        return self._risks.complete_action(project, risk, action, request)

    @fingerprinted
    def tolerate_risk(
        self,
        project: str,
        risk: str,
        *,
        reason: str,
        actor: str,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Risk:
        """Accept a risk at its level, with a reason; it stays on the register and is reviewed."""
        request = Request(actor, expected_version, idempotency_key)
        return self._risks.change_status(project, risk, TOLERATED, request, reason=reason)

    @fingerprinted
    def close_risk(
        self,
        project: str,
        risk: str,
        *,
        reason: str,
        actor: str,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Risk:
        """Close a risk, with a reason (``risk.status_changed``); it is kept, never deleted."""
        request = Request(actor, expected_version, idempotency_key)
        return self._risks.change_status(project, risk, "closed", request, reason=reason)

    @fingerprinted
    def declare_no_significant_risks(
        self,
        project: str,
        *,
        actor: str,
        note: str | None = None,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
    ) -> Project:
        """The owner's declaration that the project carries no significant risks
        (``risk.none_declared``); it meets ``risks_assessed`` as a risk assessment does."""
        request = Request(actor, expected_version, idempotency_key)
        return self._risks.declare_none(project, request, note=note)

    def risks(self, project: str) -> list[Risk]:
        """The project's register, in the order raised (closed risks included)."""
        return self._risks.of_project(project)

    def risk_register(
        self,
        *,
        band: str | None = None,
        owner: str | None = None,
        directorate: str | None = None,
        overdue: bool = False,
        statuses: Sequence[str] | None = None,
        project: str | None = None,
    ) -> list[Risk]:
        """Risks across the portfolio, highest score first; live ones unless ``statuses``.

        ``overdue`` keeps the risks whose review date has passed; ``project`` one project's.
        """
        project_id = self.get(project).id if project is not None else None
        where = RiskFilter(
            project_id=project_id,
            band=band,
            owner=owner,
            directorate=directorate,
            overdue_on=self.clock.now().date() if overdue else None,
            statuses=tuple(statuses) if statuses is not None else RiskFilter.statuses,
        )
        return self._risks.find(where)

    def risk_policy(self, project: str | None = None) -> RiskPolicy:
        """The risk matrix of the project's workflow (of the default workflow if none)."""
        if project is not None:
            return self._risks.policy(project)
        return policy_of(self.workflow())

    def risk_heat_map(self, risks: Sequence[Risk], policy: RiskPolicy | None = None) -> HeatMap:
        """The 5 x 5 heat map of the live risks among ``risks``."""
        return self._risks.heat_map(risks, policy or self.risk_policy())

    # notifications: the sweep, delivery and the outbox -----------------------------------
    def sweep_notifications(
        self,
        policy: ReminderPolicy,
        *,
        daemon: str,
        now: datetime | None = None,
        channels: Iterable[str] | None = None,
    ) -> tuple[int, int]:
        """Enqueue due reminders and event notices, once each however many daemons sweep.

        ``channels`` are the ones available here (people's own choices of others are
        ignored). Returns (new reminders and escalations, new event notices).
        """
        at = now or self.clock.now()
        return self._notifications.sweep(now=at, policy=policy, daemon=daemon, available=channels)

    def deliver_notifications(
        self,
        channels: Mapping[str, Channel],
        settings: DeliverySettings,
        *,
        daemon: str,
        now: datetime | None = None,
        window: SendingWindow | None = None,
        stopping: Callable[[], bool] = lambda: False,
        clock: Callable[[], datetime] | None = None,
        in_flight: set[int] | None = None,
    ) -> DeliveryReport:
        """Claim one batch of due notifications and send it through ``channels``.

        Nothing is sent while ``window`` is closed; ``stopping()`` turning true stops the
        pass between two messages. Before each message the lease is renewed by
        ``clock`` (the engine's clock if no ``now`` is given); a lost claim stops the
        pass. ``in_flight`` holds the ids being sent, while they are.
        """
        at = now or self.clock.now()
        if clock is None and now is None:
            clock = self.clock.now
        return self._notifications.deliver(
            channels,
            now=at,
            daemon=daemon,
            settings=settings,
            window=window,
            stopping=stopping,
            clock=clock,
            in_flight=in_flight,
        )

    def channels(self, config: Mapping[str, Mapping[str, Any]]) -> dict[str, Channel]:
        """The notification channels plugins build from ``config`` (``[channels.<name>]``)."""
        return build_channels(self.pm, config)

    def release_notifications(self, daemon: str, *, keep: Iterable[int] = ()) -> int:
        """Give back the notifications ``daemon`` claimed but did not finish (on shutdown),
        except ``keep`` (messages still in flight: they finish or expire with the lease)."""
        return self._notifications.release(daemon, keep)

    def outbox(self, *, status: str | None = None, limit: int = 100) -> list[Queued]:
        """Notifications in the outbox, newest first (of one status, if given)."""
        return self._notifications.recent(status=status, limit=limit)

    def outbox_status(self) -> OutboxStatus:
        """Notifications by status, the oldest one due, and what each daemon last did."""
        return self._notifications.status()

    def outbox_depth(self) -> list[Depth]:
        """Notifications counted by status and channel (for the daemon's metrics)."""
        with self._store.read() as tx:
            return tx.operations.outbox_depth()

    def database_now(self) -> datetime:
        """The database server's clock (the daemons judge "due" by it)."""
        return self._store.now()

    def subscriber_lag(self) -> dict[str, int]:
        """Events committed after each durable subscriber's cursor (``qiflow.notices``
        among them), by subscriber."""
        with self._store.read() as tx:
            return tx.operations.lag()

    def retry_notifications(self, ids: Sequence[int] | None = None) -> int:
        """Put dead letters (all, or those with ``ids``) back in the queue; how many."""
        return self._notifications.retry(ids, self.clock.now())

    def purge_notifications(self, status: str, *, older_than: timedelta) -> int:
        """Delete sent (or dead) notifications created more than ``older_than`` ago."""
        return self._notifications.purge(status=status, before=self.clock.now() - older_than)

    # the event feed and readiness ---------------------------------------------------
    def events_after(self, seq: int = 0, *, limit: int = 100) -> list[Event]:
        """Every project's committed events after ``seq``, oldest first, without gaps (an
        event that commits late is never skipped): the feed for subscribers."""
        with self._store.read() as tx:
            return tx.events.committed_after(seq, limit)

    def subscribe(self, name: str, *, from_seq: int | None = None) -> Subscriber:
        """Start the durable subscriber ``name`` (if new): from ``from_seq``, or from now
        (the events committed so far are not its). Event notices are the subscriber
        ``qiflow.notices``."""
        return self._subscriptions.subscribe(name, now=self.clock.now(), from_seq=from_seq)

    def replay_events(self, name: str, *, from_seq: int) -> Subscriber:
        """Move subscriber ``name``'s cursor: it gets every event after ``from_seq`` again."""
        return self._subscriptions.replay(name, from_seq=from_seq, now=self.clock.now())

    def consume_once(self, name: str, handler: Handler, *, holder: str | None = None) -> Consumed:
        """One pass of the durable subscriber ``name``: the events after its cursor (up to
        100), each handed to ``handler``, the cursor moved after each returns."""
        return self._subscriptions.consume_once(
            name, handler, holder=holder or _holder(), clock=self.clock.now
        )

    def consume(
        self,
        name: str,
        handler: Handler,
        *,
        from_seq: int | None = None,
        stop: Callable[[], bool] = lambda: False,
        poll: float = 1.0,
    ) -> None:
        """Run the durable subscriber ``name`` in this process until ``stop()``: every
        committed event at least once, in commit order per project, the cursor kept in
        qiflow's database (a new subscriber starts at ``from_seq``, or now)."""
        self.subscribe(name, from_seq=from_seq)
        holder = _holder()
        while not stop():
            done = self.consume_once(name, handler, holder=holder)
            if done.handled == 0:
                time.sleep(poll)

    def run_subscribers(self, holder: str) -> dict[str, Consumed]:
        """One pass of every plugin subscriber (``qiflow_subscribers``), as the daemon
        runs them: each under a lease for ``holder``; one failing never stops another."""
        return self._subscriptions.consume_all(
            self.plugin_subscribers(), holder=holder, clock=self.clock.now
        )

    def plugin_subscribers(self) -> dict[str, Handler]:
        """The durable subscribers plugins declare, by name."""
        found: dict[str, Handler] = {}
        for declared in self.pm.hook.qiflow_subscribers():
            for name, handler in (declared or {}).items():
                if name in found:
                    raise ConfigError(f"two plugins declare the subscriber {name!r}")
                found[name] = handler
        return found

    def subscription_head(self) -> int:
        """The highest sequence number below which every event is committed (for lag)."""
        return self._subscriptions.head()

    def subscribers(self) -> list[Subscriber]:
        """Every durable subscriber: cursor, failures, last error, lease."""
        return self._subscriptions.all()

    def readiness(self) -> str | None:
        """None when the database answers and is at this qiflow's schema; else why not."""
        return self._store.readiness()

    # access: bearer tokens and remembered requests ------------------------------------
    def create_token(
        self,
        *,
        actor: str,
        scope: str,
        created_by: str,
        act_as: bool = False,
        expires: str | None = None,
    ) -> tuple[Token, str]:
        """A new token for ``actor``; returns it and its text, which is never shown again.

        ``scope`` is read, write or admin; ``expires`` an ISO-8601 duration (``P90D``);
        ``act_as`` lets the token act for a person it names. Only a hash is stored.
        """
        return self._access.create_token(
            actor=actor, scope=scope, created_by=created_by, act_as=act_as, expires=expires
        )

    def tokens(self) -> list[Token]:
        """Every token, oldest first (never a secret)."""
        return self._access.tokens()

    def revoke_token(self, token_id: str, *, actor: str) -> Token | None:
        """Revoke a token at once; None if there is no such token."""
        return self._access.revoke_token(token_id, actor=actor)

    def authenticate(self, text: str) -> Token | None:
        """The token ``text`` stands for, if known, unrevoked and unexpired (constant-time
        comparison of the secret's hash)."""
        return self._access.authenticate(text)

    def claim_request(
        self, scope: str, key: str, fingerprint: str, *, lease: timedelta, expiry: timedelta
    ) -> RequestClaim:
        """Claim idempotency ``key`` for a request of ``scope`` (a token) with this
        fingerprint; a claim not finished within ``lease`` may be taken over, and a key is
        forgotten ``expiry`` after its first use."""
        return self._access.claim_request(scope, key, fingerprint, lease=lease, expiry=expiry)

    def finish_request(
        self,
        scope: str,
        key: str,
        *,
        status: int,
        headers: Mapping[str, str],
        body: str,
        media_type: str,
    ) -> None:
        """Keep the response to a claimed request, to answer its repeats."""
        self._access.finish_request(
            scope, key, StoredResponse(status, dict(headers), body, media_type)
        )

    def release_request(self, scope: str, key: str) -> None:
        """Forget an unfinished claim, so that a retry with the key runs again."""
        self._access.release_request(scope, key)

    @contextmanager
    def acting_via(self, service: str) -> Iterator[None]:
        """Commands in this block record ``service`` as ``via`` in each of their events:
        the service that acted for their actor."""
        token = acting_service.set(service)
        try:
            yield
        finally:
            acting_service.reset(token)


def _directory_entry(person: Person | None, person_id: str) -> Person:
    if person is None:
        raise ValidationError(
            f"no person {person_id!r} in qiflow's directory (`qiflow people list`); a trust "
            "directory plugin keeps its own records"
        )
    return person


def upgrade_database(database_url: str) -> tuple[str, str | None, str | None]:
    """Create qiflow's tables, or upgrade them to this version of qiflow.

    Returns (the URL with its password hidden, the revision before, the revision after).
    """
    store = Store(database_url)
    try:
        before = store.revision()
        store.upgrade()
        return store.display_url, before, store.revision()
    finally:
        store.dispose()


@dataclass(frozen=True)
class DatabaseState:
    """What ``qiflow doctor`` and readiness checks learn from a database."""

    url: str  # the password hidden
    backend: str
    revision: str | None  # None: no qiflow tables yet
    head: str  # the newest revision this qiflow knows
    known: bool  # whether this qiflow knows ``revision``
    now: datetime  # the database server's clock

    @property
    def current(self) -> bool:
        return self.revision == self.head


def database_state(database_url: str) -> DatabaseState:
    """Connect to the database and read its schema revision and clock.

    Raises :class:`~qiflow.exceptions.DatabaseError` when it cannot be reached.
    """
    store = Store(database_url)
    try:
        revision = store.revision()
        return DatabaseState(
            url=store.display_url,
            backend=store.backend,
            revision=revision,
            head=store.head_revision(),
            known=revision is None or store.knows(revision),
            now=store.now(),
        )
    finally:
        store.dispose()


@dataclass(frozen=True)
class CopyCheck:
    """What ``qiflow restore --check`` (and ``qiflow backup``) find in a copy."""

    url: str
    revision: str | None
    integrity: tuple[str, ...]  # SQLite's integrity_check findings; empty when sound
    projects: int
    breaks: tuple[audit.Break, ...]  # the first break of each broken hash chain
    problem: str | None = None  # why the copy could not be opened at all

    @property
    def ok(self) -> bool:
        return self.problem is None and not self.integrity and not self.breaks


def check_copy(database_url: str) -> CopyCheck:
    """Open a copy of a database and verify it: integrity, schema, every hash chain."""
    store = Store(database_url)
    try:
        integrity = tuple(store.integrity_problems())
        revision = store.revision()
        url = store.display_url
    finally:
        store.dispose()
    try:
        with Engine(database_url) as engine:
            results = list(engine.iter_audit())
    except QiflowError as exc:
        return CopyCheck(url, revision, integrity, 0, (), problem=str(exc))
    breaks = tuple(found for _ref, found in results if found is not None)
    return CopyCheck(url, revision, integrity, len(results), breaks)


def backup_database(database_url: str, target: Path) -> CopyCheck:
    """Copy a SQLite database to ``target`` (safe while daemons run) and check the copy.

    The copy is written beside ``target`` and renamed only once it verifies; a copy that
    does not verify is removed and the check says why.
    """
    if target.exists():
        raise QiflowError(f"{target} already exists; choose a new file name")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    store = Store(database_url)
    try:
        store.backup_to(partial)
    finally:
        store.dispose()
    found = check_copy(f"sqlite:///{partial}")
    if found.ok:
        partial.rename(target)
    else:
        partial.unlink(missing_ok=True)
    return dataclasses.replace(found, url=f"sqlite:///{target}")
