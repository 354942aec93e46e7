"""Workflow files: every kind of malformed file is reported with its file, key and message.

The corpus in ``tests/workflow_corpus/`` holds one small workflow per kind of defect. Each
file starts with ``# expect: <key> :: <substring of the message>`` lines naming the problems
``qiflow workflow validate`` must report for it (an empty key is a problem with the whole
file, such as malformed TOML).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from qiflow.cli import main
from qiflow.durations import Duration, parse_duration
from qiflow.lifecycle.vocabulary import vocabulary
from qiflow.plugins import get_plugin_manager
from qiflow.workflow import PREVIOUS, Problem, Vocabulary, load_directory, load_file
from qiflow.workflow import parse_workflow as _parse_workflow
from qiflow.workflow.catalog import default_workflows_dir

CORPUS = Path(__file__).parent / "workflow_corpus"
CORPUS_FILES = sorted(CORPUS.glob("*.toml"))
EXPECT = re.compile(r"^#\s*expect:\s*(?P<key>\S*)\s*::\s*(?P<message>.+?)\s*$")
SHIPPED_STATES = (
    "idea",
    "diagnosis",
    "measurement_plan",
    "pdsa_testing",
    "adopted",
    "spreading",
    "sustained",
    "abandoned",
    "on_hold",
)


def expectations(path: Path) -> list[tuple[str, str]]:
    """The ``(key, message substring)`` pairs a corpus file's header comments promise."""
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        match = EXPECT.match(line)
        if match:
            found.append((match["key"], match["message"]))
    return found


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return vocabulary(get_plugin_manager())


def parse(text: str, vocab: Vocabulary, path: str = "probe.toml") -> tuple[object, list[Problem]]:
    return _parse_workflow(text, path, vocab)


def matches(problems: list[Problem], key: str, message: str) -> bool:
    return any(p.key == key and message in p.message for p in problems)


def show(problems: list[Problem]) -> str:
    return "\n".join(f"  {p.key!r}: {p.message}" for p in problems) or "  (no problems)"


# --- the corpus ------------------------------------------------------------------------------


def test_corpus_covers_at_least_ten_kinds() -> None:
    malformed = [p for p in CORPUS_FILES if p.name != "many_problems.toml"]
    assert len(malformed) >= 10
    assert (CORPUS / "many_problems.toml").is_file()


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.stem)
def test_corpus_file_starts_with_its_expectations(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert EXPECT.match(first), f"{path.name} must start with '# expect: <key> :: <message>'"


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.stem)
def test_corpus_file_reports_its_problem(path: Path, vocab: Vocabulary) -> None:
    workflow, problems = load_file(path, vocab)
    assert workflow is None
    assert problems
    for key, message in expectations(path):
        assert matches(problems, key, message), (
            f"{path.name}: expected a problem at {key!r} containing {message!r}; got:\n"
            + show(problems)
        )
    for problem in problems:
        assert problem.path == str(path)
        assert str(problem).startswith(f"{path}: ")


def test_malformed_toml_names_line_and_column(vocab: Vocabulary) -> None:
    _workflow, problems = load_file(CORPUS / "malformed_toml.toml", vocab)
    assert len(problems) == 1
    assert "line 7, column 6" in problems[0].message


def test_tables_are_checked_by_the_modules_that_registered_a_check(vocab: Vocabulary) -> None:
    shipped = (default_workflows_dir() / "qi_project.toml").read_text(encoding="utf-8")
    assert "[reminders]" not in shipped
    text = shipped + '\n[reminders]\nsponsor_after = "soon"\n'
    _workflow, problems = parse(text, vocab)
    assert [(p.key, p.message.split(":")[0]) for p in problems] == [("reminders", "sponsor_after")]
    # Without the check qiflow.notify.reminders registers, the table is not accepted blindly.
    unchecked = Vocabulary(**{**vars(vocab), "table_checks": {}})
    _workflow, problems = parse(text, unchecked)
    assert [(p.key, p.message) for p in problems] == [
        ("escalation", "no installed module reads this table"),  # the shipped [escalation]
        ("reminders", "no installed module reads this table"),
    ]


def test_many_problems_are_all_reported_in_one_run(vocab: Vocabulary) -> None:
    path = CORPUS / "many_problems.toml"
    expected = expectations(path)
    assert len({key for key, _ in expected}) >= 4
    workflow, problems = load_file(path, vocab)
    assert workflow is None
    missing = [(k, m) for k, m in expected if not matches(problems, k, m)]
    assert not missing, f"not reported: {missing}; got:\n{show(problems)}"


def test_each_corpus_file_is_otherwise_valid(vocab: Vocabulary) -> None:
    """Files that declare one defect report only problems about that defect's key."""
    for path in CORPUS_FILES:
        if path.name in {"many_problems.toml", "missing_dest.toml"}:
            continue  # several defects; a missing dest also strands its source state
        _workflow, problems = load_file(path, vocab)
        keys = {key for key, _ in expectations(path)}
        assert {p.key for p in problems} <= keys, f"{path.name}:\n{show(problems)}"


# --- the command line ------------------------------------------------------------------------


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Run ``qiflow`` in-process, with the shipped workflows."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(main, list(args), env={"QIFLOW_WORKFLOWS_DIR": None})

    return invoke


def test_validate_shipped_workflows_is_clean(cli: Callable[..., Result]) -> None:
    result = cli("workflow", "validate")
    assert result.exit_code == 0, result.output
    assert "ok:" in result.stdout
    assert "qi_project.toml: qi_project version 1" in result.stdout
    assert result.stderr == ""


def test_shipped_workflows_load_without_problems(vocab: Vocabulary) -> None:
    workflows, problems = load_directory([default_workflows_dir()], vocab)
    assert problems == []
    assert [w.key for w in workflows] == [("qi_project", 1), ("qi_project", 2)]


@pytest.mark.parametrize(
    "path", [p for p in CORPUS_FILES if p.name != "many_problems.toml"], ids=lambda p: p.stem
)
def test_validate_corpus_file_fails_with_its_message(
    path: Path, cli: Callable[..., Result]
) -> None:
    result = cli("workflow", "validate", str(path))
    assert result.exit_code == 1, result.output
    assert "ok:" not in result.stdout
    for key, message in expectations(path):
        where = f"{path}: {key}: " if key else f"{path}: "
        assert any(
            line.startswith(where) and message in line for line in result.stderr.splitlines()
        ), f"expected {where!r}...{message!r} in:\n{result.stderr}"
    assert "problem(s) found" in result.stderr


def test_validate_reports_every_problem_at_once(cli: Callable[..., Result]) -> None:
    path = CORPUS / "many_problems.toml"
    result = cli("workflow", "validate", str(path))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    for key, message in expectations(path):
        assert any(line.startswith(f"{path}: {key}: ") and message in line for line in lines)


def test_validate_several_files_reports_all_and_ok_ones(cli: Callable[..., Result]) -> None:
    good = default_workflows_dir() / "qi_project.toml"
    bad = [CORPUS / "unknown_guard.toml", CORPUS / "bad_duration.toml"]
    result = cli("workflow", "validate", str(bad[0]), str(good), str(bad[1]))
    assert result.exit_code == 1
    assert f"ok: {good}: qi_project version 1" in result.stdout
    for path in bad:
        assert str(path) in result.stderr
    assert "2 problem(s) found" in result.stderr


def test_validate_json_lists_problems(cli: Callable[..., Result]) -> None:
    path = CORPUS / "many_problems.toml"
    result = cli("workflow", "validate", "--json", str(path))
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] == []
    problems = report["problems"]
    assert all(set(p) == {"file", "key", "message"} for p in problems)
    assert all(p["file"] == str(path) for p in problems)
    for key, message in expectations(path):
        assert any(p["key"] == key and message in p["message"] for p in problems)


def test_validate_json_on_shipped_workflows(cli: Callable[..., Result]) -> None:
    result = cli("workflow", "validate", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "valid": ["qi_project v1", "qi_project v2"],
        "problems": [],
    }


def test_validate_missing_path(cli: Callable[..., Result], tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    result = cli("workflow", "validate", str(missing))
    assert result.exit_code == 1
    assert f"{missing}: no such file or directory" in result.stderr


def test_show_mermaid(cli: Callable[..., Result]) -> None:
    result = cli("workflow", "show", "--format", "mermaid")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("stateDiagram-v2")
    assert 'state "idea" as s_idea' in result.stdout
    assert "s_idea --> s_diagnosis: diagnose [owner_and_sponsor_set]" in result.stdout
    assert "[*] --> s_idea" in result.stdout
    assert "s_sustained --> [*]" in result.stdout
    assert "s_adopted --> s_spreading: spread [extreme_risks_reviewed, gate qeia]" in result.stdout
    assert "s_on_hold --> r_on_hold: resume" in result.stdout
    assert "note left of s_on_hold: pause from any active state" in result.stdout


def test_show_text_lists_every_state(cli: Callable[..., Result]) -> None:
    result = cli("workflow", "show", "qi_project", "--format", "text")
    assert result.exit_code == 0, result.output
    listed = result.stdout.split("transitions:")[0]
    for state in SHIPPED_STATES:
        assert re.search(rf"^  {state}\b", listed, re.MULTILINE), state
    assert "idea (initial, review every P30D)" in result.stdout
    assert "resume: on_hold -> the previous state" in result.stdout
    assert "pause: any active state -> on_hold" in result.stdout


def test_show_unknown_workflow_names_the_known_ones(cli: Callable[..., Result]) -> None:
    result = cli("workflow", "show", "nosuch")
    assert result.exit_code != 0
    assert "no workflow 'nosuch'" in result.stderr
    assert "qi_project v1" in result.stderr


# --- directories, custom workflows -----------------------------------------------------------

VALID = """\
name = "{name}"
version = {version}
title = "Custom"
roles = ["reviewer"]

[[states]]
name = "draft"
initial = true
review = "P1W"

[[states]]
name = "in_review"
review = "PT12H"

[[states]]
name = "on_hold"
review = "P3M"

[[states]]
name = "approved"
final = true

[[states]]
name = "withdrawn"
final = true

[[transitions]]
trigger = "submit"
source = "draft"
dest = "in_review"
roles = ["owner"]
requires = ["owner_and_sponsor_set"]

[[transitions]]
trigger = "approve"
source = "in_review"
dest = "approved"
roles = ["reviewer"]
effects = ["record_act_decision"]
on = "review.recorded"

[[transitions]]
trigger = "withdraw"
source = ["draft", "in_review"]
dest = "withdrawn"

[[transitions]]
trigger = "pause"
source = "*"
dest = "on_hold"

[[transitions]]
trigger = "resume"
source = "on_hold"
dest = "@previous"
"""


def test_duplicate_name_and_version_across_files(tmp_path: Path, vocab: Vocabulary) -> None:
    (tmp_path / "a.toml").write_text(VALID.format(name="custom", version=1), encoding="utf-8")
    (tmp_path / "b.toml").write_text(VALID.format(name="custom", version=1), encoding="utf-8")
    (tmp_path / "c.toml").write_text(VALID.format(name="custom", version=2), encoding="utf-8")
    workflows, problems = load_directory([tmp_path], vocab)
    assert [w.key for w in workflows] == [("custom", 1), ("custom", 2)]
    assert len(problems) == 1
    problem = problems[0]
    assert problem.path == str(tmp_path / "b.toml")
    assert problem.key == "version"
    assert "custom version 1 is also defined in" in problem.message
    assert str(tmp_path / "a.toml") in problem.message


def test_duplicate_name_and_version_through_cli(tmp_path: Path, cli: Callable[..., Result]) -> None:
    for name in ("a.toml", "b.toml"):
        (tmp_path / name).write_text(VALID.format(name="custom", version=3), encoding="utf-8")
    result = cli("workflow", "validate", str(tmp_path))
    assert result.exit_code == 1
    assert f"{tmp_path / 'b.toml'}: version: custom version 3 is also defined in" in result.stderr


def test_custom_workflow_with_any_source_and_previous_validates(
    tmp_path: Path, vocab: Vocabulary, cli: Callable[..., Result]
) -> None:
    path = tmp_path / "custom.toml"
    path.write_text(VALID.format(name="custom", version=1), encoding="utf-8")
    workflow, problems = load_file(path, vocab)
    assert problems == []
    assert workflow is not None
    pause = next(t for t in workflow.transitions if t.trigger == "pause")
    assert pause.any_source
    assert pause.sources == ("draft", "in_review")  # every non-final state but the destination
    resume = next(t for t in workflow.transitions if t.trigger == "resume")
    assert resume.dest == PREVIOUS
    assert workflow.roles == ("reviewer",)
    result = cli("workflow", "validate", str(path))
    assert result.exit_code == 0, result.output
    assert f"ok: {path}: custom version 1" in result.stdout


def test_custom_workflow_shows_through_workflows_option(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    (tmp_path / "custom.toml").write_text(VALID.format(name="custom", version=2), encoding="utf-8")
    result = cli("--workflows", str(tmp_path), "workflow", "show", "custom", "--format", "mermaid")
    assert result.exit_code == 0, result.output
    assert "%% custom version 2" in result.stdout
    assert "s_draft --> s_in_review: submit [owner_and_sponsor_set]" in result.stdout


def test_any_source_duplicates_an_explicit_trigger(vocab: Vocabulary) -> None:
    text = VALID.format(name="custom", version=1) + (
        '\n[[transitions]]\ntrigger = "pause"\nsource = "draft"\ndest = "withdrawn"\n'
    )
    _workflow, problems = parse(text, vocab)
    assert matches(
        problems, "transitions[5].trigger", "duplicate trigger 'pause' from state 'draft'"
    ), show(problems)


# --- known bugs (see each test's comment) ----------------------------------------------------

MINIMAL = """\
name = "probe"
version = 1

[[states]]
name = "start"
initial = true

[[states]]
name = "done"
final = true

[[transitions]]
trigger = "finish"
source = "start"
dest = "done"
"""


# Regression test for a bug the first version of the loader had.
@pytest.mark.parametrize(
    ("text", "key"),
    [
        (MINIMAL.replace('name = "probe"', 'name = ""'), "name"),
        (MINIMAL.replace('trigger = "finish"', 'trigger = ""'), "transitions[0].trigger"),
        (
            MINIMAL + '\n[[transitions]]\ntrigger = "x"\nsource = "start"\ndest = ""\n',
            "transitions[1].dest",
        ),
        (MINIMAL + '\n[[states]]\nname = ""\n', "states[2].name"),
    ],
    ids=["top-name", "trigger", "dest", "state-name"],
)
def test_empty_required_string_is_a_problem(text: str, key: str, vocab: Vocabulary) -> None:
    workflow, problems = parse(text, vocab)
    assert workflow is None
    assert matches(problems, key, "is required"), show(problems)


# Regression test for a bug the first version of the loader had.
def test_non_string_review_is_reported_once(vocab: Vocabulary) -> None:
    text = MINIMAL.replace("initial = true", "initial = true\nreview = 14")
    _workflow, problems = parse(text, vocab)
    at_review = [p for p in problems if p.key == "states[0].review"]
    assert [p.message for p in at_review] == ["must be a string, not int"]


# Regression test for a bug the first version of the loader had.
def test_huge_review_duration_is_a_problem_not_a_crash(vocab: Vocabulary) -> None:
    text = MINIMAL.replace("initial = true", 'initial = true\nreview = "P9999999999D"')
    workflow, problems = parse(text, vocab)
    assert workflow is None
    assert any(p.key == "states[0].review" for p in problems)


# Regression test for a bug the first version of the loader had.
def test_duration_rejects_non_ascii_digits() -> None:
    with pytest.raises(ValueError, match="not an ISO-8601 duration"):
        parse_duration("P\u0661\u0664D")


# Regression test for a bug the first version of the loader had.
def test_state_with_only_a_self_loop_has_no_way_out(vocab: Vocabulary) -> None:
    text = MINIMAL + (
        '\n[[states]]\nname = "loop"\n'
        '\n[[transitions]]\ntrigger = "go"\nsource = "start"\ndest = "loop"\n'
        '\n[[transitions]]\ntrigger = "again"\nsource = "loop"\ndest = "loop"\n'
    )
    _workflow, problems = parse(text, vocab)
    assert matches(problems, "states.loop", "non-final state with no way out"), show(problems)


# Regression test for a bug the first version of the loader had.
def test_unknown_state_beside_any_source_is_reported(vocab: Vocabulary) -> None:
    text = MINIMAL + (
        '\n[[states]]\nname = "hold"\n'
        '\n[[transitions]]\ntrigger = "pause"\nsource = ["*", "limbo"]\ndest = "hold"\n'
        '\n[[transitions]]\ntrigger = "resume"\nsource = "hold"\ndest = "@previous"\n'
    )
    _workflow, problems = parse(text, vocab)
    assert matches(problems, "transitions[1].source", "limbo"), show(problems)


# --- durations -------------------------------------------------------------------------------


def test_parse_days() -> None:
    duration = parse_duration("P14D")
    assert duration == Duration(text="P14D", months=0, delta=timedelta(days=14))
    assert str(duration) == "P14D"
    assert duration.after(datetime(2024, 3, 1, 9, 30)) == datetime(2024, 3, 15, 9, 30)


def test_parse_months_adds_calendar_months() -> None:
    duration = parse_duration("P3M")
    assert duration.months == 3
    assert duration.delta == timedelta(0)
    assert duration.after(datetime(2024, 1, 15, 8)) == datetime(2024, 4, 15, 8)
    assert duration.after(datetime(2024, 11, 30)) == datetime(2025, 2, 28)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (datetime(2023, 1, 31, 12), datetime(2023, 2, 28, 12)),
        (datetime(2024, 1, 31, 12), datetime(2024, 2, 29, 12)),
        (datetime(2024, 3, 31), datetime(2024, 4, 30)),
        (datetime(2024, 12, 31), datetime(2025, 1, 31)),
    ],
)
def test_one_month_clamps_to_month_end(start: datetime, expected: datetime) -> None:
    assert parse_duration("P1M").after(start) == expected


def test_parse_years_are_twelve_months() -> None:
    duration = parse_duration("P1Y")
    assert duration.months == 12
    assert duration.after(datetime(2024, 2, 29)) == datetime(2025, 2, 28)


def test_parse_hours() -> None:
    duration = parse_duration("PT12H")
    assert duration.months == 0
    assert duration.delta == timedelta(hours=12)
    assert duration.after(datetime(2024, 1, 1, 18)) == datetime(2024, 1, 2, 6)


def test_parse_weeks() -> None:
    duration = parse_duration("P1W")
    assert duration.delta == timedelta(days=7)
    assert duration.months == 0


def test_parse_combined_and_lower_case() -> None:
    duration = parse_duration(" p1m2dt3h4m5s ")
    assert duration.text == "P1M2DT3H4M5S"
    assert duration.months == 1
    assert duration.delta == timedelta(days=2, hours=3, minutes=4, seconds=5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("14 days", "not an ISO-8601 duration"),
        ("P", "not an ISO-8601 duration"),
        ("PT", "not an ISO-8601 duration"),
        ("P1DT", "not an ISO-8601 duration"),
        ("", "not an ISO-8601 duration"),
        ("P1.5D", "not an ISO-8601 duration"),
        ("P-1D", "not an ISO-8601 duration"),
        ("14D", "not an ISO-8601 duration"),
        ("P0D", "zero duration"),
        ("PT0H0M", "zero duration"),
    ],
)
def test_parse_duration_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_duration(text)
    assert repr(text) in str(info.value)


@given(
    months=st.integers(min_value=1, max_value=240),
    start=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 12, 31)),
)
def test_months_never_overshoot_the_target_month(months: int, start: datetime) -> None:
    after = parse_duration(f"P{months}M").after(start)
    assert (after.year * 12 + after.month) - (start.year * 12 + start.month) == months
    assert after.day <= start.day
    assert after.time() == start.time()
