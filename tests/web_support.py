"""Shared pieces for the web pages' tests: the site over a real engine, signed-in clients,
a real server for the browser, and axe-core to check a page's accessibility."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from qiflow import Engine
from qiflow.config import WebSettings
from qiflow.web import create_site

SECRET = "tests-only-secret"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
#: Screenshots of every page the browser tests visit (gitignored; CI keeps them).
ARTEFACTS = Path(
    os.environ.get("QIFLOW_TEST_ARTIFACTS", Path(__file__).parents[1] / "test-artifacts")
)


def site(engine: Engine, settings: WebSettings | None = None) -> FastAPI:
    return create_site(engine, settings, secret=SECRET)


def token(engine: Engine, actor: str, scope: str = "write") -> str:
    _token, text = engine.create_token(actor=actor, scope=scope, created_by="tests")
    return text


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "the page has no CSRF field"
    return found[1]


def signed_in(app: FastAPI, engine: Engine, actor: str, scope: str = "write") -> TestClient:
    """A client signed in through the sign-in form with a fresh token of ``actor``."""
    client = TestClient(app, raise_server_exceptions=False)
    form = client.get("/sign-in")
    answer = client.post(
        "/sign-in",
        data={"csrf_token": csrf_of(form.text), "token": token(engine, actor, scope), "next": "/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/"
    return client


def post_form(client: TestClient, page: str, action: str, data: dict[str, str]) -> Any:
    """Post ``data`` to ``action`` with the CSRF token ``page`` carries, following the
    redirect (post/redirect/get)."""
    html = client.get(page).text
    return client.post(action, data={"csrf_token": csrf_of(html), **data})


def axe_violations(driver: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations of the page the driver shows (WCAG 2.2
    A and AA rules and best practice)."""
    if not AXE.exists():
        raise AssertionError(f"axe-core is not installed at {AXE}; run: npm ci --prefix tests/axe")
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    result = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        axe.run(document, {runOnly: {type: 'tag', values:
            ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}})
          .then(r => done(JSON.stringify(r.violations)))
          .catch(e => done(JSON.stringify([{id: 'axe-error', impact: 'critical',
                                            help: String(e), nodes: []}])));
        """
    )
    found: list[dict[str, Any]] = json.loads(result)
    return [v for v in found if v.get("impact") in ("serious", "critical")]


def describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(n.get("target")) for n in v.get("nodes", [])[:3])
        for v in violations
    )
