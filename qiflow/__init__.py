"""qiflow: a lifecycle engine for healthcare quality-improvement projects.

Everything an embedding service needs is importable from here.
"""

from qiflow.clock import Clock, ManualClock, SystemClock
from qiflow.durations import Duration, parse_duration
from qiflow.engine import DEFAULT_DATABASE_URL, Engine
from qiflow.exceptions import (
    ConcurrencyConflict,
    ConfigError,
    DatabaseError,
    GuardFailed,
    InvalidTransition,
    PermissionDenied,
    QiflowError,
    UnknownProject,
    ValidationError,
    WorkflowDefinitionError,
)
from qiflow.fields import ProjectFields
from qiflow.gates import Approval, BaseGate, GateType, Signoff
from qiflow.people import Directory, Person
from qiflow.plugins import get_plugin_manager, hookimpl
from qiflow.requirements import GuardContext, Requirement
from qiflow.snapshots import DataPoint, Event, Measure, PdsaCycle, Project, TriggerOption

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_DATABASE_URL",
    "Approval",
    "BaseGate",
    "Clock",
    "ConcurrencyConflict",
    "ConfigError",
    "DataPoint",
    "DatabaseError",
    "Directory",
    "Duration",
    "Engine",
    "Event",
    "GateType",
    "GuardContext",
    "GuardFailed",
    "InvalidTransition",
    "ManualClock",
    "Measure",
    "PdsaCycle",
    "PermissionDenied",
    "Person",
    "Project",
    "ProjectFields",
    "QiflowError",
    "Requirement",
    "Signoff",
    "SystemClock",
    "TriggerOption",
    "UnknownProject",
    "ValidationError",
    "WorkflowDefinitionError",
    "__version__",
    "get_plugin_manager",
    "hookimpl",
    "parse_duration",
]
