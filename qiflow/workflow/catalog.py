"""Where workflows come from: the files on disk, and the versions the database keeps.

A workflow version a project was created on is stored in the database, so it
stays available after its file is edited or removed. A file that changes the
meaning of a stored version (rather than adding a new version) is refused.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping, Sequence
from typing import Protocol

from qiflow import toml_input
from qiflow.audit import dumps
from qiflow.exceptions import WorkflowDefinitionError
from qiflow.workflow.definition import Problem, Workflow
from qiflow.workflow.loader import Vocabulary, default_workflows_dir, parse_workflow
from qiflow.workflow.machine import Callback
from qiflow.workflow.registry import WorkflowRegistry


class StoredVersion(Protocol):
    """A workflow version the database keeps."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def sha256(self) -> str: ...
    @property
    def source(self) -> str: ...


def digest(source: str) -> str:
    """A digest of what a workflow file means: comments and layout do not count."""
    return hashlib.sha256(dumps(toml_input.jsonable(tomllib.loads(source))).encode()).hexdigest()


def build_registry(
    files: Sequence[Workflow],
    stored: Sequence[StoredVersion],
    vocab: Vocabulary,
    effects: Mapping[str, Callback] | None = None,
) -> WorkflowRegistry:
    """Join disk and database; refuse a file that changes a stored version in place.

    File versions not yet stored are stored by the first project created on them.
    """
    registry = WorkflowRegistry(effects=effects)
    stored_keys: dict[tuple[str, int], str] = {}
    for row in stored:
        key = (row.name, row.version)
        stored_keys[key] = row.sha256
        workflow, _problems = parse_workflow(
            row.source, f"<database: {row.name} v{row.version}>", vocab
        )
        if workflow is not None:
            registry.add(workflow)
    conflicts: list[Problem] = []
    for workflow in files:
        known = stored_keys.get(workflow.key)
        if known is not None and known != digest(workflow.source):
            conflicts.append(
                Problem(
                    workflow.path,
                    "version",
                    f"{workflow.name} version {workflow.version} differs from the version the "
                    "database holds, which projects depend on; publish the change as a new "
                    f"version (version = {workflow.version + 1})",
                )
            )
        registry.add(workflow)
    if conflicts:
        raise WorkflowDefinitionError("\n".join(str(problem) for problem in conflicts), conflicts)
    return registry


__all__ = ["StoredVersion", "build_registry", "default_workflows_dir", "digest"]
