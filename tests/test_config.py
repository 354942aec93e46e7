"""qiflow.toml and QIFLOW_* variables; secrets; the sending window."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from qiflow import ConfigError
from qiflow.cli import main
from qiflow.config import load_settings
from qiflow.notify.civil_time import parse_window

EXAMPLE = Path(__file__).resolve().parents[1] / "qiflow.example.toml"


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "qiflow.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_the_example_file_loads_with_the_defaults() -> None:
    settings = load_settings(EXAMPLE, env={})
    assert settings.database_url == "sqlite:///qiflow.db"
    assert settings.policy.digest is True
    assert settings.daemon.delivery.max_attempts == 8
    assert settings.channels == {}


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'database_url = "sqlite:///a.db"\n[sending]\nhours = "08:00-18:00"\n')
    settings = load_settings(
        path,
        env={
            "QIFLOW_DATABASE_URL": "sqlite:///b.db",
            "QIFLOW_SENDING_DAYS": "mon-sat",
            "QIFLOW_DIGEST": "0",
            "QIFLOW_PLUGINS": "finance, webhook",
        },
    )
    assert settings.database_url == "sqlite:///b.db"
    assert settings.window.days == (0, 1, 2, 3, 4, 5)
    assert settings.window.start.hour == 8
    assert settings.policy.digest is False
    assert settings.plugins_allow == ("finance", "webhook")


def test_secrets_come_from_the_environment_or_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "password.txt"
    secret.write_text("s3cret\n")
    path = write(
        tmp_path,
        f'[channels.email]\nhost = "smtp.local"\npassword_file = "{secret}"\n'
        '[channels.webhook]\nurl_env = "HOOK"\n',
        mode=0o644,
    )
    settings = load_settings(
        path, env={"HOOK": "https://example.invalid/x"}, check_permissions=True
    )
    assert settings.channels["email"]["password"] == "s3cret"
    assert settings.channels["webhook"]["url"] == "https://example.invalid/x"
    with pytest.raises(ConfigError, match="environment variable HOOK is not set"):
        load_settings(path, env={})


def test_a_readable_file_holding_a_secret_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[channels.webhook]\nurl = "https://example.invalid/secret"\n', mode=0o644
    )
    with pytest.raises(ConfigError, match=r"chmod 600") as caught:
        load_settings(path, env={}, check_permissions=True)
    assert "channels.webhook.url" in str(caught.value)
    result = CliRunner().invoke(main, ["daemon", "--once", "--config", str(path)])
    assert result.exit_code == 1
    assert f"chmod 600 {path}" in result.output
    path.chmod(0o600)
    assert load_settings(path, env={}, check_permissions=True).channels["webhook"]["url"]


def test_bad_settings_are_all_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'colour = "blue"\n[sending]\ntimezone = "Mars/Olympus"\n'
        "[daemon]\nlease = -1\nmax_attempts = 0\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    message = str(caught.value)
    for expected in ("colour: unknown key", "Mars/Olympus", "daemon.lease", "daemon.max_attempts"):
        assert expected in message


def test_the_window_respects_daylight_saving_and_bank_holidays() -> None:
    window = parse_window()
    at = datetime.fromisoformat
    # Friday evening before the clocks go forward: Monday 09:00 BST is 08:00 UTC
    assert window.next_open(at("2026-03-27T18:00+00:00")) == at("2026-03-30T08:00+00:00")
    # after they go back: 09:00 GMT is 09:00 UTC
    assert window.next_open(at("2026-10-24T12:00+00:00")) == at("2026-10-26T09:00+00:00")
    # Christmas Eve after hours: Christmas, a weekend and Boxing Day (observed) are skipped
    assert window.next_start(at("2026-12-24T17:30+00:00")) == at("2026-12-29T09:00+00:00")
    # Maundy Thursday evening: Good Friday and Easter Monday are skipped
    assert window.next_open(at("2026-04-02T17:00+00:00")) == at("2026-04-07T08:00+00:00")
    assert window.is_open(at("2026-06-10T12:00+00:00"))
    assert not window.is_open(at("2026-06-10T16:30+00:00"))  # 17:30 BST
    assert window.next_start(datetime(2026, 6, 10, 7, 59, tzinfo=UTC)) == at(
        "2026-06-10T08:00+00:00"
    )


@pytest.mark.parametrize(
    ("days", "hours", "message"),
    [
        ("mon-fry", "09:00-17:00", "not a day"),
        ("mon-fri", "17:00-09:00", "open before it closes"),
        ("mon-fri", "nine-five", "HH:MM-HH:MM"),
    ],
)
def test_bad_windows_say_what_is_wrong(days: str, hours: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_window(days, hours)


def test_web_base_url_and_time_zone_reach_every_channel_table(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[web]\nbase_url = "https://qi.example.nhs.uk/"\n[sending]\ntimezone = "Europe/Dublin"\n'
        '[channels.webhook]\nurl_env = "HOOK"\n'
        '[channels.teams]\nurl_env = "HOOK"\nbase_url = "https://teams-only.example.nhs.uk"\n',
    )
    settings = load_settings(path, env={"HOOK": "https://hooks.example.org/x"})
    assert settings.channels["webhook"]["base_url"] == "https://qi.example.nhs.uk"
    assert settings.channels["teams"]["base_url"] == "https://teams-only.example.nhs.uk"
    assert settings.channels["webhook"]["timezone"] == "Europe/Dublin"
    bare = write(tmp_path, '[channels.webhook]\nurl_env = "HOOK"\n')
    assert load_settings(bare, env={"HOOK": "https://h.example.org/x"}).channels["webhook"] == {
        "url": "https://h.example.org/x"
    }
    env = {"HOOK": "https://h.example.org/x", "QIFLOW_WEB_BASE_URL": "http://localhost:8000"}
    assert load_settings(bare, env=env).channels["webhook"]["base_url"] == "http://localhost:8000"


def test_a_base_url_that_is_not_http_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[web]\nbase_url = "qi.example.nhs.uk"\n')
    with pytest.raises(ConfigError, match=r"web\.base_url 'qi\.example\.nhs\.uk' must be an http"):
        load_settings(path, env={})


def test_relative_paths_in_channel_tables_are_next_to_qiflow_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10: a daemon started from another directory still finds the channel's files."""
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    (config_dir / "token.txt").write_text("t0ken\n")
    path = write(
        config_dir,
        '[channels.jsonl]\npath = "out/notes.jsonl"\narchive_dir = "old"\n'
        'token_file = "token.txt"\nlabel = "out/not-a-path"\n'
        f'absolute_path = "{tmp_path / "abs.jsonl"}"\n',
    )
    elsewhere = tmp_path / "run"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    table = load_settings(path, env={}).channels["jsonl"]
    assert table == {
        "path": str(config_dir / "out" / "notes.jsonl"),
        "archive_dir": str(config_dir / "old"),
        "token": "t0ken",
        "label": "out/not-a-path",
        "absolute_path": str(tmp_path / "abs.jsonl"),
    }


def test_an_always_open_window_sends_at_any_hour_on_any_day(tmp_path: Path) -> None:
    path = write(tmp_path, '[sending]\ndays = "mon-sun"\nhours = "00:00-24:00"\nholidays = false\n')
    window = load_settings(path, env={}).window
    christmas_night = datetime(2026, 12, 25, 3, 17, tzinfo=UTC)  # a Friday, a bank holiday
    sunday_late = datetime(2026, 6, 14, 22, 59, 59, tzinfo=UTC)  # 23:59:59 in London
    for instant in (christmas_night, sunday_late):
        assert window.is_open(instant)
        assert window.next_open(instant) == instant


def test_holidays_can_be_turned_off_alone(tmp_path: Path) -> None:
    christmas_morning = datetime(2026, 12, 25, 10, 0, tzinfo=UTC)
    assert not load_settings(write(tmp_path, ""), env={}).window.is_open(christmas_morning)
    path = write(tmp_path, "[sending]\nholidays = false\n")
    assert load_settings(path, env={}).window.is_open(christmas_morning)


@pytest.mark.parametrize(
    ("value", "allowed"),
    [("finance, webhook", ("finance", "webhook")), ("finance", ("finance",))],
)
def test_qiflow_plugins_is_a_comma_separated_list(value: str, allowed: tuple[str, ...]) -> None:
    assert load_settings(None, env={"QIFLOW_PLUGINS": value}).plugins_allow == allowed


def test_a_bad_plugin_name_in_the_environment_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="QIFLOW_PLUGINS: 'fin ance'"):
        load_settings(None, env={"QIFLOW_PLUGINS": "fin ance"})
