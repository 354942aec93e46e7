"""``qiflow token`` and ``qiflow serve`` through the real command line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner, Result

from qiflow.cli import main
from tests.http_support import free_port

README = Path(__file__).parent.parent / "README.md"


def run(db_url: str, *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(main, ["--db", db_url, *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def test_token_create_list_revoke(db_url: str) -> None:
    made = json.loads(
        run(
            db_url,
            "token",
            "create",
            "--actor",
            "portal",
            "--scope",
            "write",
            "--act-as",
            "--expires",
            "P90D",
            "--json",
        ).output
    )
    assert set(made) >= {"id", "token", "actor", "scope", "act_as", "expires_at"}
    assert (made["actor"], made["scope"], made["act_as"]) == ("portal", "write", True)
    assert made["token"].startswith(f"qf_{made['id']}_")
    listed = json.loads(run(db_url, "token", "list", "--json").output)
    assert [t["id"] for t in listed] == [made["id"]]
    assert made["token"] not in json.dumps(listed)
    revoked = json.loads(run(db_url, "token", "revoke", made["id"], "--json").output)
    assert revoked["revoked_at"] is not None
    text = run(db_url, "token", "list").output
    assert made["id"] in text
    assert made["token"] not in text


def test_token_bad_input_is_one_line_and_writes_nothing(db_url: str) -> None:
    bad_scope = run(db_url, "token", "create", "--actor", "a", "--scope", "root", code=2)
    assert "root" in bad_scope.output
    bad_expiry = run(
        db_url, "token", "create", "--actor", "a", "--scope", "read", "--expires", "soon", code=1
    )
    assert bad_expiry.output.count("\n") == 1
    assert bad_expiry.output.startswith("error: ")
    unknown = run(db_url, "token", "revoke", "nope", code=1)
    assert unknown.output.startswith("error: no token 'nope'")
    assert json.loads(run(db_url, "token", "list", "--json").output) == []


def _lifecycle_script() -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- http-lifecycle -->\s*```sh\n(.*?)```", text, re.S)
    assert found, "README has no http-lifecycle block"
    return found.group(1)


def test_readme_curl_lifecycle_against_qiflow_serve(sqlite_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "QIFLOW_DATABASE_URL": sqlite_url, "QIFLOW_ACTOR": "admin"}
    server = subprocess.Popen(
        [sys.executable, "-m", "qiflow", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not start"
            assert server.poll() is None, "serve exited"
            time.sleep(0.2)
        script = _lifecycle_script()
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            env={**env, "API": f"http://127.0.0.1:{port}/api/v1", "PATH": os.environ["PATH"]},
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert '"state":"adopted"' in done.stdout.replace(" ", "")
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0].decode()
    assert "qf_" not in output  # the server never logs a token
