"""Measures in the lifecycle: chart settings, signals as events, workflows that react,
routing, the improvement requirements, CSV imports, rebases and progress scores.

Expected limits are worked out by hand in the comments (the arithmetic of XmR charts:
mean +/- 2.66 x the average moving range), never by the code under test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine as SqlEngine

from qiflow import Engine, GuardFailed, ManualClock, ValidationError, WorkflowDefinitionError
from qiflow.notify.civil_time import parse_window
from qiflow.notify.reminders import ReminderPolicy
from tests.helpers import (
    BASELINE,
    IMPROVED,
    OWNER,
    SPONSOR,
    drive_to,
    new_project,
    pass_qeia,
    to_pdsa_testing,
    weekly_csv,
)

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 1, 5, tzinfo=UTC)
#: 10, 12, 10, 12 ...: mean 11, every moving range 2, so limits 11 +/- 5.32 = 5.68 and
#: 16.32, and no rule fires on them (no point outside, no run of 7 on one side, no trend).
EVEN = [10.0, 12.0] * 6


def record(engine: Engine, ref: str, measure: str, values: list[float], first: int = 0) -> None:
    for offset, value in enumerate(values):
        at = START + timedelta(weeks=first + offset)
        engine.record_data_point(ref, measure, value, actor=OWNER, observed_at=at)


def signals(engine: Engine, ref: str) -> list[dict[str, object]]:
    return [dict(e.payload) for e in engine.history(ref) if e.type == "measure.signal"]


def started(engine: Engine) -> str:
    project = to_pdsa_testing(engine, new_project(engine))
    return project.ref


def test_a_new_special_cause_or_icon_appends_one_signal(engine: Engine) -> None:
    ref = started(engine)
    engine.configure_measure(ref, "Missed doses", actor=OWNER, baseline_points=12)
    record(engine, ref, "Missed doses", EVEN)
    assert signals(engine, ref) == []  # 12 points of common cause: nothing to tell
    chart = engine.measure_chart(ref, "Missed doses")
    assert (chart.chart, chart.variation_icon) == ("xmr", "common_cause")
    assert chart.xmr is not None
    assert chart.xmr.points[-1].lpl == pytest.approx(5.68)
    assert chart.xmr.points[-1].upl == pytest.approx(16.32)

    record(engine, ref, "Missed doses", [2.0], first=12)  # below 5.68; lower is better
    record(engine, ref, "Missed doses", [11.0], first=13)  # back inside: common cause
    record(engine, ref, "Missed doses", [11.5], first=14)  # nothing changes
    record(engine, ref, "Missed doses", [17.0], first=15)  # above 16.32: a concern
    found = signals(engine, ref)
    assert [(s["kind"], s["rule"], s["variation_icon"]) for s in found] == [
        ("improvement", "outside_limits", "improvement_low"),
        ("neutral", None, "common_cause"),
        ("concern", "outside_limits", "concern_high"),
    ]
    assert found[0]["measure"] == "Missed doses"
    assert found[0]["measure_kind"] == "outcome"
    assert found[0]["points"] == 13
    assert engine.verify_audit() == []


def test_a_run_chart_signals_before_twelve_points(engine: Engine) -> None:
    """Fewer than 12 points show a run chart; a point newly part of a trend (5 going one
    way) is a signal with the run-chart rule, and no icons. (A shift of 6 on one side of
    the median needs 12 points or more, by when the chart is XmR.)"""
    ref = started(engine)
    record(engine, ref, "Missed doses", [20, 21, 19, 22])
    assert signals(engine, ref) == []
    record(engine, ref, "Missed doses", [20, 18, 16, 13], first=4)  # 22 down to 13: 5 points
    chart = engine.measure_chart(ref, "Missed doses")
    assert chart.chart == "run"
    assert chart.run is not None
    assert "trend" in chart.run.signals
    found = signals(engine, ref)
    assert [(s["kind"], s["rule"], s["points"]) for s in found] == [("improvement", "trend", 8)]
    assert (found[0]["variation_icon"], found[0]["assurance_icon"]) == (None, None)
    record(engine, ref, "Missed doses", [12], first=8)  # the trend goes on
    assert len(signals(engine, ref)) == 2  # the new point is newly part of the trend
    record(engine, ref, "Missed doses", [14, 13, 12], first=9)  # the 12th point: XmR, afresh
    assert engine.measure_chart(ref, "Missed doses").chart == "xmr"
    assert all(s["variation_icon"] is not None for s in signals(engine, ref)[2:])
    assert engine.verify_audit() == []


def test_a_target_gives_an_assurance_icon_and_its_change_is_a_signal(engine: Engine) -> None:
    ref = started(engine)
    engine.configure_measure(ref, "Missed doses", actor=OWNER, target=8.0, baseline_points=12)
    record(engine, ref, "Missed doses", EVEN)
    # 8 lies between the limits 5.68 and 16.32: the process may or may not meet it
    [first] = signals(engine, ref)
    assert (first["kind"], first["assurance_icon"]) == ("neutral", "inconsistent")
    engine.configure_measure(ref, "Missed doses", actor=OWNER, target=4.0)
    # 4 is below the lower limit and lower is better: the process will not reach it
    assert signals(engine, ref)[-1]["assurance_icon"] == "fail"
    assert signals(engine, ref)[-1]["kind"] == "concern"


def test_a_workflow_reacts_to_a_concern(db_url: str, clock: ManualClock, tmp_path: Path) -> None:
    text = (ROOT / "workflows" / "qi_project_v2.toml").read_text(encoding="utf-8")
    text += (
        '\n[[transitions]]\ntrigger = "hold_on_concern"\nsource = "pdsa_testing"\n'
        'dest = "on_hold"\non = "measure.signal:concern"\n'
    )
    (tmp_path / "react.toml").write_text(text, encoding="utf-8")
    with Engine(db_url, clock=clock, workflows_dir=tmp_path) as engine:
        ref = started(engine)
        engine.configure_measure(ref, "Clinic time", actor=OWNER, baseline_points=12)
        record(engine, ref, "Clinic time", EVEN)
        assert engine.get(ref).state == "pdsa_testing"
        record(engine, ref, "Clinic time", [30.0], first=12)  # longer clinics: a concern
        held = engine.get(ref)
        assert (held.state, held.previous_state) == ("on_hold", "pdsa_testing")
        last = engine.history(ref)[-1]
        assert (last.type, last.payload["automatic"]) == ("project.transitioned", True)
        assert last.payload["data"] == {"on": "measure.signal:concern"}


def test_the_loader_refuses_an_unknown_signal_kind(tmp_path: Path) -> None:
    text = (ROOT / "workflows" / "qi_project_v2.toml").read_text(encoding="utf-8")
    text += (
        '\n[[transitions]]\ntrigger = "worry"\nsource = "pdsa_testing"\n'
        'dest = "on_hold"\non = "measure.signal:worry"\n'
    )
    (tmp_path / "bad.toml").write_text(text, encoding="utf-8")
    with pytest.raises(WorkflowDefinitionError, match="unknown signal kind 'worry'"):
        Engine(f"sqlite:///{tmp_path / 'x.db'}", workflows_dir=tmp_path, migrate=True)


def test_a_concern_on_a_balancing_measure_tells_owner_and_sponsor(db_url: str) -> None:
    clock = ManualClock(datetime(2027, 3, 1, 12, tzinfo=UTC))
    with Engine(db_url, clock=clock) as engine:
        ref = started(engine)
        for name in ("Missed doses", "Clinic time"):
            engine.configure_measure(ref, name, actor=OWNER, baseline_points=12)
            record(engine, ref, name, EVEN)
        policy = ReminderPolicy(
            window=parse_window(), digest=False, routing={"event": ("console",)}
        )
        engine.sweep_notifications(policy, daemon="d")  # the sign-off notices so far
        record(engine, ref, "Missed doses", [30.0], first=12)  # a concern, not balancing
        record(engine, ref, "Clinic time", [2.0], first=12)  # balancing, an improvement
        assert engine.sweep_notifications(policy, daemon="d")[1] == 0
        record(engine, ref, "Clinic time", [30.0], first=13)  # balancing, a concern
        assert engine.sweep_notifications(policy, daemon="d")[1] == 2
        told = sorted((r.recipient, r.subject) for r in engine.outbox() if "balancing" in r.subject)
        subject = f"{ref} balancing measure 'Clinic time' shows a special cause of concern"
        assert [who for who, _ in told] == [OWNER, SPONSOR]
        assert all(text.startswith(subject) for _, text in told)


def test_sustaining_needs_the_improvement_to_hold(engine: Engine) -> None:
    project = drive_to(engine, "spreading")
    ref = project.ref
    blocked = {o.trigger: o.reasons for o in engine.available_triggers(ref, SPONSOR)}["sustain"]
    assert blocked == (
        "no primary outcome measure: choose one (measure add ... --primary, "
        "or measure set REF NAME --primary)",
    )
    engine.configure_measure(ref, "Missed doses", actor=OWNER, primary=True, baseline_points=12)
    engine.import_data_points(ref, "Missed doses", weekly_csv(BASELINE + IMPROVED[:5]), actor=OWNER)
    reasons = {o.trigger: o.reasons for o in engine.available_triggers(ref, SPONSOR)}["sustain"]
    # the baseline's mean is 20.25 (243/12), its moving ranges average 1.818 (20/11), so
    # the lower limit is 20.25 - 2.66 x 1.818 = 15.41: point 13 (12) is below it; 5 held
    assert reasons == (
        "measure 'Missed doses' has 5 points since its first special-cause improvement; "
        "the improvement must hold for 12",
    )
    with pytest.raises(GuardFailed, match="must hold for 12"):
        engine.fire(ref, "sustain", actor=SPONSOR)
    engine.import_data_points(
        ref, "Missed doses", weekly_csv(IMPROVED[5:], start="2026-05-04"), actor=OWNER
    )
    assert engine.fire(ref, "sustain", actor=SPONSOR).state == "sustained"


def test_a_concern_among_the_last_points_is_not_sustained(engine: Engine) -> None:
    project = drive_to(engine, "spreading")
    engine.configure_measure(
        project.ref, "Missed doses", actor=OWNER, primary=True, baseline_points=12
    )
    values = BASELINE + IMPROVED[:13] + [40]  # the latest week is far above the limits
    engine.import_data_points(project.ref, "Missed doses", weekly_csv(values), actor=OWNER)
    reasons = {o.trigger: o.reasons for o in engine.available_triggers(project.ref, SPONSOR)}
    assert reasons["sustain"] == (
        "measure 'Missed doses' has special causes of concern at points 26 among its last 12",
    )


def test_the_number_of_points_is_the_workflows(
    db_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    text = (ROOT / "workflows" / "qi_project_v2.toml").read_text(encoding="utf-8")
    (tmp_path / "v2.toml").write_text(
        text.replace("sustain_points = 12", "sustain_points = 20"), encoding="utf-8"
    )
    with Engine(db_url, clock=clock, workflows_dir=tmp_path) as engine:
        project = drive_to(engine, "spreading")
        engine.configure_measure(
            project.ref, "Missed doses", actor=OWNER, primary=True, baseline_points=12
        )
        csv = weekly_csv(BASELINE + IMPROVED)
        engine.import_data_points(project.ref, "Missed doses", csv, actor=OWNER)
        reasons = {o.trigger: o.reasons for o in engine.available_triggers(project.ref, SPONSOR)}
        assert reasons["sustain"] == (
            "measure 'Missed doses' has 14 points since its first special-cause improvement; "
            "the improvement must hold for 20",
        )


def test_version_1_projects_keep_their_rules(
    db_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    (tmp_path / "v1.toml").write_text(
        (ROOT / "workflows" / "qi_project.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    with Engine(db_url, clock=clock, workflows_dir=tmp_path) as engine:
        ref = new_project(engine).ref
        engine.fire(ref, "diagnose", actor=OWNER)
        engine.update_project(ref, actor=OWNER, aim="a", quality_objectives=["q"])
        engine.fire(ref, "plan_measurement", actor=OWNER)
        for kind in ("outcome", "balancing"):
            engine.add_measure(ref, kind, kind=kind, unit="n", direction="decrease", actor=OWNER)
        pass_qeia(engine, engine.get(ref))
        engine.fire(ref, "start_testing", actor=OWNER)
        engine.record_pdsa(ref, actor=OWNER, prediction="p", study="s")
        engine.fire(ref, "adopt", actor=OWNER)
        pass_qeia(engine, engine.get(ref))
        engine.fire(ref, "spread", actor=OWNER)
        assert engine.get(ref).workflow_version == 1
        assert engine.fire(ref, "sustain", actor=SPONSOR).state == "sustained"


def test_an_import_is_all_or_nothing_and_names_every_bad_row(engine: Engine) -> None:
    ref = started(engine)
    before = engine.get(ref).version
    bad = (
        "date,value,note,cycle\n2026-01-05,3,ok,1\n2026-13-01,4,,\n2026-01-19,many,,\n"
        "2026-01-26,5,,x\n"
    )
    with pytest.raises(ValidationError) as refused:
        engine.import_data_points(ref, "Missed doses", bad, actor=OWNER, source="doses.csv")
    message = str(refused.value)
    assert message.startswith(
        "doses.csv: 3 bad row(s), nothing imported: line 3: date '2026-13-01'"
    )
    assert "line 4: value 'many' is not a number" in message
    assert "line 5: cycle 'x' is not a cycle number" in message
    with pytest.raises(ValidationError, match=r"line 2: cycle 4 \(the current cycle is 1\)"):
        engine.import_data_points(
            ref, "Missed doses", "date,value,cycle\n2026-01-05,3,4\n", actor=OWNER
        )
    with pytest.raises(ValidationError, match="no value column"):
        engine.import_data_points(ref, "Missed doses", "date,amount\n2026-01-05,3\n", actor=OWNER)
    assert engine.get(ref).version == before
    assert engine.data_points(ref, "Missed doses") == []
    good = "date,value,note,cycle\n2026-01-05,3,first week,1\n2026-01-12,4.5,,\n"
    engine.import_data_points(ref, "Missed doses", good, actor=OWNER)
    points = engine.data_points(ref, "Missed doses")
    assert [(p.value, p.note, p.cycle) for p in points] == [
        (3.0, "first week", 1),
        (4.5, None, None),
    ]
    assert engine.get(ref).version == before + 1  # one command


def test_a_rebase_starts_a_new_period_and_is_audited(engine: Engine) -> None:
    ref = started(engine)
    record(engine, ref, "Missed doses", EVEN + [4.0, 6.0] * 6)
    with pytest.raises(ValidationError, match="needs a reason"):
        engine.rebase_measure(ref, "Missed doses", at=START, reason=" ", actor=OWNER)
    engine.rebase_measure(
        ref, "Missed doses", at=START + timedelta(weeks=12), reason="new rota", actor=OWNER
    )
    [event] = [e for e in engine.history(ref) if e.type == "measure.rebased"]
    assert (event.actor, event.payload["reason"]) == (OWNER, "new rota")
    chart = engine.measure_chart(ref, "Missed doses")
    assert chart.xmr is not None
    # period 2: 4, 6, 4 ...: mean 5, moving ranges 2, limits 5 +/- 5.32
    assert [(p.start, p.end) for p in chart.xmr.periods] == [(0, 11), (12, 23)]
    assert chart.xmr.points[-1].mean == pytest.approx(5.0)
    assert chart.xmr.points[-1].upl == pytest.approx(10.32)
    assert chart.xmr.points[0].upl == pytest.approx(16.32)


def test_a_primary_measure_is_an_outcome_and_settings_are_checked(engine: Engine) -> None:
    ref = started(engine)
    with pytest.raises(ValidationError, match="only an outcome measure can be primary"):
        engine.configure_measure(ref, "Clinic time", actor=OWNER, primary=True)
    with pytest.raises(
        ValidationError, match="baseline_points must be a whole number of at least 12"
    ):
        engine.configure_measure(ref, "Missed doses", actor=OWNER, baseline_points=5)
    engine.add_measure(
        ref,
        "Harm",
        kind="outcome",
        unit="n",
        direction="neutral",
        actor=OWNER,
        primary=True,
        target=3,
    )
    engine.configure_measure(ref, "Missed doses", actor=OWNER, primary=True)
    primary = [m.name for m in engine.measures(ref) if m.primary]
    assert primary == ["Missed doses"]  # one primary measure a project
    harm = next(m for m in engine.measures(ref) if m.name == "Harm")
    assert (harm.direction, harm.target) == ("neutral", 3.0)


def test_suggested_scores_climb_with_the_evidence(engine: Engine) -> None:
    idea = new_project(engine)
    engine.add_team_member(idea.ref, "pat", role="member", actor=OWNER)
    [first] = engine.progress([idea.ref])
    assert first.suggestion.score == 1.0
    assert (
        first.suggestion.next
        == "1.5 (planning for the project has begun) needs an aim, a quality objective and measures"
    )
    sustained = drive_to(engine, "sustained")
    engine.add_team_member(sustained.ref, "pat", role="member", actor=OWNER)
    [done] = engine.progress([sustained.ref])
    # a team, a plan, testing, a studied cycle, improvement on the outcome; no target yet
    assert (done.suggestion.score, done.confirmed) == (3.5, None)
    assert done.suggestion.next == (
        "4.0 (significant improvement) needs an improved outcome measure's latest mean "
        "at its target"
    )
    # the last 12 weeks average 11.5 (138/12): a target of 12 is reached, and the
    # improvement has held in the sustained state
    engine.configure_measure(sustained.ref, "Missed doses", actor=OWNER, target=12)
    [done] = engine.progress([sustained.ref])
    assert done.suggestion.score == 4.5
    assert done.suggestion.label == "sustainable improvement"


def test_a_confirmed_score_far_from_the_suggestion_reminds_the_owner(db_url: str) -> None:
    clock = ManualClock(datetime(2027, 3, 1, 12, tzinfo=UTC))
    with Engine(db_url, clock=clock) as engine:
        ref = drive_to(engine, "pdsa_testing").ref
        engine.add_team_member(ref, "pat", role="member", actor=OWNER)
        engine.record_review(ref, actor=OWNER, progress_score=2.0)
        [found] = engine.progress([ref])
        assert found.confirmed is not None
        assert found.confirmed.score == 2.0
        assert found.suggestion.score == 2.0  # testing, no cycle studied yet
        policy = ReminderPolicy(
            window=parse_window(), digest=False, routing={"reminder": ("console",)}
        )
        engine.sweep_notifications(policy, daemon="d")
        assert [r for r in engine.outbox() if r.key.startswith("score")] == []
        engine.record_review(ref, actor=OWNER, progress_score=4.0)
        clock.advance(days=1)  # the score reminders run once a day
        engine.sweep_notifications(policy, daemon="d")
        [reminder] = [r for r in engine.outbox() if r.subject.startswith(f"{ref} progress score")]
        assert reminder.recipient == OWNER
        assert "the confirmed score 4.0 is far from the suggestion" in reminder.body
        clock.advance(days=1)
        engine.sweep_notifications(policy, daemon="d")
        assert len([r for r in engine.outbox() if "progress score" in r.subject]) == 1


def test_the_portfolio_is_charted_in_a_fixed_number_of_statements(engine: Engine) -> None:
    def statements() -> int:
        counted: list[str] = []

        def listen(*args: object) -> None:
            counted.append(str(args[2]))

        event.listen(SqlEngine, "before_cursor_execute", listen)
        try:
            engine.progress()
        finally:
            event.remove(SqlEngine, "before_cursor_execute", listen)
        return len(counted)

    ref = started(engine)
    record(engine, ref, "Missed doses", EVEN)
    few = statements()
    for _ in range(3):
        more = started(engine)
        record(engine, more, "Missed doses", EVEN + EVEN)
        record(engine, more, "Clinic time", EVEN)
    assert len(engine.progress()) == 4
    assert statements() == few


def test_a_stale_confirmed_score_reminds_the_owner(db_url: str) -> None:
    clock = ManualClock(datetime(2027, 3, 1, 12, tzinfo=UTC))
    with Engine(db_url, clock=clock) as engine:
        ref = drive_to(engine, "pdsa_testing").ref
        engine.add_team_member(ref, "pat", role="member", actor=OWNER)
        engine.record_review(ref, actor=OWNER, progress_score=2.0)  # as suggested
        policy = ReminderPolicy(
            window=parse_window(), digest=False, routing={"reminder": ("console",)}
        )
        clock.advance(days=89)
        engine.sweep_notifications(policy, daemon="d")
        assert [r for r in engine.outbox() if "progress score" in r.subject] == []
        clock.advance(days=1)  # 90 days: the workflow's score_stale_after
        engine.sweep_notifications(policy, daemon="d")
        [reminder] = [r for r in engine.outbox() if "progress score" in r.subject]
        assert "the confirmed score 2.0 dates from 01 Mar 2027" in reminder.body
        assert reminder.recipient == OWNER


def test_the_measurement_table_is_checked(tmp_path: Path) -> None:
    text = (ROOT / "workflows" / "qi_project_v2.toml").read_text(encoding="utf-8")
    bad = text.replace("sustain_points = 12", "sustain_points = 0\nsustain = 3").replace(
        'score_stale_after = "P90D"', 'score_stale_after = "soon"'
    )
    (tmp_path / "bad.toml").write_text(bad, encoding="utf-8")
    with pytest.raises(WorkflowDefinitionError) as refused:
        Engine(f"sqlite:///{tmp_path / 'x.db'}", workflows_dir=tmp_path, migrate=True)
    message = str(refused.value)
    assert "unknown key 'sustain'" in message
    assert "sustain_points must be a positive integer, not 0" in message
    assert "score_stale_after:" in message


def test_charts_follow_the_corrected_record(engine: Engine) -> None:
    ref = started(engine)
    engine.configure_measure(ref, "Missed doses", actor=OWNER, baseline_points=12)
    record(engine, ref, "Missed doses", EVEN)
    record(engine, ref, "Missed doses", [2.0], first=12)  # below 5.68: an improvement
    [wrong] = [p for p in engine.data_points(ref, "Missed doses") if p.value == 2.0]
    engine.void_data_point(ref, wrong.id, actor=OWNER, reason="typed 2 for 12")
    chart = engine.measure_chart(ref, "Missed doses")
    assert len(chart.points) == 12
    assert chart.variation_icon == "common_cause"  # and the change is a signal of its own
    assert signals(engine, ref)[-1]["variation_icon"] == "common_cause"
    before = len(signals(engine, ref))
    first = engine.data_points(ref, "Missed doses")[0]
    engine.correct_data_point(ref, first.id, actor=OWNER, reason="misread", value=30.0)
    # corrected baseline 30, 12, 10, 12 ...: mean 152/12 = 12.67, so the eleven points
    # after the first are all below it: a shift, special-cause improvement (lower is
    # better) ending at the newest point, signalled by the correction itself
    assert len(signals(engine, ref)) == before + 1
    assert (signals(engine, ref)[-1]["kind"], signals(engine, ref)[-1]["rule"]) == (
        "improvement",
        "shift",
    )
    assert engine.measure_chart(ref, "Missed doses").xmr.points[0].point_type == (  # type: ignore[union-attr]
        "special_cause_concern"
    )
    engine.void_measure(ref, "Clinic time", actor=OWNER, reason="not ours")
    [found] = engine.progress([ref])
    assert [c.measure.name for c in found.charts] == ["Missed doses"]
