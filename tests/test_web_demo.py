"""``qiflow demo --serve``: the demo portfolio, browsable with the tokens it prints."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.http_support import free_port
from tests.web_support import csrf_of

STARTUP = 300  # seconds: the demo walks 20 projects first (a few seconds on a quiet machine)


def test_demo_serve_prints_tokens_that_sign_in_to_the_demo_portfolio(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "qiflow", "demo", "--serve", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        printed: list[str] = []
        deadline = time.monotonic() + STARTUP
        while time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                break
            printed.append(line)
            if "Ctrl-C stops the server." in line:
                break
        out = "".join(printed)
        assert f"Browse it at http://127.0.0.1:{port}/" in out, out[-2000:]
        tokens = dict(re.findall(r"^    (\S+) \([^)]*\): (\S+)$", out, re.MULTILINE))
        assert set(tokens) == {"s.patel", "dr.mensah"}
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(100):  # uvicorn starts listening just after the line
                try:
                    form = client.get("/sign-in")
                    break
                except httpx.ConnectError:
                    time.sleep(0.1)
            signed = client.post(
                "/sign-in",
                data={"csrf_token": csrf_of(form.text), "token": tokens["s.patel"], "next": "/"},
                follow_redirects=True,
            )
            assert signed.status_code == 200
            assert "QI-0001: Reduce missed doses of depot antipsychotics" in signed.text
            assert 'id="stage-sustained"' in signed.text
            pack = client.get("/reports/committee")
            assert "QI portfolio report" in pack.text
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stdout is not None:
            server.stdout.close()
