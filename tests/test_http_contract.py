"""Contract tests: schemathesis drives every operation of the OpenAPI document in process.

Every response must match its documented status, content type, headers and schema, and
no request may produce a server error. The stateful test follows the document's links:
create -> fire (with the ETag as If-Match) -> history.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance
from schemathesis.specs.openapi.schemas import OpenApiSchema

from qiflow import Engine, Person
from qiflow.http import create_app
from tests.helpers import OWNER, SPONSOR
from tests.http_support import bearer

SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


@pytest.fixture
def admin(engine: Engine) -> dict[str, str]:
    return bearer(engine, OWNER, "admin")


@pytest.fixture
def known(engine: Engine, admin: dict[str, str]) -> dict[str, Any]:
    """Path parameters that name things which exist: a project with a measure, a
    person, a token, a gate, a workflow."""
    project = engine.create_project("Seeded", actor=OWNER, owner=OWNER, sponsor=SPONSOR)
    engine.add_measure(
        project.ref, "Missed doses", kind="outcome", unit="%", direction="decrease", actor=OWNER
    )
    engine.import_people([Person(id=OWNER, name="Olivia")], actor=OWNER)
    engine.add_driver(project.ref, "Reliable prescribing", kind="primary", actor=OWNER)
    idea = engine.add_driver(project.ref, "Reminders", kind="idea", under="P1", actor=OWNER)
    engine.add_team_member(project.ref, SPONSOR, role="member", actor=OWNER)
    return {
        "node": idea.nodes[0],
        "person": SPONSOR,
        "ref": project.ref,
        "measure_id": engine.measures(project.ref)[0].id,
        "person_id": OWNER,
        "token_id": engine.create_token(actor=SPONSOR, scope="read", created_by=OWNER)[0].id,
        "gate": "qeia",
        "name": "qi_project",
    }


@pytest.fixture
def api(engine: Engine, admin: dict[str, str]) -> OpenApiSchema:
    """The app's own OpenAPI document, with an admin token on every generated request
    (and the sign-in limiter off: every token is right)."""
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", create_app(engine, auth_failures=10**9)
    )

    @schema.auth()
    class AdminToken:
        def get(self, case: Any, ctx: Any) -> str:
            return admin["Authorization"]

        def set(self, case: Any, data: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": data}

    return schema


def checker(strategy: Any, label: str, answered: list[tuple[str, int]]) -> Callable[[], None]:
    """A Hypothesis test that sends what ``strategy`` makes and checks each response."""

    @given(case=strategy)
    @SETTINGS
    def check(case: Any) -> None:
        # Schema-valid requests may still break a business rule (an unknown workflow, a
        # rejection without a comment): those are documented 422 problems, so the
        # "schema-valid data is accepted" check does not apply to this API.
        response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
        answered.append((label, response.status_code))

    return check


def exercise(
    api: OpenApiSchema, mode: GenerationMode, known: dict[str, Any], only: str = ""
) -> list[tuple[str, int]]:
    """Run every operation with generated requests, once with generated path parameters
    and once with ones that exist; report every operation that failed.

    Returns each (operation, status) answered."""
    failures, answered = [], []
    for result in api.get_all_operations():
        operation = result.ok()
        if only and only not in operation.label:
            continue
        names = {p.name for p in operation.iter_parameters() if p.location == "path"}
        existing = {name: known[name] for name in names}
        # The event feed's long poll waits for real; a contract test should not.
        query = {"wait": 0} if operation.label.endswith("/events") else None
        strategy = operation.as_strategy(generation_mode=mode, auth_storage=api.auth, query=query)
        if existing:
            strategy |= operation.as_strategy(
                generation_mode=mode, auth_storage=api.auth, path_parameters=existing
            )

        check = checker(strategy, operation.label, answered)

        try:
            check()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, operation.label
            assert not operation.body, operation.label
            assert not list(operation.iter_parameters()), operation.label
        except Exception as exc:  # collected and reported below
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
    return answered


def test_every_operation_keeps_its_contract(api: OpenApiSchema, known: dict[str, Any]) -> None:
    answered = exercise(api, GenerationMode.POSITIVE, known)
    operations = {op.ok().label for op in api.get_all_operations()}
    assert {label for label, _status in answered} == operations
    succeeded = {label for label, status in answered if status < 300}
    # Every query succeeds for some generated request (the seeded project, the examples).
    assert {label for label in operations if label.startswith("GET")} <= succeeded


def test_invalid_requests_are_refused_with_problems(
    api: OpenApiSchema, known: dict[str, Any]
) -> None:
    answered = exercise(api, GenerationMode.NEGATIVE, known)
    assert any(status == 422 for _label, status in answered)


def test_create_fire_history_links(
    engine: Engine, api: OpenApiSchema, admin: dict[str, str]
) -> None:
    answered: list[tuple[str, int]] = []

    # The project operations: the links lead from a created project to firing and history
    # (without the token operations, which would revoke the test's own token).
    projects = api.include(
        operation_id=["create_project", "fire", "project_history", "show_project"]
    )

    class Links(projects.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Any) -> None:
            # Every step runs as the owner with the admin token (so the check that a
            # made-up token is refused does not apply here; the stateless test and the
            # access tests do it), and the created project has its owner and sponsor.
            case.headers = {**(case.headers or {}), **admin}
            case.headers.pop("Qiflow-Act-As", None)
            if case.operation.label == "POST /api/v1/projects" and isinstance(case.body, dict):
                case.body.update(owner=OWNER, sponsor=SPONSOR)

        def validate_response(self, response: Any, case: Any, *args: Any, **kw: Any) -> None:
            case.validate_response(
                response,
                excluded_checks=[positive_data_acceptance, ignored_auth],
                recorder=self.recorder,
            )

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)
            answered.append((case.operation.label, response.status_code))

    Links.run(
        settings=settings(
            max_examples=25,
            stateful_step_count=5,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
    )
    ref = "/api/v1/projects/{ref}"
    assert ("POST /api/v1/projects", 201) in answered
    assert (f"POST {ref}/fire", 200) in answered
    assert (f"GET {ref}/history", 200) in answered
    fired = [
        e
        for p in engine.projects()
        for e in engine.history(p.ref)
        if e.type == "project.transitioned"
    ]
    assert fired
