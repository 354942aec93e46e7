"""Who may do what over HTTP: tokens, scopes, acting for a person, separation of duties."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from qiflow import Engine, ManualClock
from qiflow.http import create_app
from tests.helpers import LOW_RISK, OWNER, SPONSOR
from tests.http_support import API, bearer, client, problem, served

PROJECT = {"title": "Reduce missed doses", "owner": OWNER, "sponsor": SPONSOR}


@pytest.fixture
def app_client(engine: Engine) -> TestClient:
    return client(create_app(engine))


def test_no_token_or_an_unknown_one_is_401(engine: Engine, app_client: TestClient) -> None:
    missing = app_client.get(f"{API}/projects")
    problem(missing, 401, "unauthorized")
    assert missing.headers["www-authenticate"].startswith("Bearer")
    for value in ("Bearer nonsense", "Bearer qf_0123456789abcdef_" + "x" * 43, "Basic abc"):
        problem(
            app_client.get(f"{API}/projects", headers={"Authorization": value}), 401, "unauthorized"
        )
    _token, text = engine.create_token(actor=OWNER, scope="read", created_by="tests")
    tampered = text[:-1] + ("A" if text[-1] != "A" else "B")
    problem(
        app_client.get(f"{API}/projects", headers={"Authorization": f"Bearer {tampered}"}),
        401,
        "unauthorized",
    )


def test_scopes(engine: Engine, app_client: TestClient) -> None:
    read, write, admin = (bearer(engine, OWNER, scope) for scope in ("read", "write", "admin"))
    assert app_client.get(f"{API}/projects", headers=read).status_code == 200
    refused = problem(
        app_client.post(f"{API}/projects", json=PROJECT, headers=read), 403, "insufficient-scope"
    )
    assert refused["required_scope"] == "write"
    assert app_client.post(f"{API}/projects", json=PROJECT, headers=write).status_code == 201
    for path in ("/tokens", "/people"):
        problem(app_client.get(f"{API}{path}", headers=write), 403, "insufficient-scope")
        assert app_client.get(f"{API}{path}", headers=admin).status_code == 200
    people = {"people": [{"id": "t.ward", "name": "T Ward", "roles": ["transformation_team"]}]}
    problem(app_client.post(f"{API}/people", json=people, headers=write), 403, "insufficient-scope")
    imported = app_client.post(f"{API}/people", json=people, headers=admin)
    assert imported.json() == {"added": 1, "updated": 0, "deactivated": 0}
    unknown_role = {"people": [{"id": "x.y", "name": "X", "roles": ["wizard"]}]}
    problem(
        app_client.post(f"{API}/people", json=unknown_role, headers=admin), 422, "validation-error"
    )


def test_revoked_and_expired_tokens_are_refused(
    engine: Engine, clock: ManualClock, app_client: TestClient
) -> None:
    admin = bearer(engine, "admin.person", "admin")
    created = app_client.post(
        f"{API}/tokens", json={"actor": OWNER, "scope": "read", "expires": "P1D"}, headers=admin
    )
    assert created.status_code == 201
    made = created.json()
    assert created.headers["location"] == f"{API}/tokens/{made['id']}"
    assert made["token"].startswith("qf_")
    theirs = {"Authorization": f"Bearer {made['token']}"}
    assert app_client.get(f"{API}/projects", headers=theirs).status_code == 200
    listed = app_client.get(f"{API}/tokens", headers=admin).json()
    assert made["id"] in [t["id"] for t in listed]
    assert all("token" not in t and made["token"] not in str(t) for t in listed)
    clock.advance(timedelta(days=1, seconds=1))
    problem(app_client.get(f"{API}/projects", headers=theirs), 401, "unauthorized")

    other = bearer(engine, OWNER, "read")
    other_id = engine.tokens()[-1].id
    assert app_client.get(f"{API}/projects", headers=other).status_code == 200
    revoked = app_client.delete(f"{API}/tokens/{other_id}", headers=admin)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    problem(app_client.get(f"{API}/projects", headers=other), 401, "unauthorized")
    problem(app_client.delete(f"{API}/tokens/nope", headers=admin), 404, "not-found")


def test_act_as_needs_the_grant_and_records_the_service(
    engine: Engine, app_client: TestClient
) -> None:
    plain = {**bearer(engine, "portal", "write"), "Qiflow-Act-As": OWNER}
    problem(
        app_client.post(f"{API}/projects", json=PROJECT, headers=plain), 403, "act-as-not-granted"
    )
    assert engine.projects() == []
    service = {**bearer(engine, "portal", "write", act_as=True), "Qiflow-Act-As": OWNER}
    created = app_client.post(f"{API}/projects", json=PROJECT, headers=service)
    assert created.status_code == 201
    ref = created.json()["ref"]
    fired = app_client.post(
        f"{API}/projects/{ref}/fire",
        json={"trigger": "diagnose"},
        headers={**service, "If-Match": '"1"'},
    )
    assert fired.status_code == 200
    events = engine.history(ref)
    assert [(e.actor, e.payload["via"]) for e in events] == [(OWNER, "portal"), (OWNER, "portal")]
    # Acting as someone who may not fire is refused like that person would be.
    stranger = {**service, "Qiflow-Act-As": "someone.else", "If-Match": '"2"'}
    problem(
        app_client.post(f"{API}/projects/{ref}/fire", json={"trigger": "pause"}, headers=stranger),
        403,
        "permission-denied",
    )


def test_separation_of_duties_through_http(engine: Engine, app_client: TestClient) -> None:
    owner, _sponsor = bearer(engine, OWNER), bearer(engine, SPONSOR)
    service = bearer(engine, "portal", "write", act_as=True)
    ref = app_client.post(f"{API}/projects", json=PROJECT, headers=owner).json()["ref"]
    requested = app_client.post(
        f"{API}/projects/{ref}/signoffs/qeia", json={"form": LOW_RISK}, headers=owner
    )
    assert requested.status_code == 200
    decision = {"approve": True}
    url = f"{API}/projects/{ref}/signoffs/qeia/decisions"
    problem(app_client.post(url, json=decision, headers=owner), 403, "permission-denied")
    problem(
        app_client.post(url, json=decision, headers={**service, "Qiflow-Act-As": OWNER}),
        403,
        "permission-denied",
    )
    approved = app_client.post(url, json=decision, headers={**service, "Qiflow-Act-As": SPONSOR})
    assert approved.status_code == 200
    status = app_client.get(f"{API}/projects/{ref}/gates", headers=owner).json()
    assert status == [{"gate": "qeia", "passed": True, "awaiting": []}]
    refusals = [e for e in engine.history(ref) if e.type == "signoff.refused"]
    assert [e.actor for e in refusals] == [OWNER, OWNER]


def test_failed_sign_ins_are_rate_limited_per_client(engine: Engine) -> None:
    app = create_app(engine, auth_failures=3, auth_window=60)
    c, elsewhere = client(app), TestClient(app, client=("10.0.0.2", 50000))
    good = bearer(engine, OWNER, "read")
    for _ in range(3):
        wrong = {"Authorization": "Bearer wrong"}
        problem(c.get(f"{API}/projects", headers=wrong), 401, "unauthorized")
    limited = c.get(f"{API}/projects", headers=good)
    assert problem(limited, 429, "too-many-requests")["retry_after"] >= 1
    assert int(limited.headers["retry-after"]) >= 1
    assert elsewhere.get(f"{API}/projects", headers=good).status_code == 200


def test_logs_carry_no_token_and_no_person(
    engine: Engine, app_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    _token, text = engine.create_token(actor="dr.secret", scope="admin", created_by="tests")
    headers = {"Authorization": f"Bearer {text}"}
    with caplog.at_level(logging.INFO, logger="qiflow"):
        created = app_client.post(
            f"{API}/projects", json={"title": "t", "owner": "dr.secret"}, headers=headers
        )
        app_client.get(f"{API}/projects?owner=dr.secret", headers=headers)
        app_client.get(f"{API}/people/dr.secret", headers=headers)
        app_client.get(f"{API}/projects", headers={"Authorization": f"Bearer {text}x"})
        app_client.post(
            f"{API}/tokens", json={"actor": "dr.secret", "scope": "read"}, headers=headers
        )
    logs = [
        {**getattr(r, "qiflow", {}), "message": r.getMessage()}
        for r in caplog.records
        if hasattr(r, "qiflow")
    ]
    assert created.status_code == 201
    assert [e["operation"] for e in logs if e["event"] == "request"][:3] == [
        "create_project",
        "list_projects",
        "show_person",
    ]
    http_logs = [e for e in logs if e["event"] in ("request", "token created")]
    assert http_logs
    for entry in http_logs:
        assert "dr.secret" not in str(entry)
        assert text[10:] not in str(entry)


def test_cors_is_off_unless_origins_are_configured(engine: Engine) -> None:
    preflight = {
        "Origin": "https://portal.trust.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization, If-Match",
    }
    closed = client(create_app(engine)).options(f"{API}/projects", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    opened = client(create_app(engine, cors_origins=["https://portal.trust.example"])).options(
        f"{API}/projects", headers=preflight
    )
    assert opened.headers["access-control-allow-origin"] == "https://portal.trust.example"


def test_two_clients_with_the_same_if_match_one_wins(engine: Engine) -> None:
    owner = bearer(engine, OWNER)
    ref = engine.create_project("Race", actor=OWNER, owner=OWNER, sponsor=SPONSOR).ref
    start = threading.Barrier(2)
    answers: list[int] = []

    def fire(base: str, trigger: str) -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            start.wait(timeout=10)
            response = http.post(
                f"{API}/projects/{ref}/fire",
                json={"trigger": trigger},
                headers={**owner, "If-Match": '"1"'},
            )
            answers.append(response.status_code)

    with served(engine) as base:
        threads = [threading.Thread(target=fire, args=(base, t)) for t in ("diagnose", "pause")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert sorted(answers) == [200, 412]
    moved = [e for e in engine.history(ref) if e.type == "project.transitioned"]
    assert len(moved) == 1
    assert engine.get(ref).version == 2
