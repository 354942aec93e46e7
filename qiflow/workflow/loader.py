"""Read workflow TOML files and report every problem at once.

Parsing (this module) checks each key; :mod:`qiflow.workflow.checks` then checks
the graph. Nothing here raises for a bad file: problems are returned so that
``qiflow workflow validate`` can list them all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qiflow import toml_input
from qiflow.durations import parse_duration
from qiflow.measurement import SIGNAL_KINDS
from qiflow.workflow.checks import check_graph
from qiflow.workflow.definition import ANY, PREVIOUS, Problem, StateDef, TransitionDef, Workflow
from qiflow.workflow.extends import REMOVE, base_of, merge, removal_problem, to_toml

# Matched in full (``fullmatch``): ``$`` would let a trailing newline through.
NAME = re.compile(r"[a-z][a-z0-9_]{0,99}")
EVENT_KEY = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*(:[a-z][a-z0-9_]*)?")
#: The largest workflow version (stored in a 32-bit column on every backend).
MAX_VERSION = 2**31 - 1
#: Event types whose ``on`` key may name a gate: ``gate.passed:qeia``.
GATE_EVENT_PREFIXES = ("gate.", "signoff.")

TOP_KEYS = {
    "name",
    "version",
    "title",
    "description",
    "roles",
    "states",
    "transitions",
    "gates",
    "escalation",
    "reminders",
    "risks",
    "measurement",
}
STATE_KEYS = {"name", "initial", "final", "review", "description"}
TRANSITION_KEYS = {
    "trigger",
    "source",
    "dest",
    "roles",
    "requires",
    "gates",
    "effects",
    "on",
    "description",
}


#: Checks one configuration table of a workflow file; returns its problems.
TableCheck = Callable[[Mapping[str, Any]], list[str]]


@dataclass(frozen=True)
class Vocabulary:
    """The names a workflow file may use: registered guards, gates, effects, roles."""

    guards: frozenset[str] = field(default_factory=frozenset)
    gates: frozenset[str] = field(default_factory=frozenset)
    effects: frozenset[str] = field(default_factory=frozenset)
    roles: frozenset[str] = field(default_factory=frozenset)
    #: For each gate, a check of its ``[gates.<name>]`` table returning problems.
    gate_config_checks: Mapping[str, TableCheck] = field(default_factory=dict)
    #: For ``[escalation]``, ``[reminders]``, ``[risks]``: the check their owner registered.
    table_checks: Mapping[str, TableCheck] = field(default_factory=dict)
    #: Event types a transition's ``on`` may name (built-in and plugin-declared).
    events: frozenset[str] = field(default_factory=frozenset)


class _Reader:
    """Collects problems while turning one parsed TOML document into a Workflow."""

    def __init__(self, path: str, vocabulary: Vocabulary) -> None:
        self.path = path
        self.vocabulary = vocabulary
        self.problems: list[Problem] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.path, key, message))

    def unknown_keys(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for key in sorted(set(table) - allowed):
            self.problem(
                f"{where}{key}" if where else key,
                f"unknown key; expected one of {', '.join(sorted(allowed))}",
            )

    def text(self, table: Mapping[str, Any], key: str, where: str, required: bool = False) -> str:
        value = table.get(key)
        if value is None or (required and isinstance(value, str) and not value.strip()):
            if required:
                self.problem(f"{where}{key}", "is required")
            return ""
        if not isinstance(value, str):
            self.problem(f"{where}{key}", f"must be a string, not {type(value).__name__}")
            return ""
        return value

    def names(self, table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(f"{where}{key}", "must be a string or a list of strings")
            return ()
        return tuple(value)

    def flag(self, table: Mapping[str, Any], key: str, where: str) -> bool:
        value = table.get(key, False)
        if not isinstance(value, bool):
            self.problem(f"{where}{key}", "must be true or false")
            return False
        return value

    def read(self, doc: Mapping[str, Any], source: str) -> Workflow | None:
        self.unknown_keys(doc, TOP_KEYS, "")
        name = self.text(doc, "name", "", required=True)
        if name and not NAME.fullmatch(name):
            self.problem("name", f"{name!r} must be lower_snake_case")
        version = doc.get("version")
        if version is None:
            self.problem("version", "is required (an integer, 1 for a new workflow)")
        elif isinstance(version, bool) or not isinstance(version, int) or version < 1:
            self.problem("version", f"must be a positive integer, not {version!r}")
            version = None
        elif version > MAX_VERSION:
            self.problem("version", f"must be at most {MAX_VERSION}, not {version}")
            version = None
        extra_roles = self.names(doc, "roles", "")
        roles = self.vocabulary.roles | set(extra_roles)
        states = self.read_states(doc.get("states"))
        transitions = self.read_transitions(doc.get("transitions"), states, roles)
        gate_config = self.read_gate_config(doc.get("gates", {}))
        escalation = self.read_table(doc, "escalation")
        reminders = self.read_table(doc, "reminders")
        risks = self.read_table(doc, "risks")
        measurement = self.read_table(doc, "measurement")
        self.check_rescreen(gate_config, transitions)
        if not states:
            return None
        self.problems.extend(check_graph(self.path, states, transitions))
        if self.problems or not name or not isinstance(version, int):
            return None
        return Workflow(
            name=name,
            version=version,
            title=self.text(doc, "title", "") or name.replace("_", " "),
            states=tuple(states),
            transitions=tuple(transitions),
            roles=extra_roles,
            gate_config=gate_config,
            escalation=escalation,
            reminders=reminders,
            risks=risks,
            measurement=measurement,
            path=self.path,
            source=source,
        )

    def read_table(self, doc: Mapping[str, Any], key: str) -> dict[str, Any]:
        """A configuration table, checked by the check its owning module registered."""
        table = doc.get(key, {})
        if not isinstance(table, dict):
            self.problem(key, "must be a table")
            return {}
        check = self.vocabulary.table_checks.get(key)
        if check is None:
            if table:
                self.problem(key, "no installed module reads this table")
            return table
        for problem in check(table):
            self.problem(key, problem)
        return table

    def check_rescreen(
        self, gate_config: Mapping[str, Mapping[str, Any]], transitions: Sequence[TransitionDef]
    ) -> None:
        """``rescreen_on`` names triggers of this workflow (a typo would silently lapse)."""
        triggers = {t.trigger for t in transitions}
        for gate, config in gate_config.items():
            names = config.get("rescreen_on", [])
            for name in names if isinstance(names, list) else []:
                if name not in triggers:
                    self.problem(
                        f"gates.{gate}.rescreen_on",
                        f"{name!r} is not a trigger of this workflow; triggers: {_list(triggers)}",
                    )

    def read_gate_config(self, raw: object) -> dict[str, dict[str, Any]]:
        if not isinstance(raw, dict):
            self.problem("gates", "must be a table of [gates.<name>] tables")
            return {}
        result: dict[str, dict[str, Any]] = {}
        for gate, config in raw.items():
            if gate not in self.vocabulary.gates:
                self.problem(
                    f"gates.{gate}",
                    f"unknown gate {gate!r}; registered: {_list(self.vocabulary.gates)}",
                )
                continue
            if not isinstance(config, dict):
                self.problem(f"gates.{gate}", "must be a table")
                continue
            check = self.vocabulary.gate_config_checks.get(gate)
            for problem in check(config) if check else []:
                self.problem(f"gates.{gate}", problem)
            result[gate] = config
        return result

    def read_states(self, raw: object) -> list[StateDef]:
        if not isinstance(raw, list) or not raw:
            self.problem("states", "at least one [[states]] table is required")
            return []
        states: list[StateDef] = []
        seen: set[str] = set()
        for index, table in enumerate(raw):
            where = f"states[{index}]."
            if not isinstance(table, dict):
                self.problem(f"states[{index}]", "must be a table")
                continue
            self.unknown_keys(table, STATE_KEYS, where)
            name = self.text(table, "name", where, required=True)
            if not name:
                continue
            if not NAME.fullmatch(name):
                self.problem(f"{where}name", f"{name!r} must be lower_snake_case")
                continue
            if name in seen:
                self.problem(f"{where}name", f"duplicate state {name!r}")
                continue
            seen.add(name)
            review = None
            review_text = self.text(table, "review", where)
            if review_text:
                try:
                    review = parse_duration(review_text)
                except ValueError as exc:
                    self.problem(f"{where}review", str(exc))
            elif "review" in table and isinstance(table["review"], str):
                self.problem(f"{where}review", "is empty; give a duration such as 'P14D'")
            final = self.flag(table, "final", where)
            if final and review is not None:
                self.problem(f"{where}review", "a final state has no review cadence")
            states.append(
                StateDef(
                    name=name,
                    initial=self.flag(table, "initial", where),
                    final=final,
                    review=review,
                    description=self.text(table, "description", where),
                )
            )
        return states

    def read_transitions(
        self, raw: object, states: Sequence[StateDef], roles: Iterable[str]
    ) -> list[TransitionDef]:
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            self.problem("transitions", "must be an array of [[transitions]] tables")
            return []
        known_states = {s.name for s in states}
        finals = {s.name for s in states if s.final}
        known_roles = set(roles)
        result: list[TransitionDef] = []
        seen: dict[tuple[str, str], int] = {}
        for index, table in enumerate(raw):
            where = f"transitions[{index}]."
            if not isinstance(table, dict):
                self.problem(f"transitions[{index}]", "must be a table")
                continue
            self.unknown_keys(table, TRANSITION_KEYS, where)
            trigger = self.text(table, "trigger", where, required=True)
            if trigger and not NAME.fullmatch(trigger):
                self.problem(f"{where}trigger", f"{trigger!r} must be lower_snake_case")
            dest = self.text(table, "dest", where, required=True)
            if dest and dest != PREVIOUS and dest not in known_states:
                self.problem(f"{where}dest", f"unknown state {dest!r}")
            raw_sources = self.names(table, "source", where)
            if not raw_sources:
                self.problem(f"{where}source", "is required")
            any_source = ANY in raw_sources
            for source in raw_sources:
                if source != ANY and source not in known_states:
                    self.problem(f"{where}source", f"unknown state {source!r}")
            if any_source and len(raw_sources) > 1:
                self.problem(
                    f"{where}source", "'*' already means every active state; give it alone"
                )
            sources = tuple(sorted(known_states - finals - {dest})) if any_source else raw_sources
            for source in sources:
                if trigger and source in known_states:
                    first = seen.setdefault((trigger, source), index)
                    if first != index:
                        self.problem(
                            f"{where}trigger",
                            f"duplicate trigger {trigger!r} from state {source!r} "
                            f"(also at transitions[{first}])",
                        )
            transition = TransitionDef(
                trigger=trigger,
                sources=sources,
                dest=dest,
                any_source=any_source,
                roles=self.names(table, "roles", where),
                requires=self.names(table, "requires", where),
                gates=self.names(table, "gates", where),
                effects=self.names(table, "effects", where),
                on=self.text(table, "on", where) or None,
                description=self.text(table, "description", where),
            )
            self.check_vocabulary(transition, where, known_roles)
            result.append(transition)
        return result

    def check_vocabulary(self, t: TransitionDef, where: str, roles: set[str]) -> None:
        vocab = self.vocabulary
        for role in t.roles:
            if role not in roles:
                self.problem(
                    f"{where}roles",
                    f"unknown role {role!r}; known: {_list(roles)} "
                    "(declare new ones in the top-level `roles` list)",
                )
        for guard in t.requires:
            if guard not in vocab.guards:
                self.problem(
                    f"{where}requires",
                    f"unknown guard {guard!r}; registered: {_list(vocab.guards)}",
                )
        for gate in t.gates:
            if gate not in vocab.gates:
                self.problem(
                    f"{where}gates", f"unknown gate {gate!r}; registered: {_list(vocab.gates)}"
                )
        for effect in t.effects:
            if effect not in vocab.effects:
                self.problem(
                    f"{where}effects", f"unknown effect {effect!r}; known: {_list(vocab.effects)}"
                )
        if t.on is not None:
            self.check_event(t.on, f"{where}on")

    def check_event(self, key: str, where: str) -> None:
        """``on`` names an event that exists: a known type, or ``<type>:<gate>``."""
        vocab = self.vocabulary
        if not EVENT_KEY.fullmatch(key):
            self.problem(
                where,
                f"{key!r} is not an event name such as 'review.recorded' or 'gate.passed:qeia'",
            )
            return
        kind, _, gate = key.partition(":")
        if kind not in vocab.events:
            self.problem(where, f"unknown event type {kind!r}; known: {_list(vocab.events)}")
        elif gate and kind == "measure.signal":
            if gate not in SIGNAL_KINDS:
                self.problem(
                    where,
                    f"unknown signal kind {gate!r} in {key!r}; one of {', '.join(SIGNAL_KINDS)}",
                )
        elif gate and not kind.startswith(GATE_EVENT_PREFIXES):
            self.problem(where, f"{kind!r} events carry no gate, so {key!r} never happens")
        elif gate and gate not in vocab.gates:
            self.problem(
                where, f"unknown gate {gate!r} in {key!r}; registered: {_list(vocab.gates)}"
            )


def _list(names: Iterable[str]) -> str:
    return ", ".join(sorted(names)) or "none"


def parse_workflow(
    text: str, path: str, vocabulary: Vocabulary
) -> tuple[Workflow | None, list[Problem]]:
    """Parse and check one workflow document; return it (or None) and its problems."""
    try:
        doc = toml_input.loads(text)
    except toml_input.TomlProblem as exc:
        return None, [Problem(path, exc.key, exc.message)]
    reader = _Reader(path, vocabulary)
    workflow = reader.read(doc, text)
    return workflow, reader.problems


def default_workflows_dir() -> Path:
    """The shipped workflows: inside an installed wheel, or the checkout's ``workflows/``."""
    here = Path(__file__).resolve().parent.parent
    packaged = here / "_workflows"
    return packaged if packaged.is_dir() else here.parent / "workflows"


def load_file(path: Path, vocabulary: Vocabulary) -> tuple[Workflow | None, list[Problem]]:
    workflows, problems = load_directory([path], vocabulary)
    return (workflows[0] if workflows else None), problems


@dataclass
class _Document:
    path: str
    text: str
    doc: dict[str, Any] | None  # None: unreadable (its problem is already reported)


def _read(file: Path) -> tuple[_Document, list[Problem]]:
    try:
        text = toml_input.read_text(file)
    except OSError as exc:
        unreadable = Problem(str(file), "", f"cannot read the file: {exc.strerror or exc}")
        return _Document(str(file), "", None), [unreadable]
    except toml_input.TomlProblem as exc:
        return _Document(str(file), "", None), [Problem(str(file), exc.key, exc.message)]
    try:
        return _Document(str(file), text, toml_input.loads(text)), []
    except toml_input.TomlProblem as exc:
        return _Document(str(file), text, None), [Problem(str(file), exc.key, exc.message)]


def _resolve(documents: list[_Document]) -> list[Problem]:
    """Lay every ``extends`` file over its base (from these files, else the shipped
    ones); its text becomes the resolved workflow's TOML."""
    problems: list[Problem] = []
    known: dict[tuple[str, int], _Document] = {}
    for document in documents:
        doc = document.doc or {}
        key = (doc.get("name"), doc.get("version"))
        if isinstance(key[0], str) and isinstance(key[1], int):
            known.setdefault(key, document)  # type: ignore[arg-type]
    shipped: dict[tuple[str, int], _Document] | None = None
    done: set[str] = set()

    def resolve(document: _Document, chain: tuple[str, ...]) -> None:
        nonlocal shipped
        doc = document.doc
        if doc is None or document.path in done:
            return
        base = base_of(doc)
        if base is None:
            done.add(document.path)
            return
        if isinstance(base, str):
            problems.append(Problem(document.path, "extends", base))
            document.doc = None
            return
        found = known.get(base)
        if found is None:
            if shipped is None:
                shipped = {}
                for file in sorted(default_workflows_dir().glob("*.toml")):
                    other, _ = _read(file)
                    if other.doc is not None:
                        shipped[(other.doc.get("name"), other.doc.get("version"))] = other  # type: ignore[index]
            found = shipped.get(base)
        label = f"{base[0]}@{base[1]}"
        if found is None or found.path in chain:
            why = "extends itself in a circle" if found else "no workflow file defines it"
            problems.append(Problem(document.path, "extends", f"{label}: {why}"))
            document.doc = None
            return
        resolve(found, (*chain, document.path))
        if found.doc is None:
            problems.append(Problem(document.path, "extends", f"{label} is itself invalid"))
            document.doc = None
            return
        removal = removal_problem(found.doc, doc)
        if removal is not None:
            problems.append(Problem(document.path, REMOVE, removal))
            document.doc = None
            return
        document.doc = merge(found.doc, doc)
        document.text = (
            f"# {Path(document.path).name}, extending {label}, resolved by qiflow\n\n"
            + to_toml(document.doc)
        )
        done.add(document.path)

    for document in documents:
        resolve(document, (document.path,))
    return problems


def load_directory(
    paths: Iterable[Path], vocabulary: Vocabulary
) -> tuple[list[Workflow], list[Problem]]:
    """Load every ``*.toml`` file in the given files or directories.

    Also reports two files that declare the same workflow name and version.
    """
    workflows: list[Workflow] = []
    problems: list[Problem] = []
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.glob("*.toml")))
        elif path.exists():
            files.append(path)
        else:
            problems.append(Problem(str(path), "", "no such file or directory"))
    owners: dict[tuple[str, int], str] = {}
    documents: list[_Document] = []
    for file in files:
        document, found = _read(file)
        problems.extend(found)
        documents.append(document)
    problems.extend(_resolve(documents))
    for document in documents:
        if document.doc is None:
            continue
        workflow, found = parse_workflow(document.text, document.path, vocabulary)
        problems.extend(found)
        if workflow is None:
            continue
        other = owners.setdefault(workflow.key, workflow.path)
        if other != workflow.path:
            problems.append(
                Problem(
                    workflow.path,
                    "version",
                    f"{workflow.name} version {workflow.version} is also "
                    f"defined in {other}; give each version its own number",
                )
            )
            continue
        workflows.append(workflow)
    return workflows, problems
