"""The web pages over a real engine (both backends): sign-in, the pages, forms that act,
and their defences (CSRF, scopes, roles, the proxy header, escaping)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from qiflow import Engine, Person, hookimpl
from qiflow.config import WebSettings, load_settings
from qiflow.exceptions import ConfigError
from qiflow.testing import ManualClock
from tests.helpers import LOW_RISK, OWNER, SPONSOR, drive_to, new_project, to_measurement_plan
from tests.http_support import served_app
from tests.web_support import csrf_of, post_form, signed_in, site, token

HOSTILE = '<script>alert("x")</script><b>bold</b>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;"


@pytest.mark.parametrize("path", ["/", "/projects/QI-0001", "/sign-out"])
def test_signed_out_pages_redirect_to_sign_in(engine: Engine, path: str) -> None:
    client = TestClient(site(engine))
    answer = client.get(path, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/sign-in?next=")


def test_sign_in_sets_a_signed_http_only_same_site_cookie(engine: Engine) -> None:
    client = TestClient(site(engine))
    form = client.get("/sign-in")
    answer = client.post(
        "/sign-in",
        data={"csrf_token": csrf_of(form.text), "token": token(engine, OWNER), "next": "/x"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/x"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert OWNER not in answer.headers["set-cookie"]  # only the token's id, signed
    page = client.get("/")
    assert page.status_code == 200
    assert f"{OWNER}" in page.text


def test_a_wrong_token_is_refused_with_a_reason(engine: Engine) -> None:
    client = TestClient(site(engine))
    form = client.get("/sign-in")
    answer = client.post(
        "/sign-in", data={"csrf_token": csrf_of(form.text), "token": "qf_nonsense", "next": "/"}
    )
    assert "unknown, revoked or expired" in answer.text
    assert client.get("/", follow_redirects=False).status_code == 303


def test_sign_in_goes_back_only_to_this_site(engine: Engine) -> None:
    client = TestClient(site(engine))
    form = client.get("/sign-in")
    answer = client.post(
        "/sign-in",
        data={
            "csrf_token": csrf_of(form.text),
            "token": token(engine, OWNER),
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/"


def test_a_revoked_token_signs_its_person_out(engine: Engine) -> None:
    client = signed_in(site(engine), engine, OWNER)
    for stored in engine.tokens():
        engine.revoke_token(stored.id, actor="admin")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_portfolio_lists_projects_by_stage_with_filters(engine: Engine) -> None:
    drive_to(engine, "diagnosis")
    other = engine.create_project(
        "Faster discharge letters", actor="amy", owner="amy", sponsor=SPONSOR, directorate="Surgery"
    )
    client = signed_in(site(engine), engine, OWNER)
    page = client.get("/").text
    assert 'id="stage-idea"' in page
    assert 'id="stage-diagnosis"' in page
    assert page.index('id="stage-idea"') < page.index('id="stage-diagnosis"')
    assert "QI-0001: Reduce missed doses" in page
    filtered = client.get("/", params={"directorate": "Surgery"}).text
    assert f"{other.ref}: Faster discharge letters" in filtered
    assert "Reduce missed doses" not in filtered
    by_owner = client.get("/", params={"owner": "amy"}).text
    assert "Reduce missed doses" not in by_owner
    assert "Faster discharge letters" in by_owner


def test_project_page_shows_what_may_fire_and_why_not(engine: Engine) -> None:
    project = to_measurement_plan(engine, new_project(engine))
    client = signed_in(site(engine), engine, OWNER)
    page = client.get(f"/projects/{project.ref}").text
    assert 'id="fire-pause"' in page  # allowed: a button
    assert 'id="fire-start_testing"' not in page
    blocked = page[page.index('id="blocked-start_testing"') :]
    for reason in (
        "no outcome measure: add one (measure add --kind outcome)",
        "QEIA: not requested yet",
    ):
        assert reason in blocked
    assert "Audit chain verified" in page


def test_a_form_acts_and_redirects_to_the_new_state(engine: Engine) -> None:
    project = new_project(engine)
    client = signed_in(site(engine), engine, OWNER)
    page = f"/projects/{project.ref}"
    html = client.get(page).text
    answer = client.post(
        f"{page}/fire",
        data={"csrf_token": csrf_of(html), "trigger": "diagnose", "version": "1"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == page
    assert engine.get(project.ref).state == "diagnosis"
    shown = client.get(page).text
    assert '<strong class="nhsuk-tag" id="state">Diagnosis</strong>' in shown
    assert "Diagnose: now diagnosis" in shown  # the message, shown once
    assert "Diagnose: now diagnosis" not in client.get(page).text


@pytest.mark.parametrize("sent", [None, "", "forged"])
def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    engine: Engine, sent: str | None
) -> None:
    project = new_project(engine)
    client = signed_in(site(engine), engine, OWNER)
    data = {"trigger": "diagnose"} | ({"csrf_token": sent} if sent is not None else {})
    answer = client.post(f"/projects/{project.ref}/fire", data=data)
    assert answer.status_code == 403
    assert "Nothing was changed" in answer.text
    after = engine.get(project.ref)
    assert (after.state, after.version) == ("idea", project.version)
    created = client.post(
        "/projects", data={"title": "Sneaky"} | ({"csrf_token": sent} if sent is not None else {})
    )
    assert created.status_code == 403
    assert [p.ref for p in engine.projects()] == [project.ref]


def test_a_csrf_token_of_another_session_is_refused(engine: Engine) -> None:
    project = new_project(engine)
    app = site(engine)
    mine, theirs = signed_in(app, engine, OWNER), signed_in(app, engine, OWNER)
    their_token = csrf_of(theirs.get("/").text)
    answer = mine.post(
        f"/projects/{project.ref}/fire", data={"csrf_token": their_token, "trigger": "diagnose"}
    )
    assert answer.status_code == 403
    assert engine.get(project.ref).state == "idea"


def test_a_read_token_may_look_but_not_act(engine: Engine) -> None:
    project = new_project(engine)
    client = signed_in(site(engine), engine, OWNER, scope="read")
    page = f"/projects/{project.ref}"
    html = client.get(page).text
    assert 'id="fire-diagnose"' not in html
    answer = client.post(f"{page}/fire", data={"csrf_token": csrf_of(html), "trigger": "diagnose"})
    assert answer.status_code == 403
    assert "may read but not change anything" in answer.text
    assert engine.get(project.ref).version == project.version


def test_a_user_without_the_role_is_refused_in_the_rules_words(engine: Engine) -> None:
    project = new_project(engine)
    client = signed_in(site(engine), engine, "mallory")
    page = f"/projects/{project.ref}"
    shown = post_form(client, page, f"{page}/fire", {"trigger": "diagnose"})
    assert shown.status_code == 200
    refusal = shown.text[shown.text.index('id="refusal"') :]
    assert "mallory" in refusal
    assert "owner" in refusal
    assert engine.get(project.ref).version == project.version


def test_separation_of_duties_holds_through_the_forms(engine: Engine) -> None:
    project = to_measurement_plan(engine, new_project(engine))
    client = signed_in(site(engine), engine, OWNER)
    page = f"/projects/{project.ref}"
    scores = {
        f"{k}-{d}": "2"
        for k in ("impact", "likelihood")
        for d in (
            "patient_safety",
            "clinical_effectiveness",
            "patient_experience",
            "equality",
            "workforce",
            "finance",
        )
    }
    post_form(client, page, f"{page}/signoffs/qeia", scores)
    assert engine.signoffs(project.ref)[-1].status == "pending"
    shown = post_form(client, page, f"{page}/signoffs/qeia/decision", {"decision": "approve"})
    refusal = shown.text[shown.text.index('id="refusal"') :]
    assert "owns the project and cannot approve its own QEIA stage 1" in refusal
    assert engine.signoffs(project.ref)[-1].status == "pending"
    sponsor = signed_in(site(engine), engine, SPONSOR)
    post_form(sponsor, page, f"{page}/signoffs/qeia/decision", {"decision": "approve"})
    assert engine.signoffs(project.ref)[-1].status == "passed"


def test_html_in_titles_is_escaped_everywhere(engine: Engine) -> None:
    project = engine.create_project(
        HOSTILE, actor=OWNER, owner=OWNER, sponsor=SPONSOR, expected_saving=300_000
    )  # a candidate for the programme board
    engine.request_signoff(project.ref, "qeia", LOW_RISK, actor=OWNER)  # on the sponsor's list
    owner = signed_in(site(engine), engine, OWNER)
    sponsor = signed_in(site(engine), engine, SPONSOR)
    for client, path in (
        (owner, "/"),
        (owner, f"/projects/{project.ref}"),
        (sponsor, "/my-work"),
        (owner, "/programme"),
        (owner, "/reports/committee"),
    ):
        html = client.get(path).text
        assert "<script>alert" not in html, path
        assert "<b>bold</b>" not in html, path
        assert ESCAPED in html, path


def test_the_proxy_header_counts_only_from_a_trusted_proxy(engine: Engine) -> None:
    header = "X-Remote-User"
    trusted = WebSettings(trusted_proxies=("127.0.0.1",), user_header=header)
    with served_app(site(engine, trusted)) as base:
        answer = httpx.get(f"{base}/", headers={header: OWNER})
        assert answer.status_code == 200
        assert OWNER in answer.text
    elsewhere = WebSettings(trusted_proxies=("10.0.0.5",), user_header=header)
    with served_app(site(engine, elsewhere)) as base:
        answer = httpx.get(f"{base}/", headers={header: OWNER}, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/sign-in")


def test_my_work_lists_what_awaits_me_my_overdue_reviews_and_signals(
    engine: Engine, clock: ManualClock
) -> None:
    waiting = to_measurement_plan(engine, new_project(engine, "Waiting for a QEIA"))
    engine.request_signoff(waiting.ref, "qeia", LOW_RISK, actor=OWNER)
    testing = drive_to(engine, "pdsa_testing")
    for value in [10, 11, 10, 12, 11, 10, 11, 12, 10, 11, 10, 11, 30]:
        engine.record_data_point(testing.ref, "Missed doses", value, actor=OWNER)
        clock.advance(timedelta(days=7))
    sponsor = signed_in(site(engine), engine, SPONSOR).get("/my-work").text
    awaiting = sponsor[sponsor.index('id="awaiting-table"') :]
    assert f"{waiting.ref}: Waiting for a QEIA" in awaiting
    assert "QEIA stage 1 (round 1)" in awaiting
    owner = signed_in(site(engine), engine, OWNER).get("/my-work").text
    assert "Nothing awaits your decision." in owner  # the requester: not theirs to decide
    overdue = owner[owner.index('id="overdue-list"') :]
    assert f"{testing.ref}: Reduce missed doses" in overdue
    signals = owner[owner.index('id="signals-table"') :]
    assert "Concern (outside limits)" in signals
    assert "Concern (high)" in signals
    stranger = signed_in(site(engine), engine, "mallory").get("/my-work").text
    assert "Nothing awaits your decision." in stranger
    assert "No signals on your projects" in stranger


def test_programme_board_lists_programme_projects_and_candidates(engine: Engine) -> None:
    big = engine.create_project(
        "Trust-wide flow", actor=OWNER, owner=OWNER, sponsor=SPONSOR, expected_saving=300_000
    )
    new_project(engine, "Small change")
    page = signed_in(site(engine), engine, OWNER).get("/programme").text
    candidates = page[page.index('id="candidates-table"') :]
    assert f"{big.ref}: Trust-wide flow" in candidates
    assert "Not requested" in candidates
    assert "Small change" not in page


class TrustDirectory:
    """A trust's directory that answers who is medical director (``qiflow_role_holders``)."""

    @hookimpl
    def qiflow_role_holders(self, role: str) -> list[str] | None:
        return {"medical_director": ["dr.mehta"]}.get(role)


def test_my_work_asks_the_directory_who_holds_an_awaited_role(db_url: str) -> None:
    with Engine(db_url, clock=ManualClock(), plugins=[TrustDirectory()]) as engine:
        engine.import_people(
            [
                Person(id="md", name="Former Medical Director", roles=("medical_director",)),
                Person(id="don", name="Director of Nursing", roles=("director_of_nursing",)),
            ],
            actor="admin",
        )
        project = new_project(engine)
        stage_2 = {**LOW_RISK, "full_assessment": "reviewed"}
        engine.request_signoff(project.ref, "qeia", stage_2, actor=OWNER)
        app = site(engine)
        for person, listed in (("dr.mehta", True), ("don", True), ("md", False)):
            page = signed_in(app, engine, person).get("/my-work").text
            assert ("QEIA stage 2 (round 1)" in page) is listed, person


def test_web_settings_are_read_and_checked(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(
        '[web]\nbase_url = "https://qi.example.nhs.uk/"\n'
        'trusted_proxies = ["10.0.0.5", "10.1.0.0/24"]\nuser_header = "X-Forwarded-User"\n',
        encoding="utf-8",
    )
    web = load_settings(good, env={}).web
    assert web == WebSettings(
        base_url="https://qi.example.nhs.uk",
        trusted_proxies=("10.0.0.5", "10.1.0.0/24"),
        user_header="X-Forwarded-User",
    )
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[web]\ntrusted_proxies = ["gateway.local"]\nuser_header = "X Remote: User"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as refused:
        load_settings(bad, env={})
    message = str(refused.value)
    assert "web.trusted_proxies: 'gateway.local' is not an IP address or network" in message
    assert "web.user_header: 'X Remote: User' is not an HTTP header name" in message


def test_a_page_acted_on_after_someone_else_changed_the_project_is_refused(
    engine: Engine,
) -> None:
    project = new_project(engine)
    client = signed_in(site(engine), engine, OWNER)
    page = f"/projects/{project.ref}"
    html = client.get(page).text  # shows version 1
    engine.update_project(project.ref, actor=SPONSOR, directorate="Surgery")  # version 2
    shown = client.post(
        f"{page}/fire",
        data={"csrf_token": csrf_of(html), "trigger": "diagnose", "version": "1"},
    )
    refusal = shown.text[shown.text.index('id="refusal"') :]
    assert "QI-0001 is at version 2, not 1: someone changed it since you read it" in refusal
    assert engine.get(project.ref).state == "idea"
