"""Workflow definitions: lifecycles as data, loaded from TOML files and checked."""

from qiflow.workflow.definition import (
    PREVIOUS,
    Problem,
    StateDef,
    TransitionDef,
    Workflow,
)
from qiflow.workflow.loader import Vocabulary, load_directory, load_file, parse_workflow
from qiflow.workflow.registry import WorkflowRegistry

__all__ = [
    "PREVIOUS",
    "Problem",
    "StateDef",
    "TransitionDef",
    "Vocabulary",
    "Workflow",
    "WorkflowRegistry",
    "load_directory",
    "load_file",
    "parse_workflow",
]
