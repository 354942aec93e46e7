"""The HTTP API end to end over a real engine (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from qiflow import Engine, ManualClock
from qiflow.http import create_app
from qiflow.http.commands import KEY_EXPIRY, KEY_LEASE, fingerprint
from tests.helpers import LOW_RISK, OWNER, SPONSOR
from tests.http_support import API, BrokenRoles, Turnstile, bearer, client, problem, served


@pytest.fixture
def app_client(engine: Engine) -> TestClient:
    return client(create_app(engine))


@pytest.fixture
def owner(engine: Engine) -> dict[str, str]:
    return bearer(engine, OWNER)


def create(c: TestClient, headers: dict[str, str], title: str = "Reduce missed doses") -> dict:
    response = c.post(
        f"{API}/projects",
        json={"title": title, "owner": OWNER, "sponsor": SPONSOR},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_plugin_fields_are_given_at_creation(app_client: TestClient, owner: dict) -> None:
    """The installed qiflow-caldicott plugin declares uses_patient_identifiable_data."""
    body = {"title": "Discharge letters", "owner": OWNER, "sponsor": SPONSOR}
    created = app_client.post(
        f"{API}/projects",
        json={**body, "fields": {"uses_patient_identifiable_data": True}},
        headers=owner,
    )
    assert created.status_code == 201, created.text
    assert created.json()["fields"] == {"uses_patient_identifiable_data": True}
    refused = app_client.post(
        f"{API}/projects", json={**body, "fields": {"colour": "red"}}, headers=owner
    )
    assert refused.status_code == 422, refused.text
    assert "unknown project field 'colour'" in refused.text


def test_whole_lifecycle_over_http(engine: Engine, app_client: TestClient, owner: dict) -> None:
    c = app_client
    sponsor = bearer(engine, SPONSOR)
    created = c.post(
        f"{API}/projects",
        json={"title": "Reduce missed doses", "owner": OWNER, "sponsor": SPONSOR},
        headers=owner,
    )
    assert created.status_code == 201
    ref = created.json()["ref"]
    assert created.headers["location"] == f"{API}/projects/{ref}"
    assert created.headers["etag"] == '"1"'
    shown = c.get(created.headers["location"], headers=owner)
    assert shown.status_code == 200
    assert shown.headers["etag"] == '"1"'
    assert {t["trigger"] for t in shown.json()["triggers"]} >= {"diagnose", "pause"}

    def fire(trigger: str, etag: str, **data: object) -> str:
        response = c.post(
            f"{API}/projects/{ref}/fire",
            json={"trigger": trigger, "data": data},
            headers={**owner, "If-Match": etag},
        )
        assert response.status_code == 200, response.text
        return response.headers["etag"]

    etag = fire("diagnose", '"1"')
    updated = c.patch(
        f"{API}/projects/{ref}",
        json={"aim": "Fewer missed doses", "quality_objectives": ["Safer medicines"]},
        headers={**owner, "If-Match": etag},
    )
    assert updated.status_code == 200
    assert updated.json()["aim"] == "Fewer missed doses"
    primary = c.post(
        f"{API}/projects/{ref}/drivers",
        json={"title": "Reliable observations", "kind": "primary"},
        headers=owner,
    )
    assert primary.status_code == 201
    driver = primary.json()["nodes"][0]
    idea = c.post(
        f"{API}/projects/{ref}/drivers",
        json={"title": "Observation board", "kind": "idea", "under": [driver]},
        headers={**owner, "If-Match": primary.headers["etag"]},
    )
    assert idea.status_code == 201
    idea_id = idea.json()["nodes"][0]
    assert c.get(idea.headers["location"], headers=owner).json()["kind"] == "idea"
    diagram = c.get(f"{API}/projects/{ref}/drivers", headers=owner).json()
    assert [(n["id"], n["parents"]) for n in diagram["nodes"]] == [
        (driver, []),
        (idea_id, [driver]),
    ]
    etag = fire("plan_measurement", idea.headers["etag"])
    tested = c.post(f"{API}/projects/{ref}/cycles", json={"tests": [idea_id]}, headers=owner)
    assert tested.status_code == 200
    joined = c.post(
        f"{API}/projects/{ref}/team", json={"person": SPONSOR, "role": "member"}, headers=owner
    )
    assert joined.status_code == 200, joined.text
    assert c.get(f"{API}/projects/{ref}/team", headers=owner).json() == [
        {"person": SPONSOR, "role": "member"}
    ]
    for name, kind in (("Missed doses", "outcome"), ("Clinic time", "balancing")):
        added = c.post(
            f"{API}/projects/{ref}/measures",
            json={"name": name, "kind": kind, "unit": "%", "direction": "decrease"},
            headers=owner,
        )
        assert added.status_code == 201
        measure = c.get(added.headers["location"], headers=owner).json()
        assert measure["name"] == name
    measure_url = added.headers["location"]
    point = c.post(
        f"{measure_url}/data-points",
        json={"value": 12.5, "note": "week 1"},
        headers={**owner, "If-Match": added.headers["etag"]},
    )
    assert point.status_code == 200
    points = c.get(f"{measure_url}/data-points", headers=owner).json()
    assert [(p["value"], p["note"]) for p in points] == [(12.5, "week 1")]
    requested = c.post(
        f"{API}/projects/{ref}/signoffs/qeia", json={"form": LOW_RISK}, headers=owner
    )
    assert requested.status_code == 200
    gates = c.get(f"{API}/projects/{ref}/gates", headers=owner).json()
    assert gates == [{"gate": "qeia", "passed": False, "awaiting": gates[0]["awaiting"]}]
    assert gates[0]["awaiting"]
    decided = c.post(
        f"{API}/projects/{ref}/signoffs/qeia/decisions", json={"approve": True}, headers=sponsor
    )
    assert decided.status_code == 200
    rounds = c.get(f"{API}/projects/{ref}/signoffs", headers=owner).json()
    assert [(r["status"], r["decisions"][0]["approver"]) for r in rounds] == [("passed", SPONSOR)]
    assert decided.headers["etag"] == f'"{engine.get(ref).version}"'
    # risks_assessed (workflow version 2); the HTTP API has no risk routes yet
    declared = engine.declare_no_significant_risks(ref, actor=OWNER)
    etag = fire("start_testing", f'"{declared.version}"')
    for body in ({"plan": "Reminders", "prediction": "Halves"}, {"study": "Fell by a third"}):
        assert c.post(f"{API}/projects/{ref}/cycles", json=body, headers=owner).status_code == 200
    cycles = c.get(f"{API}/projects/{ref}/cycles", headers=owner).json()
    assert cycles[-1]["study"] == "Fell by a third"
    review = c.post(
        f"{API}/projects/{ref}/reviews",
        json={"notes": "On track", "progress_score": 2.5},
        headers=owner,
    )
    assert review.status_code == 200
    etag = fire("adopt", review.headers["etag"])
    history = c.get(f"{API}/projects/{ref}/history?limit=500", headers=owner).json()
    transitions = [e["payload"]["trigger"] for e in history if e["type"] == "project.transitioned"]
    assert transitions == ["diagnose", "plan_measurement", "start_testing", "adopt"]
    assert [e["pos"] for e in history] == list(range(1, len(history) + 1))
    assert c.get(f"{API}/audit", headers=owner).json() == {"verified": True, "breaks": []}
    adopted = engine.get(ref)
    assert adopted.state == "adopted"
    assert etag == f'"{adopted.version}"'
    charter = c.get(f"{API}/projects/{ref}/charter", headers=owner).json()
    assert charter["project"]["state"] == "adopted"
    assert [m["name"] for m in charter["measures"]] == ["Missed doses", "Clinic time"]
    tried = c.get(f"{API}/projects/{ref}/drivers/{idea_id}/history", headers=owner).json()
    assert [cycle["number"] for cycle in tried["cycles"]] == [1]


def test_fire_and_update_need_if_match(app_client: TestClient, owner: dict) -> None:
    ref = create(app_client, owner)["ref"]
    fired = app_client.post(
        f"{API}/projects/{ref}/fire", json={"trigger": "diagnose"}, headers=owner
    )
    problem(fired, 428, "precondition-required")
    patched = app_client.patch(f"{API}/projects/{ref}", json={"aim": "x"}, headers=owner)
    problem(patched, 428, "precondition-required")
    stale = app_client.post(
        f"{API}/projects/{ref}/fire",
        json={"trigger": "diagnose"},
        headers={**owner, "If-Match": '"7"'},
    )
    assert problem(stale, 412, "precondition-failed")["current_etag"] == '"1"'
    weak = app_client.patch(
        f"{API}/projects/{ref}", json={"aim": "x"}, headers={**owner, "If-Match": 'W/"1"'}
    )
    problem(weak, 412, "precondition-failed")
    listed = app_client.patch(
        f"{API}/projects/{ref}", json={"aim": "x"}, headers={**owner, "If-Match": '"0", "1"'}
    )
    assert listed.status_code == 200
    assert listed.headers["etag"] == '"2"'
    star = app_client.patch(
        f"{API}/projects/{ref}", json={"aim": "y"}, headers={**owner, "If-Match": "*"}
    )
    assert star.status_code == 200
    assert star.headers["etag"] == '"3"'


def test_appends_check_if_match_only_when_given(app_client: TestClient, owner: dict) -> None:
    ref = create(app_client, owner)["ref"]
    body = {"notes": "fine"}
    assert (
        app_client.post(f"{API}/projects/{ref}/reviews", json=body, headers=owner).status_code
        == 200
    )
    stale = app_client.post(
        f"{API}/projects/{ref}/reviews", json=body, headers={**owner, "If-Match": '"1"'}
    )
    problem(stale, 412, "precondition-failed")
    fresh = app_client.post(
        f"{API}/projects/{ref}/reviews", json=body, headers={**owner, "If-Match": '"2"'}
    )
    assert fresh.status_code == 200
    assert fresh.headers["etag"] == '"3"'


def test_domain_errors_are_problems(app_client: TestClient, owner: dict) -> None:
    c = app_client
    ref = create(c, owner)["ref"]
    problem(c.get(f"{API}/projects/QI-9999", headers=owner), 404, "unknown-project")
    invalid = c.post(
        f"{API}/projects/{ref}/fire",
        json={"trigger": "adopt"},
        headers={**owner, "If-Match": '"1"'},
    )
    assert set(problem(invalid, 409, "invalid-transition")["allowed"]) >= {"diagnose", "pause"}
    c.post(
        f"{API}/projects/{ref}/fire",
        json={"trigger": "diagnose"},
        headers={**owner, "If-Match": '"1"'},
    )
    blocked = c.post(
        f"{API}/projects/{ref}/fire",
        json={"trigger": "plan_measurement"},
        headers={**owner, "If-Match": '"2"'},
    )
    unmet = problem(blocked, 409, "guard-failed")["unmet"]
    assert len(unmet) == 3
    assert any("aim" in r for r in unmet)
    assert any("quality" in r for r in unmet)
    assert any("change idea" in r for r in unmet)
    bad_score = c.post(f"{API}/projects/{ref}/reviews", json={"progress_score": 0.7}, headers=owner)
    problem(bad_score, 422, "invalid-request")
    reject = c.post(
        f"{API}/projects/{ref}/signoffs/qeia/decisions", json={"approve": False}, headers=owner
    )
    problem(reject, 422, "validation-error")
    unknown_workflow = c.post(
        f"{API}/projects", json={"title": "x", "workflow": "nope"}, headers=owner
    )
    problem(unknown_workflow, 422, "workflow-error")


def test_framework_errors_are_problems(app_client: TestClient, owner: dict) -> None:
    c = app_client
    problem(c.get("/nothing-here"), 404, "not-found")
    problem(c.get(f"{API}/nothing-here", headers=owner), 404, "not-found")
    not_allowed = problem(c.delete(f"{API}/projects", headers=owner), 405, "method-not-allowed")
    assert not_allowed["allowed"] == ["GET", "POST"]
    invalid = problem(
        c.post(f"{API}/projects", json={"titel": "typo"}, headers=owner), 422, "invalid-request"
    )
    assert {tuple(e["location"]) for e in invalid["errors"]} == {
        ("body", "title"),
        ("body", "titel"),
    }
    problem(
        c.post(
            f"{API}/projects",
            content=b"{not json",
            headers={**owner, "Content-Type": "application/json"},
        ),
        422,
        "invalid-request",
    )
    problem(c.get(f"{API}/projects?limit=0", headers=owner), 422, "invalid-request")
    problem(c.get(f"{API}/projects?owner=a%00b", headers=owner), 422, "invalid-request")
    nul = c.post(f"{API}/projects", json={"title": "a\x00b"}, headers=owner)
    problem(nul, 422, "invalid-request")
    problem(c.get(f"{API}/projects?cursor=forged", headers=owner), 422, "invalid-request")


def test_a_failing_plugin_is_a_500_of_its_own_type(db_url: str) -> None:
    engine = Engine(db_url, plugins=[BrokenRoles()])
    try:
        c = client(create_app(engine))
        headers = bearer(engine, OWNER)
        ref = create(c, headers)["ref"]
        shown = c.get(f"{API}/projects/{ref}", headers=headers)
        body = problem(shown, 500, "plugin-failed")
        assert body["plugin"] == "BrokenRoles"
        assert "RuntimeError" in body["detail"]
        assert "secret detail" not in shown.text
    finally:
        engine.close()


def test_lists_page_with_link_headers(app_client: TestClient, owner: dict) -> None:
    refs = [create(app_client, owner, f"Project {i}")["ref"] for i in range(5)]
    seen, url = [], f"{API}/projects?limit=2"
    while url:
        response = app_client.get(url, headers=owner)
        seen += [p["ref"] for p in response.json()]
        link = response.headers.get("link")
        assert len(response.json()) <= 2
        url = link[1 : link.index(">")] if link else ""
        if link:
            assert link.endswith('rel="next"')
    assert seen == refs
    filtered = app_client.get(f"{API}/projects?state=idea&owner={OWNER}", headers=owner).json()
    assert [p["ref"] for p in filtered] == refs


def test_idempotency_key_replays_first_response(
    engine: Engine, app_client: TestClient, owner: dict
) -> None:
    c = app_client
    first = c.post(
        f"{API}/projects", json={"title": "Once"}, headers={**owner, "Idempotency-Key": "k-1"}
    )
    again = c.post(
        f"{API}/projects", json={"title": "Once"}, headers={**owner, "Idempotency-Key": '"k-1"'}
    )
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert len(engine.projects()) == 1
    other = c.post(
        f"{API}/projects", json={"title": "Twice"}, headers={**owner, "Idempotency-Key": "k-1"}
    )
    problem(other, 422, "idempotency-key-reused")
    # Another token's identical key is its own request.
    someone = bearer(engine, SPONSOR)
    theirs = c.post(
        f"{API}/projects", json={"title": "Once"}, headers={**someone, "Idempotency-Key": "k-1"}
    )
    assert theirs.status_code == 201
    assert theirs.json()["ref"] != first.json()["ref"]
    assert len(engine.projects()) == 2


def test_a_repeat_is_recognised_before_if_match(app_client: TestClient, owner: dict) -> None:
    c = app_client
    ref = create(c, owner)["ref"]
    headers = {**owner, "If-Match": '"1"', "Idempotency-Key": "fire-1"}
    first = c.post(f"{API}/projects/{ref}/fire", json={"trigger": "diagnose"}, headers=headers)
    assert first.status_code == 200
    assert first.headers["etag"] == '"2"'
    c.patch(f"{API}/projects/{ref}", json={"aim": "moved on"}, headers={**owner, "If-Match": '"2"'})
    repeat = c.post(f"{API}/projects/{ref}/fire", json={"trigger": "diagnose"}, headers=headers)
    assert repeat.status_code == 200
    assert repeat.json() == first.json()
    assert repeat.headers["etag"] == '"2"'
    history = c.get(f"{API}/projects/{ref}/history", headers=owner).json()
    assert [e["type"] for e in history].count("project.transitioned") == 1


def test_refusals_are_replayed_but_precondition_failures_are_not(
    engine: Engine, app_client: TestClient, owner: dict
) -> None:
    c = app_client
    ref = create(c, owner)["ref"]
    stale = {**owner, "If-Match": '"9"', "Idempotency-Key": "retry-me"}
    problem(
        c.post(f"{API}/projects/{ref}/fire", json={"trigger": "diagnose"}, headers=stale),
        412,
        "precondition-failed",
    )
    fixed = {**stale, "If-Match": '"1"'}
    assert (
        c.post(
            f"{API}/projects/{ref}/fire", json={"trigger": "diagnose"}, headers=fixed
        ).status_code
        == 200
    )
    refused = {**owner, "If-Match": '"2"', "Idempotency-Key": "blocked"}
    first = c.post(
        f"{API}/projects/{ref}/fire", json={"trigger": "plan_measurement"}, headers=refused
    )
    problem(first, 409, "guard-failed")
    engine.update_project(ref, actor=OWNER, aim="a", quality_objectives=["q"])
    again = c.post(
        f"{API}/projects/{ref}/fire", json={"trigger": "plan_measurement"}, headers=refused
    )
    assert again.status_code == 409
    assert again.json() == first.json()


def test_a_key_held_by_another_process_is_409_until_its_lease_ends(
    engine: Engine, clock: ManualClock, app_client: TestClient
) -> None:
    token, text = engine.create_token(actor=OWNER, scope="write", created_by="tests")
    headers = {"Authorization": f"Bearer {text}", "Idempotency-Key": "busy"}
    body = {"title": "Held"}
    # Another process claimed the same request under the key, then died before answering.
    held = engine.claim_request(
        token.id,
        "busy",
        fingerprint("POST", f"{API}/projects", body),
        lease=KEY_LEASE,
        expiry=KEY_EXPIRY,
    )
    assert held.outcome == "new"
    problem(
        app_client.post(f"{API}/projects", json=body, headers=headers),
        409,
        "idempotency-key-in-flight",
    )
    assert engine.projects() == []
    clock.advance(KEY_LEASE + timedelta(seconds=1))
    taken_over = app_client.post(f"{API}/projects", json=body, headers=headers)
    assert taken_over.status_code == 201
    replay = app_client.post(f"{API}/projects", json=body, headers=headers)
    assert replay.json() == taken_over.json()
    assert len(engine.projects()) == 1


@pytest.mark.postgres
def test_a_request_in_flight_makes_its_twin_409(pg_url: str) -> None:
    turnstile = Turnstile()
    engine = Engine(pg_url, plugins=[turnstile])
    try:
        headers = bearer(engine, OWNER)
        ref = engine.create_project("Slow", actor=OWNER, owner=OWNER, sponsor=SPONSOR).ref
        request = {
            "json": {"trigger": "diagnose"},
            "headers": {**headers, "If-Match": '"1"', "Idempotency-Key": "slow"},
        }
        url = f"{API}/projects/{ref}/fire"
        with served(engine) as base, httpx.Client(base_url=base, timeout=30) as http:
            answers: list[httpx.Response] = []
            turnstile.armed = True
            first = threading.Thread(target=lambda: answers.append(http.post(url, **request)))
            first.start()
            assert turnstile.entered.wait(timeout=20)
            problem(http.post(url, **request), 409, "idempotency-key-in-flight")
            turnstile.released.set()
            first.join(timeout=30)
            assert answers[0].status_code == 200, answers[0].text
            replay = http.post(url, **request)
            assert replay.status_code == 200
            assert replay.json() == answers[0].json()
        assert engine.get(ref).version == 2
    finally:
        engine.close()


def test_keys_expire_after_the_published_time(
    engine: Engine, clock: ManualClock, app_client: TestClient, owner: dict
) -> None:
    headers = {**owner, "Idempotency-Key": "daily"}
    first = app_client.post(f"{API}/projects", json={"title": "A"}, headers=headers)
    clock.advance(timedelta(hours=23))
    assert (
        app_client.post(f"{API}/projects", json={"title": "A"}, headers=headers).json()
        == first.json()
    )
    clock.advance(timedelta(hours=2))
    later = app_client.post(f"{API}/projects", json={"title": "A"}, headers=headers)
    assert later.status_code == 201
    assert later.json()["ref"] != first.json()["ref"]


def test_event_feed_reads_every_event_and_long_polls(
    engine: Engine, app_client: TestClient, owner: dict
) -> None:
    c = app_client
    ref = create(c, owner)["ref"]
    c.post(
        f"{API}/projects/{ref}/fire",
        json={"trigger": "diagnose"},
        headers={**owner, "If-Match": '"1"'},
    )
    feed = c.get(f"{API}/events?after=0&limit=1", headers=owner).json()
    assert [e["type"] for e in feed["events"]] == ["project.created"]
    rest = c.get(f"{API}/events?after={feed['next_after']}", headers=owner).json()
    assert [e["type"] for e in rest["events"]] == ["project.transitioned"]
    cursor = rest["next_after"]
    started = time.monotonic()
    empty = c.get(f"{API}/events?after={cursor}&wait=0.6", headers=owner).json()
    assert empty == {"events": [], "next_after": cursor}
    assert time.monotonic() - started >= 0.5

    def later() -> None:
        time.sleep(0.4)
        engine.record_review(ref, actor=OWNER, notes="while you waited")

    writer = threading.Thread(target=later)
    writer.start()
    started = time.monotonic()
    woken = c.get(f"{API}/events?after={cursor}&wait=30", headers=owner).json()
    writer.join()
    assert [e["type"] for e in woken["events"]] == ["review.recorded"]
    assert 0.3 < time.monotonic() - started < 10


def test_health_ready_and_offline_docs(app_client: TestClient) -> None:
    assert app_client.get("/health").json() == {"status": "ok"}
    assert app_client.get("/ready").json() == {"status": "ready", "detail": None}
    spec = app_client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    page = app_client.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    assert "http://" not in page.text
    assert "https://" not in page.text
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"):
        fetched = app_client.get(asset)
        assert fetched.status_code == 200
        assert len(fetched.content) > 10_000


def test_ready_is_503_when_the_schema_is_behind(tmp_path) -> None:
    from sqlalchemy import create_engine

    from qiflow.store.migrate import downgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = Engine(url, migrate=True)
    try:
        sql = create_engine(url)
        downgrade(sql, "0003")
        sql.dispose()
        response = client(create_app(engine)).get("/ready")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable"
        assert "qiflow init" in body["detail"]
        assert str(tmp_path) not in response.text
    finally:
        engine.close()


@pytest.mark.postgres
def test_the_feed_never_skips_an_event_that_commits_late(pg_url: str) -> None:
    """A transaction takes a lower sequence number, a later one commits first: the feed
    waits for the first rather than hand out the second and skip the first for ever."""
    engine = Engine(pg_url)
    try:
        slow = engine.create_project("Slow", actor=OWNER, owner=OWNER, sponsor=SPONSOR)
        fast = engine.create_project("Fast", actor=OWNER, owner=OWNER, sponsor=SPONSOR)
        cursor = engine.events_after(0, limit=100)[-1].seq
        with psycopg.connect(pg_url.replace("postgresql+psycopg", "postgresql")) as late:
            late.execute(
                "INSERT INTO qiflow_event (project_id, pos, version, type, actor, payload,"
                " created_at, prev_hash, hash)"
                " VALUES (%s, 99, 99, 'test.late', 'x', '{}', now(), 'p', 'h')",
                (slow.id,),
            )
            engine.record_review(fast.ref, actor=OWNER, notes="commits first")
            read: list[list[str]] = []
            reader = threading.Thread(
                target=lambda: read.append([e.type for e in engine.events_after(cursor)])
            )
            reader.start()
            reader.join(timeout=1)
            assert reader.is_alive(), "the feed answered while an earlier event was uncommitted"
            late.commit()
            reader.join(timeout=20)
        assert read == [["test.late", "review.recorded"]]
    finally:
        engine.close()
