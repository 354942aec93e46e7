"""The immutable shape of a workflow once its file has been read and checked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from qiflow.durations import Duration

#: ``dest = "@previous"`` returns a project to the state it was in before this one.
PREVIOUS = "@previous"
#: ``source = "*"`` means every non-final state other than the destination.
ANY = "*"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a workflow file, located by file and key."""

    path: str
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: {self.key}" if self.key else self.path
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class StateDef:
    name: str
    initial: bool = False
    final: bool = False
    review: Duration | None = None
    description: str = ""


@dataclass(frozen=True)
class TransitionDef:
    trigger: str
    sources: tuple[str, ...]
    dest: str
    any_source: bool = False
    roles: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    gates: tuple[str, ...] = ()
    effects: tuple[str, ...] = ()
    on: str | None = None
    description: str = ""

    @property
    def returns(self) -> bool:
        """True when the transition goes back to the previous state."""
        return self.dest == PREVIOUS


@dataclass(frozen=True)
class Workflow:
    name: str
    version: int
    title: str
    states: tuple[StateDef, ...]
    transitions: tuple[TransitionDef, ...]
    roles: tuple[str, ...] = ()
    gate_config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, compare=False)
    escalation: Mapping[str, Any] = field(default_factory=dict, compare=False)
    reminders: Mapping[str, Any] = field(default_factory=dict, compare=False)
    #: The ``[risks]`` table: categories, bands and review cadences (see :mod:`qiflow.risks`).
    risks: Mapping[str, Any] = field(default_factory=dict, compare=False)
    #: The ``[measurement]`` table: ``sustain_points``, ``score_stale_after``.
    measurement: Mapping[str, Any] = field(default_factory=dict, compare=False)
    path: str = ""
    source: str = field(default="", repr=False, compare=False)

    @property
    def key(self) -> tuple[str, int]:
        return (self.name, self.version)

    @property
    def initial(self) -> StateDef:
        return next(state for state in self.states if state.initial)

    def state(self, name: str) -> StateDef:
        for state in self.states:
            if state.name == name:
                return state
        raise KeyError(name)

    def has_state(self, name: str) -> bool:
        return any(state.name == name for state in self.states)

    def transitions_from(self, state: str) -> tuple[TransitionDef, ...]:
        """The transitions that can fire from ``state``, in file order."""
        return tuple(t for t in self.transitions if state in t.sources)

    def triggers_from(self, state: str) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for transition in self.transitions_from(state):
            seen.setdefault(transition.trigger)
        return tuple(seen)

    def transition(self, state: str, trigger: str) -> TransitionDef | None:
        for transition in self.transitions_from(state):
            if transition.trigger == trigger:
                return transition
        return None
