"""Every loaded workflow version, and the machine for each."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from qiflow.exceptions import WorkflowDefinitionError
from qiflow.workflow.definition import Workflow
from qiflow.workflow.machine import Callback, LifecycleMachine


class WorkflowRegistry:
    """Workflow versions by name; machines are built once per version, on first use."""

    def __init__(
        self, workflows: Iterable[Workflow] = (), *, effects: Mapping[str, Callback] | None = None
    ) -> None:
        """``effects`` are what the machines run when a step is taken (by name)."""
        self._effects = effects
        self._workflows: dict[tuple[str, int], Workflow] = {}
        self._machines: dict[tuple[str, int], LifecycleMachine] = {}
        for workflow in workflows:
            self.add(workflow)

    def add(self, workflow: Workflow) -> None:
        self._workflows[workflow.key] = workflow

    def __contains__(self, key: tuple[str, int]) -> bool:
        return key in self._workflows

    def all(self) -> list[Workflow]:
        return sorted(self._workflows.values(), key=lambda w: w.key)

    def names(self) -> list[str]:
        return sorted({name for name, _ in self._workflows})

    def get(self, name: str, version: int | None = None) -> Workflow:
        """A workflow by name, at ``version`` or at its latest version."""
        if version is None:
            versions = [v for n, v in self._workflows if n == name]
            if not versions:
                raise WorkflowDefinitionError(
                    f"no workflow named {name!r}; loaded: {', '.join(self.names()) or 'none'}"
                )
            version = max(versions)
        try:
            return self._workflows[(name, version)]
        except KeyError:
            raise WorkflowDefinitionError(
                f"workflow {name!r} has no version {version}; loaded versions: "
                f"{', '.join(str(v) for n, v in sorted(self._workflows) if n == name) or 'none'}"
            ) from None

    def machine(self, name: str, version: int) -> LifecycleMachine:
        key = (name, version)
        machine = self._machines.get(key)
        if machine is None:
            machine = self._machines[key] = LifecycleMachine(self.get(name, version), self._effects)
        return machine
