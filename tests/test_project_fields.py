"""Issue 10: project fields declared by plugins, stored, validated, audited and readable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qiflow import (
    Engine,
    ManualClock,
    ProjectField,
    ValidationError,
    hookimpl,
)
from tests.helpers import OWNER, new_project


def steward_problem(value: object) -> str | None:
    return None if str(value).islower() else "data_steward is a lower-case person id"


class FieldsPlugin:
    @hookimpl
    def qiflow_project_fields(self) -> list[ProjectField]:
        return [
            ProjectField("uses_pid", "bool", label="Uses patient-identifiable data"),
            ProjectField("data_steward", "text", validate=steward_problem, label="Steward"),
            ProjectField("band", "int", choices=(1, 2, 3), help="Information risk band"),
        ]


@pytest.fixture
def fields_engine(db_url: str, clock: ManualClock) -> Iterator[Engine]:
    with Engine(db_url, clock=clock, plugins=[FieldsPlugin()]) as engine:
        yield engine


def test_fields_are_set_stored_audited_and_replayed(fields_engine: Engine) -> None:
    ref = new_project(fields_engine).ref
    assert fields_engine.get(ref).fields == {}
    done = fields_engine.update_project(
        ref, actor=OWNER, fields={"uses_pid": True, "data_steward": " dana "}, team="Ward 7"
    )
    assert done.fields == {"uses_pid": True, "data_steward": "dana"}
    assert fields_engine.get(ref).fields == {"uses_pid": True, "data_steward": "dana"}
    [updated] = [e for e in fields_engine.history(ref) if e.type == "project.updated"]
    assert updated.payload["changes"] == {
        "team": "Ward 7",
        "fields": {"uses_pid": True, "data_steward": "dana"},
    }
    fields_engine.update_project(ref, actor=OWNER, fields={"uses_pid": True, "band": 2})
    last = fields_engine.history(ref)[-1]
    assert last.payload["changes"] == {"fields": {"band": 2}}  # only what changed
    cleared = fields_engine.update_project(ref, actor=OWNER, fields={"data_steward": None})
    assert cleared.fields == {"uses_pid": True, "band": 2}
    assert fields_engine.verify_audit() == []  # the row is what the events replay to


def test_every_bad_field_is_named_and_nothing_is_written(fields_engine: Engine) -> None:
    ref = new_project(fields_engine).ref
    before = fields_engine.get(ref)
    with pytest.raises(ValidationError) as caught:
        fields_engine.update_project(
            ref,
            actor=OWNER,
            fields={"uses_pid": "yes", "band": 5, "data_steward": "Dana", "colour": "red"},
            scale="galactic",
        )
    expected = {
        "scale 'galactic' is not one of team, service, directorate, multi_directorate, "
        "trust_wide, system",
        "field uses_pid must be bool, not 'yes'",
        "field band: 5 is not one of 1, 2, 3",
        "data_steward is a lower-case person id",
    }
    [unknown] = set(caught.value.problems) - expected  # and every expected one is there
    assert len(caught.value.problems) == len(expected) + 1
    # installed plugins (qiflow-caldicott) may declare more fields than this test's
    assert unknown.startswith("unknown project field 'colour' (plugin fields: band, data_steward")
    assert fields_engine.get(ref) == before
    with pytest.raises(ValidationError, match="must be int"):
        fields_engine.update_project(ref, actor=OWNER, fields={"band": True})


def test_a_field_named_like_a_built_in_one_is_refused(db_url: str) -> None:
    class Clash:
        @hookimpl
        def qiflow_project_fields(self) -> list[ProjectField]:
            return [ProjectField("scale"), ProjectField("x", "date")]

    with pytest.raises(ValidationError) as caught:
        Engine(db_url, plugins=[Clash()])
    assert caught.value.problems == (
        "project field 'scale' clashes with a built-in field or is not a name",
        "project field 'x': type 'date' is not one of text, bool, int",
    )


def test_command_line_text_is_parsed_by_the_field_type() -> None:
    flag, band = ProjectField("f", "bool"), ProjectField("b", "int")
    assert [flag.parse(t) for t in ("yes", "False", "1", "")] == [True, False, True, None]
    assert band.parse("3") == 3
    with pytest.raises(ValidationError, match="true or false"):
        flag.parse("maybe")
    with pytest.raises(ValidationError, match="whole number"):
        band.parse("three")


def test_fields_can_be_set_when_the_project_is_created(fields_engine: Engine) -> None:
    created = fields_engine.create_project(
        "Safer nights",
        actor=OWNER,
        owner=OWNER,
        fields={"uses_pid": True, "data_steward": " dana ", "band": None},
    )
    assert created.fields == {"uses_pid": True, "data_steward": "dana"}
    assert fields_engine.get(created.ref).fields == created.fields
    [event] = fields_engine.history(created.ref)
    assert event.type == "project.created"
    assert event.payload["fields"] == {"uses_pid": True, "data_steward": "dana"}
    assert fields_engine.verify_audit() == []
    with pytest.raises(ValidationError, match="field band: 5 is not one of 1, 2, 3"):
        fields_engine.create_project("Bad band", actor=OWNER, fields={"band": 5})
    assert [p.ref for p in fields_engine.projects()] == [created.ref]  # nothing written


def test_project_create_takes_fields_on_the_command_line(db_url: str) -> None:
    """Through the installed qiflow-caldicott plugin's field, as a user would."""
    from click.testing import CliRunner

    from qiflow.cli import main

    env = {"QIFLOW_ACTOR": OWNER, "QIFLOW_PLUGINS": "caldicott", "QIFLOW_CONFIG": ""}
    runner = CliRunner()
    args = ["--db", db_url, "project", "create", "Safer nights", "--owner", OWNER]
    done = runner.invoke(
        main, [*args, "--field", "uses_patient_identifiable_data=yes", "--json"], env=env
    )
    assert done.exit_code == 0, done.output
    with Engine(db_url, allow_plugins=["caldicott"]) as engine:
        (project,) = engine.projects()
        assert project.fields == {"uses_patient_identifiable_data": True}
    refused = runner.invoke(main, [*args, "--field", "colour=red"], env=env)
    assert refused.exit_code == 2
    assert "--field 'colour': no such field" in refused.output
