"""``qiflow doctor``: every check passes on a sound setup and fails, saying why, on a broken one."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text

from qiflow import Engine, ManualClock, Person
from qiflow.cli import main
from qiflow.doctor import Doctor
from qiflow.store.migrate import downgrade, head_revision


def doctor(tmp_path: Path, db_url: str, toml: str = "", *args: str) -> Result:
    config = tmp_path / "qiflow.toml"
    config.write_text(toml, encoding="utf-8")
    config.chmod(0o600)
    return CliRunner().invoke(
        main, ["--db", db_url, "doctor", "--config", str(config), *args], catch_exceptions=False
    )


def line(result: Result, check: str) -> str:
    found = [x for x in result.output.splitlines() if x.split()[1:2] == [f"{check}:"]]
    assert len(found) == 1, result.output
    return found[0]


def test_a_sound_setup_passes_every_check(tmp_path: Path, db_url: str) -> None:
    result = doctor(tmp_path, db_url)
    assert result.exit_code == 0, result.output
    checks = [x.split()[1].rstrip(":") for x in result.output.splitlines()]
    assert checks == ["config", "database", "clock", "plugins", "channels", "calendar", "secrets"]
    assert all(x.startswith("ok ") for x in result.output.splitlines())
    assert "Europe/London" in line(result, "calendar")
    assert "GB-ENG" in line(result, "calendar")
    as_json = json.loads(doctor(tmp_path, db_url, "", "--json").output)
    assert [f["check"] for f in as_json] == checks
    assert all(f["ok"] for f in as_json)


def test_invalid_configuration(tmp_path: Path, db_url: str) -> None:
    result = doctor(tmp_path, db_url, "[sending\n")
    assert result.exit_code == 1
    assert line(result, "config").startswith("FAIL")
    assert "malformed TOML" in line(result, "config")
    assert line(result, "database").startswith("ok")  # the other checks still run


def test_unreachable_database(tmp_path: Path) -> None:
    result = doctor(tmp_path, "postgresql://postgres@127.0.0.1:1/nowhere")
    assert result.exit_code == 1
    assert "FAIL database: cannot connect" in result.output
    assert "FAIL clock: cannot compare" in result.output
    missing = doctor(tmp_path, f"sqlite:///{tmp_path / 'absent.db'}")
    assert "absent.db does not exist: run `qiflow init`" in line(missing, "database")
    assert not (tmp_path / "absent.db").exists()  # the doctor creates nothing


def test_database_at_the_wrong_schema(tmp_path: Path, db_url: str) -> None:
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        downgrade(engine, "0004")
        older = doctor(tmp_path, db_url)
        expected = f"is at schema 0004, this qiflow expects {head_revision()}"
        assert expected in line(older, "database")
        assert older.exit_code == 1
        with engine.begin() as conn:
            conn.execute(text("UPDATE qiflow_alembic_version SET version_num = '9999'"))
        newer = doctor(tmp_path, db_url)
        assert "at schema 9999, newer than this qiflow knows" in line(newer, "database")
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM qiflow_alembic_version"))
        empty = doctor(tmp_path, db_url)
        assert "has no qiflow tables: run `qiflow init`" in line(empty, "database")
    finally:
        engine.dispose()


def test_plugins_the_allow_list_refuses_and_names_that_are_not_installed(
    tmp_path: Path, db_url: str
) -> None:
    allowed = doctor(tmp_path, db_url, '[plugins]\nallow = ["finance"]\n')
    assert line(allowed, "plugins") == (
        "ok   plugins: loaded: finance; refused by the allow-list: caldicott, email, webhook"
    )
    wrong = doctor(tmp_path, db_url, '[plugins]\nallow = ["finance", "fax"]\n')
    assert wrong.exit_code == 1
    assert "the allow-list names fax, which no installed plugin provides" in line(wrong, "plugins")


def test_incomplete_channel_settings(tmp_path: Path, db_url: str) -> None:
    incomplete = doctor(tmp_path, db_url, '[channels.email]\nhost = "smtp.example.nhs.uk"\n')
    assert incomplete.exit_code == 1
    assert "FAIL channels: channels.email needs sender" in line(incomplete, "channels")
    routed = doctor(tmp_path, db_url, '[routing]\nreminder = ["pager"]\n')
    assert "[routing] names pager, which no channel provides" in line(routed, "channels")
    refused = doctor(
        tmp_path,
        db_url,
        '[plugins]\nallow = ["finance"]\n[channels.email]\nhost = "h"\nsender = "q@x.nhs.uk"\n',
    )
    assert "no installed plugin provides email" in line(refused, "channels")


def test_clock_difference(tmp_path: Path, db_url: str) -> None:
    with Engine(db_url) as engine:
        now = engine.clock.now()
    config = tmp_path / "none.toml"
    config.write_text("")
    ahead = Doctor(config, db_url, env={}, host_clock=ManualClock(now + timedelta(hours=1)))
    found = ahead.run()
    clock = next(f for f in found if f.check == "clock")
    assert not clock.ok
    assert "ahead of the database" in clock.detail
    assert "more than 5s" in clock.detail
    in_step = Doctor(config, db_url, env={}, host_clock=ManualClock(now)).run()
    assert next(f for f in in_step if f.check == "clock").ok


def test_calendar_of_a_region_the_holidays_package_lacks(tmp_path: Path, db_url: str) -> None:
    result = doctor(tmp_path, db_url, '[sending]\ncountry = "XX"\n')
    assert result.exit_code == 1
    assert "FAIL calendar: no bank-holiday calendar for XX-ENG" in result.output
    scotland = doctor(
        tmp_path, db_url, '[sending]\ntimezone = "Europe/London"\nsubdivision = "SCT"\n'
    )
    assert "bank holidays of GB-SCT" in line(scotland, "calendar")
    assert scotland.exit_code == 0


def test_secret_permissions(tmp_path: Path, db_url: str) -> None:
    literal = (
        '[channels.email]\nhost = "h"\nsender = "q@x.nhs.uk"\nusername = "q"\npassword = "pw"\n'
    )
    private = doctor(tmp_path, db_url, literal)
    assert line(private, "secrets").startswith("ok")
    (tmp_path / "qiflow.toml").chmod(0o644)
    result = CliRunner().invoke(
        main, ["--db", db_url, "doctor", "--config", str(tmp_path / "qiflow.toml")]
    )
    assert result.exit_code == 1
    assert "holds secrets (channels.email.password) and is readable by group" in line(
        result, "secrets"
    )
    secret = tmp_path / "smtp-password"
    secret.write_text("pw\n")
    secret.chmod(0o640)
    by_file = literal.replace('password = "pw"', f'password_file = "{secret}"')
    result = doctor(tmp_path, db_url, by_file)
    assert f"{secret} is readable by group or others (mode 640)" in line(result, "secrets")
    secret.chmod(0o600)
    assert doctor(tmp_path, db_url, by_file).exit_code == 0


def test_send_test_reaches_the_person(tmp_path: Path, db_url: str) -> None:
    with Engine(db_url) as engine:
        engine.import_people([Person("olivia", "Olivia Okafor", channels=("console",))], actor="t")
    result = doctor(tmp_path, db_url, "", "--send-test", "olivia")
    assert result.exit_code == 0, result.output
    assert "to Olivia Okafor: qiflow test message" in result.output
    assert "ok   send-test: to olivia: sent through console" in result.output
    nobody = doctor(tmp_path, db_url, "", "--send-test", "nobody")
    assert "FAIL send-test: no person 'nobody' in the directory" in nobody.output
    assert nobody.exit_code == 1


def test_help() -> None:
    result = CliRunner().invoke(main, ["doctor", "--help"])
    assert "--send-test PERSON" in result.output
