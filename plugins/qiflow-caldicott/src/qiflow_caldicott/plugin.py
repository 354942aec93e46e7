"""The Caldicott guardian gate, its project field, its role and a JSON-lines channel.

A project says whether it uses patient-identifiable data (the project field
``uses_patient_identifiable_data``). Before PDSA testing, one holding the
``caldicott_guardian`` role approves (never the project's owner: qiflow refuses
self-approval); the approval lasts ``valid_for`` (the workflow's ``[gates.caldicott]``
table, twelve months by default). A form that says no patient-identifiable data is
used makes the gate not needed: it passes with no approver, recorded with who said so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from qiflow import (
    Approval,
    BaseGate,
    ConfigError,
    ConfigSchema,
    DeliveryError,
    GuardContext,
    Notification,
    NotNeeded,
    ProjectField,
    Signoff,
    ValidationError,
    hookimpl,
    parse_duration,
)

FIELD = "uses_patient_identifiable_data"
ROLE = "caldicott_guardian"
#: The folder of this plugin's workflow files (``caldicott_project`` extends qi_project@2).
WORKFLOWS_DIR = Path(__file__).resolve().parent / "workflows"


class CaldicottGate(BaseGate):
    name = "caldicott"
    title = "Caldicott guardian approval"
    config_schema: ClassVar[ConfigSchema] = {"valid_for": str, "exempt_directorates": list}

    def check_config(self, config: Mapping[str, Any]) -> list[str]:
        problems = super().check_config(config)
        if isinstance(config.get("valid_for"), str):
            try:
                parse_duration(config["valid_for"])
            except ValueError as exc:
                problems.append(f"valid_for: {exc}")
        exempt = config.get("exempt_directorates", [])
        if isinstance(exempt, list) and not all(isinstance(d, str) for d in exempt):
            problems.append("exempt_directorates must be a list of directorate names")
        return problems

    def applies(self, ctx: GuardContext) -> bool:
        exempt = ctx.gate_config(self.name).get("exempt_directorates", [])
        return ctx.project.directorate not in exempt

    def assess(self, ctx: GuardContext, form: Mapping[str, Any]) -> Approval | NotNeeded:
        declared = ctx.project.fields.get(FIELD)
        said = form.get(FIELD, declared)
        problems: list[str] = []
        if not isinstance(said, bool):
            problems.append(
                f"say whether patient-identifiable data is used ({FIELD} = true|false in the "
                f"form, or qiflow project update {ctx.project.ref} --field {FIELD}=...)"
            )
        elif declared is not None and said != declared:
            problems.append(
                f"the form says {FIELD} = {str(said).lower()} but the project says "
                f"{str(declared).lower()}; correct one of them"
            )
        if said is True:
            for key, what in (("purpose", "the purpose"), ("legal_basis", "the legal basis")):
                if not str(form.get(key) or "").strip():
                    problems.append(f"state {what} for using the data ({key} = ...)")
        if problems:
            raise ValidationError(problems)
        if said is False:
            return NotNeeded("no patient-identifiable data is used")
        valid_for = parse_duration(str(ctx.gate_config(self.name).get("valid_for", "P12M")))
        summary = {"purpose": form["purpose"], "legal_basis": form["legal_basis"]}
        return Approval("Caldicott guardian approval", (ROLE,), "any", valid_for, summary)

    def still_valid(self, ctx: GuardContext, signoff: Signoff) -> str | None:
        if not signoff.roles and ctx.project.fields.get(FIELD) is True:
            return (
                f"{self.title}: the project now uses patient-identifiable data; "
                f"request the approval (qiflow signoff request {ctx.project.ref} caldicott)"
            )
        return None


class JsonLinesChannel:
    """Appends one JSON object per notification to a file (``[channels.jsonl] path``;
    a relative path is next to qiflow.toml)."""

    name = "jsonl"

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def send(self, notification: Notification) -> None:
        record = {
            "key": notification.key,
            "recipient": notification.recipient,
            "subject": notification.subject,
            "items": [
                {"kind": i.kind, "project_ref": i.project_ref, "subject": i.subject}
                for i in notification.items
            ],
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        except OSError as exc:
            raise DeliveryError(f"cannot append to {self.path}: {exc.strerror}") from exc


@hookimpl
def qiflow_project_fields() -> Iterable[ProjectField]:
    return [
        ProjectField(
            FIELD,
            "bool",
            label="Uses patient-identifiable data",
            help="true when the project processes identifiable patient data "
            "(the Caldicott guardian then approves it before PDSA testing)",
        )
    ]


@hookimpl
def qiflow_roles() -> Iterable[str]:
    return [ROLE]


@hookimpl
def qiflow_gates() -> Mapping[str, BaseGate]:
    return {CaldicottGate.name: CaldicottGate()}


@hookimpl
def qiflow_channels(config: Mapping[str, Mapping[str, Any]]) -> Mapping[str, JsonLinesChannel]:
    table = config.get("jsonl")
    if table is None:
        return {}
    path = table.get("path")
    if not isinstance(path, str) or not path:
        raise ConfigError("channels.jsonl.path must name a file")
    return {"jsonl": JsonLinesChannel(path)}
