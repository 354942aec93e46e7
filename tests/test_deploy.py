"""The deployment examples under deploy/ are tested, not just shipped.

* ``deploy/qiflow-daemon@.service`` parses as a systemd unit whose command line is one
  qiflow accepts, stops within its shutdown budget, and passes ``systemd-analyze verify``
  where that program exists.
* ``deploy/qiflow.postgres.toml`` validates, builds its channels, gives the two instances
  different metrics addresses, and two daemons run from it side by side on PostgreSQL.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from qiflow import Engine
from qiflow.cli import main
from qiflow.cli.daemon import daemon
from qiflow.config import load_settings
from tests.daemon_support import wait_until
from tests.test_health import free_port, get

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
UNIT = DEPLOY / "qiflow-daemon@.service"
EXAMPLE = DEPLOY / "qiflow.postgres.toml"
SECRETS = {"QIFLOW_SMTP_PASSWORD": "not-a-real-one", "QIFLOW_TEAMS_URL": "https://teams.invalid/x"}


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit file as {section: {key: [values, in order]}} (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], defaultdict(list))
            continue
        key, equals, value = line.partition("=")
        assert equals, f"line {number} is not KEY=VALUE: {raw!r}"
        assert current is not None, f"line {number} comes before any [section]"
        current[key.strip()].append(value.strip())
    return sections


def instance(value: str, number: int) -> str:
    return value.replace("%i", str(number)).replace("%H", "host")


def test_the_unit_runs_a_qiflow_command_line_that_exists() -> None:
    unit = parse_unit(UNIT.read_text(encoding="utf-8"))
    assert set(unit) == {"Unit", "Service", "Install"}
    service = unit["Service"]
    [start] = service["ExecStart"]
    words = shlex.split(instance(start, 1))
    assert words[0].endswith("/qiflow")
    assert words[1:] == [
        "--log-json",
        "daemon",
        "--config",
        "/etc/qiflow/qiflow.toml",
        "--name",
        "host-1",
    ]
    assert {"--log-json"} <= {opt for p in main.params for opt in p.opts}
    assert {"--config", "--name"} <= {opt for p in daemon.params for opt in p.opts}
    [check] = service["ExecStartPre"]
    assert shlex.split(check)[1:] == ["doctor", "--config", "/etc/qiflow/qiflow.toml"]
    assert service["Type"] == ["exec"]
    assert service["Restart"] == ["on-failure"]
    assert service["KillSignal"] == ["SIGTERM"]
    assert service["User"] == ["qiflow"]
    assert service["UMask"] == ["0077"]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]
    env = dict(e.split("=", 1) for e in service["Environment"])
    assert env["QIFLOW_CONFIG"] == "/etc/qiflow/qiflow.toml"
    # each instance has its own metrics address
    assert instance(env["QIFLOW_METRICS_ADDRESS"], 1) != instance(env["QIFLOW_METRICS_ADDRESS"], 2)
    # systemd waits long enough for the daemon's own clean stop before SIGKILL
    shutdown = load_settings(EXAMPLE, env=SECRETS).daemon.shutdown_timeout
    assert int(service["TimeoutStopSec"][0]) >= shutdown + 10


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    qiflow = Path(sys.executable).with_name("qiflow")
    assert qiflow.exists()
    text = UNIT.read_text(encoding="utf-8").replace("/opt/qiflow/bin/qiflow", str(qiflow))
    copy = tmp_path / "qiflow-daemon@1.service"
    copy.write_text(text, encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(copy)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        # this machine has no qiflow user, env file or /var/lib/qiflow: an installation's do
        if line.strip() and "qiflow.env" not in line and "/var/lib/qiflow" not in line
    ]
    assert problems == [], result.stdout + result.stderr


def test_the_postgres_example_validates_with_its_secrets_from_the_environment() -> None:
    settings = load_settings(EXAMPLE, env=SECRETS, check_permissions=True)
    assert settings.database_url.startswith("postgresql://")
    assert set(settings.channels) == {"email", "teams"}
    assert settings.metrics_address == ("127.0.0.1", 9461)
    unit_env = dict(e.split("=", 1) for e in parse_unit(UNIT.read_text())["Service"]["Environment"])
    addresses = {
        load_settings(
            EXAMPLE, env={**SECRETS, "QIFLOW_METRICS_ADDRESS": instance(unit_env[key], n)}
        ).metrics_address
        for n in (1, 2)
        for key in ["QIFLOW_METRICS_ADDRESS"]
    }
    assert addresses == {("127.0.0.1", 9461), ("127.0.0.1", 9462)}
    with pytest.raises(Exception, match="QIFLOW_SMTP_PASSWORD is not set"):
        load_settings(EXAMPLE, env={})


@pytest.mark.postgres
def test_two_daemons_run_from_the_postgres_example(pg_url: str, tmp_path: Path) -> None:
    with Engine(pg_url) as engine:
        built = engine.channels(load_settings(EXAMPLE, env=SECRETS).channels)
    assert {"email", "teams"} <= set(built)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QIFLOW_")}
    ports = [free_port(), free_port()]
    processes = []
    try:
        for number, port in enumerate(ports, 1):
            with (tmp_path / f"d{number}.log").open("wb") as log:  # the child keeps its copy
                processes.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "qiflow",
                            "--db",
                            pg_url,
                            "daemon",
                            "--config",
                            str(EXAMPLE),
                            "--name",
                            f"host-{number}",
                        ],
                        env={**env, **SECRETS, "QIFLOW_METRICS_ADDRESS": f"127.0.0.1:{port}"},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        cwd=tmp_path,
                    )
                )
        for port in ports:
            wait_until(lambda p=port: get(p, "/readyz")[0] == 200, 60, f"daemon on {port} ready")
        with Engine(pg_url) as engine:
            wait_until(
                lambda: {d.name for d in engine.outbox_status().daemons} == {"host-1", "host-2"},
                60,
                "both daemons to sweep",
            )
        for process in processes:
            process.send_signal(signal.SIGTERM)
        assert [p.wait(timeout=60) for p in processes] == [0, 0]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def test_a_daemon_refuses_a_schema_newer_than_it_knows(db_url: str, tmp_path: Path) -> None:
    """An upgraded database and a daemon not yet upgraded (docs/releasing.md): it says so
    and stops, so systemd's start limit ends the restarts instead of it running on."""
    with Engine(db_url) as engine:
        engine.create_project("Before the upgrade", actor="seed", owner="olivia")
    sql = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with sql.begin() as conn:
            conn.execute(text("UPDATE qiflow_alembic_version SET version_num = '9999'"))
    finally:
        sql.dispose()
    result = CliRunner().invoke(
        main, ["--db", db_url, "daemon", "--once"], env={"QIFLOW_CONFIG": ""}
    )
    assert result.exit_code == 1, result.output
    assert "is at schema revision 9999, newer than this qiflow knows" in result.output
    assert "upgrade qiflow to use this database" in result.output
