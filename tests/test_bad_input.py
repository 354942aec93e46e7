"""The bad-input corpus: every bad input is one clear error, and nothing is written.

Each case runs through the command line (click's runner, in process) against a fresh
database on each backend, with a project QI-0001 (owner olivia) that has a measure
"Missed doses". It must exit with status 1 (2 for usage errors), print one line naming
the file and key or the field, show no traceback, and leave every table as it was.
The Python API cases at the end check the same through ``Engine``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from qiflow import Engine, ManualClock, QiflowError, ValidationError
from tests.bad_input_support import (
    MINI_WORKFLOW,
    Case,
    assert_clean_failure,
    dump,
    execute,
    expand,
    run_cli,
    unchanged,
    write_files,
)
from tests.helpers import OWNER, SPONSOR

MEGABYTE = "x" * 1_000_000
LATIN1 = "id,name,roles\nz.ozil,Zo\xeb \xd6zil,qi_lead\n".encode("latin-1")


def wf(old: str, new: str, base: str = MINI_WORKFLOW) -> dict[str, str | bytes]:
    assert old in base, old
    return {"wf/mini.toml": base.replace(old, new, 1)}


def validate(case_id: str, files: dict[str, str | bytes], key: str, *words: str) -> Case:
    return Case(
        case_id,
        ("workflow", "validate", "{tmp}/wf"),
        ("mini.toml", key, *words),
        files=files,
        db=False,
    )


PREVIOUS_ONLY = """\
name = "mini"
version = 1

[[states]]
name = "start"
initial = true

[[states]]
name = "hold"

[[states]]
name = "limbo"

[[states]]
name = "done"
final = true

[[transitions]]
trigger = "finish"
source = ["start", "limbo"]
dest = "done"

[[transitions]]
trigger = "pause"
source = ["start", "limbo"]
dest = "hold"

[[transitions]]
trigger = "resume"
source = "hold"
dest = "@previous"
"""

WORKFLOW_CASES = [
    validate("name-trailing-newline", wf('name = "mini"', 'name = "mini\\n"'), "name"),
    validate(
        "trigger-trailing-newline",
        wf('trigger = "finish"', 'trigger = "finish\\n"'),
        "transitions[0].trigger",
    ),
    validate(
        "state-trailing-newline",
        wf('name = "done"', 'name = "done\\n"'),
        "states[1].name",
    ),
    validate(
        "on-typo",
        wf('dest = "done"', 'dest = "done"\non = "review.recroded"'),
        "transitions[0].on",
        "review.recroded",
    ),
    validate(
        "on-unknown-type",
        wf('dest = "done"', 'dest = "done"\non = "project.createdd"'),
        "transitions[0].on",
        "project.createdd",
    ),
    validate(
        "on-trailing-newline",
        wf('dest = "done"', 'dest = "done"\non = "review.recorded\\n"'),
        "transitions[0].on",
    ),
    validate(
        "on-unknown-gate",
        wf('dest = "done"', 'dest = "done"\non = "gate.passed:finance_x"'),
        "transitions[0].on",
        "finance_x",
    ),
    validate(
        "rescreen-on-typo",
        wf('rescreen_on = ["finish"]', 'rescreen_on = ["finsh"]'),
        "gates.qeia",
        "finsh",
    ),
    validate(
        "previous-fakes-reachability",
        {"wf/mini.toml": PREVIOUS_ONLY},
        "states.limbo",
        "unreachable",
    ),
    validate(
        "bom-then-bad-version",
        {
            "wf/mini.toml": b"\xef\xbb\xbf"
            + MINI_WORKFLOW.replace("version = 1", "version = 0").encode()
        },
        "version",
        "positive",
    ),
    validate(
        "deep-arrays",
        wf("version = 1", "version = 1\nx = " + "[" * 3000 + "]" * 3000),
        "nested",
    ),
    validate(
        "deep-inline-tables",
        wf("version = 1", "version = 1\nx = " + "{a = " * 3000 + "1" + "}" * 3000),
        "nested",
    ),
    validate(
        "version-2-64",
        wf("version = 1", "version = 18446744073709551616"),
        "version",
        "18446744073709551616",
    ),
    validate(
        "version-beyond-32-bits",
        wf("version = 1", "version = 1099511627776"),
        "version",
        "2147483647",
    ),
    validate(
        "escalation-threshold-huge",
        wf("[[states]]", "[escalation]\nfinancial_threshold = 100000000000000000000\n\n[[states]]"),
        "escalation",
        "financial_threshold",
    ),
    validate("not-utf8", {"wf/mini.toml": MINI_WORKFLOW.encode("utf-16")}, "", "UTF-8"),
    validate("upper-case-trigger", wf('trigger = "finish"', 'trigger = "Finish"'), "trigger"),
]


def fire_case(case_id: str, args: tuple[str, ...], *words: str, status: int = 1) -> Case:
    return Case(case_id, args, words, status=status)


COMMAND_CASES = [
    fire_case("title-1mb", ("project", "create", MEGABYTE), "title", "characters"),
    fire_case("title-nul", ("project", "create", "Safer\x00nights"), "title", "control character"),
    fire_case(
        "aim-escape", ("project", "update", "QI-0001", "--aim", "x\x1b[31m"), "aim", "control"
    ),
    fire_case(
        "owner-newline", ("project", "update", "QI-0001", "--owner", "olivia\n"), "owner", "control"
    ),
    fire_case(
        "expected-saving-1e20",
        ("project", "update", "QI-0001", "--expected-saving", str(10**20)),
        "expected-saving",
        status=2,
    ),
    fire_case(
        "datapoint-inf", ("measure", "record", "QI-0001", "Missed doses", "inf"), "value", "finite"
    ),
    fire_case(
        "datapoint-1e400",
        ("measure", "record", "QI-0001", "Missed doses", "1e400"),
        "value",
        "finite",
    ),
    fire_case(
        "datapoint-nan", ("measure", "record", "QI-0001", "Missed doses", "nan"), "value", "finite"
    ),
    fire_case(
        "datapoint-1e300",
        ("measure", "record", "QI-0001", "Missed doses", "1e300"),
        "value",
        "range",
    ),
    fire_case(
        "datapoint-note-nul",
        ("measure", "record", "QI-0001", "Missed doses", "3", "--note", "a\x00b"),
        "note",
        "control",
    ),
    fire_case(
        "measure-name-long",
        (
            "measure",
            "add",
            "QI-0001",
            "m" * 201,
            "--kind",
            "process",
            "--unit",
            "%",
            "--direction",
            "decrease",
        ),
        "name",
        "200",
    ),
    fire_case(
        "measure-unit-tab",
        (
            "measure",
            "add",
            "QI-0001",
            "Falls",
            "--kind",
            "process",
            "--unit",
            "per\tday",
            "--direction",
            "decrease",
        ),
        "unit",
        "control",
    ),
    fire_case("pdsa-plan-1mb", ("pdsa", "record", "QI-0001", "--plan", MEGABYTE), "plan"),
    fire_case(
        "pdsa-study-nul", ("pdsa", "record", "QI-0001", "--study", "fell\x00"), "study", "control"
    ),
    fire_case(
        "review-notes-nul",
        ("review", "record", "QI-0001", "--notes", "ok\x00"),
        "notes",
        "control",
    ),
    fire_case(
        "actor-nul", ("project", "fire", "QI-0001", "pause", "--actor", "oli\x00via"), "actor"
    ),
    fire_case(
        "actor-long", ("project", "fire", "QI-0001", "pause", "--actor", "a" * 201), "actor", "200"
    ),
    fire_case(
        "idempotency-key-long",
        ("project", "fire", "QI-0001", "pause", "--idempotency-key", "k" * 201),
        "idempotency",
        "200",
    ),
    fire_case(
        "learning-nul",
        ("project", "fire", "QI-0001", "pause", "--learning", "we\x00learned"),
        "learning",
        "control",
    ),
    Case(
        "form-not-utf8",
        ("qeia", "screen", "QI-0001", "--from", "{tmp}/form.toml"),
        ("form.toml", "UTF-8"),
        files={"form.toml": "[scores.equality]\nnote = 'Zo\xeb'\n".encode("latin-1")},
    ),
    Case(
        "people-not-utf8",
        ("people", "import", "{tmp}/staff.csv"),
        ("staff.csv", "UTF-8"),
        files={"staff.csv": LATIN1},
    ),
    Case(
        "people-deputy-self",
        ("people", "import", "{tmp}/staff.csv"),
        ("staff.csv", "a.khan", "deputy for themselves"),
        files={"staff.csv": "id,name,roles,deputy_for\na.khan,A Khan,qi_lead,a.khan\n"},
    ),
    Case(
        "people-name-nul",
        ("people", "import", "{tmp}/staff.toml"),
        ("staff.toml", "name", "control"),
        files={"staff.toml": '[[people]]\nid = "a.khan"\nname = "A\\u0000Khan"\n'},
    ),
    fire_case(
        "create-unknown-field",
        ("project", "create", "Safer nights", "--field", "colour=red"),
        "--field 'colour'",
        "no such field",
        status=2,
    ),
    fire_case(
        "act-correction-not-a-decision",
        ("pdsa", "correct", "QI-0001", "1", "act", "--text", "adoptt", "--reason", "typo"),
        "act 'adoptt'",
        "adopt, adapt, abandon",
    ),
]


def config_case(case_id: str, toml: str | bytes, *words: str) -> Case:
    return Case(
        case_id,
        ("daemon", "--once", "--config", "{tmp}/qiflow.toml"),
        ("qiflow.toml", *words),
        files={"qiflow.toml": toml},
    )


CONFIG_CASES = [
    config_case("sending-string", 'sending = "always"\n', "sending", "table"),
    config_case("routing-list", 'routing = ["console"]\n', "routing", "table"),
    config_case("routing-kind-string", '[routing]\nreminder = "console"\n', "routing.reminder"),
    config_case("database-url-int", "database_url = 5\n", "database_url"),
    config_case("plugins-allow-string", '[plugins]\nallow = "finance"\n', "plugins.allow"),
    config_case("sending-unknown-key", '[sending]\nhourz = "09:00-17:00"\n', "sending.hourz"),
    config_case("daemon-unknown-key", "[daemon]\nsweep_intervall = 5\n", "daemon.sweep_intervall"),
    config_case("daemon-bool-attempts", "[daemon]\nmax_attempts = true\n", "daemon.max_attempts"),
    config_case("sending-bad-zone", '[sending]\ntimezone = "Mars/Olympus"\n', "sending.timezone"),
    config_case("holidays-number", "[sending]\nholidays = 5\n", "sending.holidays"),
    config_case(
        "every-problem-listed",
        'database_url = 5\n[sending]\nhourz = "x"\n',
        "database_url",
        "sending.hourz",
    ),
    config_case(
        "config-not-utf8", "[sending]\ntimezone = 'Europe/L\xf6ndon'\n".encode("latin-1"), "UTF-8"
    ),
    config_case("digest-string", '[sending]\ndigest = "yes"\n', "sending.digest"),
    Case(
        "allow-list-applies-to-validate",
        ("workflow", "validate", "{tmp}/wf"),
        ("mini.toml", "gates", "finance"),
        files=wf('dest = "done"', 'dest = "done"\ngates = ["finance"]'),
        env={"QIFLOW_PLUGINS": "webhook"},
    ),
    Case(
        "allow-list-applies-to-show",
        ("project", "show", "QI-0001"),
        ("QIFLOW_PLUGINS", "fin ance"),
        env={"QIFLOW_PLUGINS": "fin ance"},
    ),
    Case(
        "digest-env-garbage",
        ("daemon", "--once"),
        ("QIFLOW_DIGEST", "maybe"),
        env={"QIFLOW_DIGEST": "maybe"},
    ),
]


def missing_db_case(case_id: str, *args: str) -> Case:
    return Case(
        case_id,
        ("--db", "sqlite:///{tmp}/typo.db", *args),
        ("typo.db", "qiflow init"),
        db=False,
    )


NEWER = ("UPDATE qiflow_alembic_version SET version_num = '9999'",)


def newer_case(case_id: str, *args: str) -> Case:
    return Case(case_id, args, ("9999", "newer", "upgrade qiflow"), setup=NEWER)


DATABASE_CASES = [
    newer_case("newer-schema-list", "project", "list"),
    newer_case("newer-schema-init", "init"),
    newer_case("newer-schema-fire", "project", "fire", "QI-0001", "pause"),
    newer_case("newer-schema-audit", "audit", "verify"),
    Case(
        "mysql-url",
        ("--db", "mysql://u@localhost/qi", "project", "list"),
        ("mysql", "sqlite", "postgresql"),
        db=False,
    ),
    Case(
        "not-a-url",
        ("--db", "not a url", "project", "list"),
        ("not a url", "sqlite", "postgresql"),
        db=False,
    ),
    Case(
        "bad-port",
        ("--db", "postgresql://localhost:port/qi", "project", "list"),
        ("sqlite", "postgresql"),
        db=False,
    ),
    missing_db_case("list-missing-file", "project", "list"),
    missing_db_case("show-missing-file", "project", "show", "QI-0001"),
    missing_db_case("audit-missing-file", "audit", "verify"),
    missing_db_case("people-list-missing-file", "people", "list"),
    missing_db_case("outbox-list-missing-file", "outbox", "list"),
    missing_db_case("create-missing-file", "project", "create", "Safer nights"),
    Case(
        "init-in-missing-directory",
        ("--db", "sqlite:///{tmp}/no/such/dir/qi.db", "init"),
        ("qi.db", "the directory {tmp}/no/such/dir does not exist", "mkdir -p"),
        db=False,
    ),
]

ALL = [
    *(("workflow", c) for c in WORKFLOW_CASES),
    *(("command", c) for c in COMMAND_CASES),
    *(("config", c) for c in CONFIG_CASES),
    *(("database", c) for c in DATABASE_CASES),
]


def _seed(url: str) -> None:
    with Engine(url, clock=ManualClock()) as engine:
        project = engine.create_project(
            "Reduce missed doses", actor=OWNER, owner=OWNER, sponsor=SPONSOR
        )
        engine.add_measure(
            project.ref, "Missed doses", kind="outcome", unit="%", direction="decrease", actor=OWNER
        )


WITH_DB = [(g, c) for g, c in ALL if c.db]
WITHOUT_DB = [(g, c) for g, c in ALL if not c.db]


@pytest.mark.parametrize(("group", "case"), WITH_DB, ids=[f"{g}-{c.id}" for g, c in WITH_DB])
def test_bad_input_leaves_the_database_unchanged(
    group: str, case: Case, tmp_path: Path, db_url: str
) -> None:
    write_files(tmp_path, case.files)
    _seed(db_url)
    execute(db_url, case.setup)

    def act() -> None:
        result = run_cli(["--db", db_url, *expand(case.args, tmp_path, db_url)], case.env)
        assert_clean_failure(result, case.status, tuple(expand(case.expect, tmp_path, db_url)))

    unchanged(db_url, act)


@pytest.mark.parametrize(("group", "case"), WITHOUT_DB, ids=[f"{g}-{c.id}" for g, c in WITHOUT_DB])
def test_bad_input_creates_no_file(group: str, case: Case, tmp_path: Path) -> None:
    write_files(tmp_path, case.files)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = run_cli(expand(case.args, tmp_path, ""), case.env)
    assert_clean_failure(result, case.status, tuple(expand(case.expect, tmp_path, "")))
    assert sorted(p.name for p in tmp_path.rglob("*")) == before, "a file was created"


def test_every_group_has_eight_cases() -> None:
    groups = ("workflow", "command", "config", "database")
    counts = {g: sum(1 for group, _ in ALL if group == g) for g in groups}
    counts["guest"] = len(GUEST_CASES) + len(API_CASES)
    assert all(n >= 8 for n in counts.values()), counts


# --- the Python API ---------------------------------------------------------------


@pytest.fixture
def seeded(db_url: str) -> str:
    _seed(db_url)
    return db_url


API_CASES = {
    "datapoint-inf": (
        lambda e: e.record_data_point("QI-0001", "Missed doses", math.inf, actor=OWNER),
        "value",
    ),
    "datapoint-huge-int": (
        lambda e: e.record_data_point("QI-0001", "Missed doses", 10**400, actor=OWNER),
        "value",
    ),
    "datapoint-naive-time": (
        lambda e: e.record_data_point(
            "QI-0001", "Missed doses", 3, actor=OWNER, observed_at=datetime(2026, 1, 5, 9)
        ),
        "observed_at",
    ),
    "saving-1e20": (
        lambda e: e.update_project("QI-0001", actor=OWNER, expected_saving=10**20),
        "expected_saving",
    ),
    "title-nul": (lambda e: e.create_project("a\x00b", actor=OWNER), "title"),
    "fire-data-nan": (
        lambda e: e.fire("QI-0001", "pause", actor=OWNER, data={"why": math.nan}),
        "data",
    ),
    "fire-data-datetime": (
        lambda e: e.fire("QI-0001", "pause", actor=OWNER, data={"when": datetime(2026, 1, 1)}),
        "data",
    ),
    "fire-data-big-int": (
        lambda e: e.fire("QI-0001", "pause", actor=OWNER, data={"n": 2**60}),
        "data",
    ),
    "fire-data-key-nul": (
        lambda e: e.fire("QI-0001", "pause", actor=OWNER, data={"a\x00": 1}),
        "data",
    ),
    "review-notes-1mb": (
        lambda e: e.record_review("QI-0001", actor=OWNER, notes=MEGABYTE),
        "notes",
    ),
}


@pytest.mark.parametrize("name", sorted(API_CASES))
def test_bad_api_input(name: str, seeded: str) -> None:
    call, field_name = API_CASES[name]
    with Engine(seeded, clock=ManualClock()) as engine:
        before = dump(seeded)
        with pytest.raises(ValidationError) as caught:
            call(engine)
        assert field_name in str(caught.value)
        assert "\n" not in str(caught.value)
        assert dump(seeded) == before


def test_naive_clock_is_refused() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        ManualClock(datetime(2026, 1, 5, 9))


@pytest.mark.parametrize("url", ["not a url", "mysql://u@localhost/qi", "oracle://x"])
def test_engine_refuses_unsupported_urls(url: str) -> None:
    with pytest.raises(QiflowError, match="sqlite:///") as caught:
        Engine(url)
    assert "postgresql://" in str(caught.value)


# --- a guest in a host service: what an embedding service may hand qiflow -------------


class NaiveClock:
    """A host's clock that forgets the time zone."""

    def now(self) -> datetime:
        return datetime(2026, 1, 5, 9, 0)


def _engine_call(call: Callable[[Engine], object]) -> Callable[[str], object]:
    def run(url: str) -> object:
        with Engine(url, clock=ManualClock()) as engine:
            return call(engine)

    return run


def _fire_with_naive_clock(url: str) -> object:
    with Engine(url, clock=NaiveClock()) as engine:
        return engine.fire("QI-0001", "pause", actor=OWNER)


def _newer(url: str) -> object:
    execute(url, NEWER)
    return Engine(url, migrate=True)


GUEST_CASES: dict[str, tuple[Callable[[str], object], tuple[str, ...]]] = {
    "naive-observed-at": (
        _engine_call(
            lambda e: e.record_data_point(
                "QI-0001", "Missed doses", 3, actor=OWNER, observed_at=datetime(2026, 1, 5, 9)
            )
        ),
        ("observed_at", "time zone"),
    ),
    "naive-manual-clock": (lambda _url: ManualClock(datetime(2026, 1, 5, 9)), ("time zone",)),
    "naive-clock-set": (lambda _url: ManualClock().set(datetime(2026, 1, 5, 9)), ("time zone",)),
    "clock-returns-naive": (_fire_with_naive_clock, ("clock", "time zone")),
    "newer-schema-migrate": (_newer, ("9999", "newer", "0")),
    "engine-not-a-url": (lambda _url: Engine("not a url"), ("not a url", "sqlite:///")),
    "engine-mysql": (lambda _url: Engine("mysql://u@localhost/qi"), ("mysql", "postgresql://")),
    "engine-missing-file": (
        lambda _url: Engine("sqlite:///./no-such-dir-qiflow/typo.db"),
        ("typo.db", "qiflow init"),
    ),
    "fire-data-nan": (
        _engine_call(lambda e: e.fire("QI-0001", "pause", actor=OWNER, data={"x": math.nan})),
        ("data.x", "finite"),
    ),
    "fire-data-object": (
        _engine_call(lambda e: e.fire("QI-0001", "pause", actor=OWNER, data={"x": object()})),
        ("data.x", "JSON"),
    ),
}


@pytest.mark.parametrize("name", sorted(GUEST_CASES))
def test_a_guest_refuses_bad_input_quietly(
    name: str, seeded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    call, words = GUEST_CASES[name]
    before = dump(seeded)
    with pytest.raises(QiflowError) as caught:
        call(seeded)
    message = str(caught.value)
    assert all(word in message for word in words), message
    assert "\n" not in message
    if name != "newer-schema-migrate":
        assert dump(seeded) == before
    assert capsys.readouterr() == ("", ""), "qiflow printed something"
    assert not Path("no-such-dir-qiflow").exists()


def test_library_use_prints_nothing(
    seeded: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Commands log through the standard library's logging, and show nothing unless the
    host configures it."""
    caplog.set_level(logging.INFO, logger="qiflow")
    with Engine(seeded, clock=ManualClock()) as engine:
        engine.fire("QI-0001", "pause", actor=OWNER)
    assert capsys.readouterr() == ("", "")
    (record,) = [r for r in caplog.records if r.name == "qiflow"]
    assert record.qiflow["event"] == "command"  # type: ignore[attr-defined]
    assert record.qiflow["project"] == "QI-0001"  # type: ignore[attr-defined]
    assert "project='QI-0001'" in record.getMessage()


def test_every_module_logs_through_qiflow_logs() -> None:
    """structlog's own default prints to stdout; qiflow.logs.get_logger goes to logging."""
    root = Path(__file__).resolve().parents[1] / "qiflow"
    direct = [
        str(path.relative_to(root.parent))
        for path in root.rglob("*.py")
        if path.name != "logs.py" and "structlog" in path.read_text(encoding="utf-8")
    ]
    assert direct == []
