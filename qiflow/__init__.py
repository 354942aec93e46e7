"""qiflow: a lifecycle engine for healthcare quality-improvement projects.

Everything an embedding service needs is importable from here.
"""

from qiflow.charter.diagram import DriverDiagram, DriverNode
from qiflow.charter.results import Charter, DiagramChange, IdeaHistory
from qiflow.charter.team import TeamMember
from qiflow.clock import Clock, ManualClock, SystemClock
from qiflow.durations import Duration, parse_duration
from qiflow.engine import DEFAULT_DATABASE_URL, DatabaseClock, Engine
from qiflow.exceptions import (
    ConcurrencyConflict,
    ConfigError,
    DatabaseError,
    GuardFailed,
    IdempotencyConflict,
    InvalidTransition,
    OutlineError,
    PermissionDenied,
    PluginError,
    QiflowError,
    UnknownProject,
    ValidationError,
    WorkflowDefinitionError,
)
from qiflow.fields import ProjectField, ProjectFields
from qiflow.governance.gates import Approval, BaseGate, ConfigSchema, GateType, NotNeeded
from qiflow.lifecycle.requirements import GuardContext, Requirement
from qiflow.lifecycle.roles import Directory
from qiflow.measurement import Picture, Progress, Signal, Suggestion
from qiflow.notify.channels import Channel, DeliveryError, Item, Notification
from qiflow.plugins import get_plugin_manager, hookimpl
from qiflow.risks.heatmap import HeatMap
from qiflow.risks.importing import RiskImportError
from qiflow.risks.policy import RiskPolicy
from qiflow.risks.register import NewRisk, Risk, RiskAction
from qiflow.snapshots import (
    ConfirmedScore,
    DataPoint,
    Event,
    Measure,
    MeasureSeries,
    OutboxStatus,
    PdsaCycle,
    Person,
    Project,
    Queued,
    Rebase,
    RequestClaim,
    Signoff,
    StoredResponse,
    Token,
    TriggerOption,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_DATABASE_URL",
    "Approval",
    "BaseGate",
    "Channel",
    "Charter",
    "Clock",
    "ConcurrencyConflict",
    "ConfigError",
    "ConfigSchema",
    "ConfirmedScore",
    "DataPoint",
    "DatabaseClock",
    "DatabaseError",
    "DeliveryError",
    "DiagramChange",
    "Directory",
    "DriverDiagram",
    "DriverNode",
    "Duration",
    "Engine",
    "Event",
    "GateType",
    "GuardContext",
    "GuardFailed",
    "HeatMap",
    "IdeaHistory",
    "IdempotencyConflict",
    "InvalidTransition",
    "Item",
    "ManualClock",
    "Measure",
    "MeasureSeries",
    "NewRisk",
    "NotNeeded",
    "Notification",
    "OutboxStatus",
    "OutlineError",
    "PdsaCycle",
    "PermissionDenied",
    "Person",
    "Picture",
    "PluginError",
    "Progress",
    "Project",
    "ProjectField",
    "ProjectFields",
    "QiflowError",
    "Queued",
    "Rebase",
    "RequestClaim",
    "Requirement",
    "Risk",
    "RiskAction",
    "RiskImportError",
    "RiskPolicy",
    "Signal",
    "Signoff",
    "StoredResponse",
    "Suggestion",
    "SystemClock",
    "TeamMember",
    "Token",
    "TriggerOption",
    "UnknownProject",
    "ValidationError",
    "WorkflowDefinitionError",
    "__version__",
    "get_plugin_manager",
    "hookimpl",
    "parse_duration",
]
