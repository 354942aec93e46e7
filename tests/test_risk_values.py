"""The risk register's values and rules, without a database: the matrix, edits, import, map."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from qiflow import NewRisk, RiskImportError, RiskPolicy, ValidationError
from qiflow.risks import register
from qiflow.risks.heatmap import heat_map, render
from qiflow.risks.importing import parse_csv
from qiflow.risks.policy import check_risks_config, risk_policy
from qiflow.risks.register import Risk, apply

NOW = datetime(2027, 1, 15, 10, 0, tzinfo=UTC)
TODAY = NOW.date()
NPSA = RiskPolicy()


def build(*scores: tuple[int, int], policy: RiskPolicy = NPSA) -> tuple[Risk, ...]:
    risks: tuple[Risk, ...] = ()
    for consequence, likelihood in scores:
        new = NewRisk("A risk", "patient_safety", "olivia", consequence, likelihood)
        for event in register.add(risks, new, policy, now=NOW, actor="olivia"):
            risks = apply(risks, event)
    return risks


# the matrix --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("score", "band"),
    [
        (1, "low"),
        (3, "low"),
        (4, "moderate"),
        (6, "moderate"),
        (8, "high"),
        (12, "high"),
        (15, "extreme"),
        (25, "extreme"),
    ],
)
def test_npsa_bands_by_default(score: int, band: str) -> None:
    assert NPSA.band(score) == band


def test_review_cadence_follows_the_band() -> None:
    # extreme monthly, high every 3 months, moderate every 6, low every 12
    assert NPSA.next_review("extreme", NOW) == date(2027, 2, 15)
    assert NPSA.next_review("high", NOW) == date(2027, 4, 15)
    assert NPSA.next_review("moderate", NOW) == date(2027, 7, 15)
    assert NPSA.next_review("low", NOW) == date(2028, 1, 15)


def test_a_workflow_configures_bands_cadences_and_categories() -> None:
    policy = risk_policy(
        {
            "categories": ["safety", "money"],
            "bands": {"low": 1, "moderate": 5, "high": 10, "extreme": 20},
            "review": {"extreme": "P14D"},
        }
    )
    assert [policy.band(s) for s in (4, 5, 9, 10, 16, 20)] == [
        "low",
        "moderate",
        "moderate",
        "high",
        "high",
        "extreme",
    ]
    assert policy.next_review("extreme", NOW) == date(2027, 1, 29)
    assert policy.next_review("high", NOW) == date(2027, 4, 15)  # the default stays
    assert policy.category("Money") == "money"
    with pytest.raises(ValidationError, match="category 'finance' is not one of safety, money"):
        policy.category("finance")
    assert policy.scores("moderate") == (5, 9)  # 7 cannot be scored on the matrix


def test_a_bad_risks_table_names_every_problem() -> None:
    problems = check_risks_config(
        {
            "bands": {"low": 1, "moderate": 8, "high": 4, "extreme": 15},
            "review": {"high": "quarterly", "severe": "P1M"},
            "categories": ["Patient Safety"],
            "colour": "red",
        }
    )
    assert problems == [
        "unknown key 'colour'; expected one of categories, bands, review",
        "categories must be a non-empty list of lower_snake_case names",
        "bands must be whole numbers rising from low = 1 to an extreme of at most 25, "
        "e.g. { low = 1, moderate = 4, high = 8, extreme = 15 }",
        "review.high: 'quarterly' is not an ISO-8601 duration; write e.g. 'P14D' (14 days), "
        "'P3M' (3 months), 'P1W' or 'PT12H'",
        "review: unknown band 'severe'; bands: low, moderate, high, extreme",
    ]
    assert check_risks_config({}) == []


# edits ---------------------------------------------------------------------------------------
def test_a_new_risk_is_scored_banded_and_given_its_first_review() -> None:
    (risk,) = build((4, 4))
    assert (risk.id, risk.score, risk.band, risk.status) == ("R1", 16, "extreme", "open")
    assert risk.review_by == date(2027, 2, 15)
    assert risk.extreme_since == NOW
    assert risk.awaits_sponsor()


def test_ids_are_never_reused_and_closed_risks_stay() -> None:
    risks = build((1, 1), (2, 2))
    risks = apply(risks, register.change_status(risks, "r2", "closed", reason="Gone"))
    risks = build_more(risks, (3, 3))
    assert [(r.id, r.status) for r in risks] == [("R1", "open"), ("R2", "closed"), ("R3", "open")]
    with pytest.raises(
        ValidationError, match="risk R2 is closed \\(Gone\\); it cannot be reviewed"
    ):
        register.review(
            risks, "R2", NPSA, consequence=1, likelihood=1, note=None, now=NOW, actor="o",
            by_sponsor=False,
        )  # fmt: skip


def build_more(risks: tuple[Risk, ...], *scores: tuple[int, int]) -> tuple[Risk, ...]:
    for consequence, likelihood in scores:
        new = NewRisk("More", "finance", "olivia", consequence, likelihood)
        for event in register.add(risks, new, NPSA, now=NOW, actor="olivia"):
            risks = apply(risks, event)
    return risks


def test_a_rise_in_band_is_its_own_event_and_a_fall_is_not() -> None:
    risks = build((2, 2))  # moderate
    rose = register.review(
        risks, "R1", NPSA, consequence=3, likelihood=3, note="worse", now=NOW, actor="o",
        by_sponsor=False,
    )  # fmt: skip
    assert [e.type for e in rose] == ["risk.reviewed", "risk.band_rose"]
    assert rose[1].payload == {"risk": "R1", "from": "moderate", "to": "high", "score": 9}
    same = register.review(
        risks, "R1", NPSA, consequence=3, likelihood=2, note=None, now=NOW, actor="o",
        by_sponsor=False,
    )  # fmt: skip
    assert [e.type for e in same] == ["risk.reviewed"]  # 6 is still moderate
    fell = register.review(
        risks, "R1", NPSA, consequence=1, likelihood=1, note=None, now=NOW, actor="o",
        by_sponsor=False,
    )  # fmt: skip
    assert [e.type for e in fell] == ["risk.reviewed"]
    assert fell[0].payload["review_by"] == "2028-01-15"  # low: a year on


def test_only_a_sponsor_review_after_it_became_extreme_clears_it() -> None:
    risks = build((3, 3))
    later = NOW.replace(hour=11)

    def review(c: int, lk: int, at: datetime, sponsor: bool) -> tuple[Risk, ...]:
        events = register.review(
            risks, "R1", NPSA, consequence=c, likelihood=lk, note=None, now=at, actor="x",
            by_sponsor=sponsor,
        )  # fmt: skip
        found = risks
        for event in events:
            found = apply(found, event)
        return found

    risks = review(3, 3, NOW, sponsor=True)  # the sponsor saw it while it was high
    risks = review(5, 4, later, sponsor=False)  # the owner rescores it extreme
    assert risks[0].awaits_sponsor()
    risks = review(5, 4, later.replace(hour=12), sponsor=False)  # the owner again: no
    assert risks[0].awaits_sponsor()
    risks = review(5, 3, later.replace(hour=13), sponsor=True)
    assert not risks[0].awaits_sponsor()


def test_new_risk_values_are_checked_together() -> None:
    with pytest.raises(ValidationError) as caught:
        register.add(
            (), NewRisk(" ", "weather", "not a person", 0, 6, target=7), NPSA, now=NOW, actor="o"
        )
    assert caught.value.problems == (
        "the description is empty; say what it is",
        "category 'weather' is not one of patient_safety, quality, workforce, finance, "
        "reputation, information_governance, equality (the workflow file's [risks] categories)",
        "the owner 'not a person' is not a person's id (letters, digits, . _ @ -)",
        "consequence must be a whole number from 1 to 5, not 0",
        "likelihood must be a whole number from 1 to 5, not 6",
        "target must be a score the 5 x 5 matrix can give "
        "(1, 2, 3, 4, 5, 6, 8, 9, 10, 12, 15, 16, 20, 25), not 7",
    )


def test_actions_and_updates() -> None:
    risks = build((2, 3))
    risks = apply(
        risks,
        register.add_action(
            risks, "R1", "Train staff", owner="bob", due=date(2027, 2, 1), today=TODAY
        ),
    )
    (action,) = risks[0].actions
    assert (action.id, action.owner, action.overdue(date(2027, 2, 1))) == ("A1", "bob", False)
    assert action.overdue(date(2027, 2, 2))
    risks = apply(risks, register.complete_action(risks, "R1", "a1", now=NOW))
    assert risks[0].actions[0].done_at == NOW
    assert not risks[0].overdue_actions(date(2028, 1, 1))
    with pytest.raises(ValidationError, match="an action's due date must be today or later"):
        register.add_action(risks, "R1", "Late", owner="bob", due=date(2027, 1, 14), today=TODAY)
    update = register.update(risks, "R1", NPSA, today=TODAY, owner="bob", controls="", target=4)
    assert update.payload == {"risk": "R1", "changes": {"owner": "bob", "target": 4}}
    with pytest.raises(ValidationError, match="risk R1: nothing to change"):
        register.update(risks, "R1", NPSA, today=TODAY, owner="olivia")


def test_no_significant_risks_cannot_be_declared_over_live_risks() -> None:
    assert register.declare_none((), note=None).type == "risk.none_declared"
    with pytest.raises(ValidationError, match="live risks \\(R1\\)"):
        register.declare_none(build((1, 2)), note=None)


# import --------------------------------------------------------------------------------------
GOOD_LOG = """\ufeffDescription,Category,Owner,Consequence,Likelihood,Target,Controls,Review_by
Falls at night,Patient safety,l.evans,4,3,4,Bed alarms,2027-03-01
Agency costs rise,finance,h.ali,2,2,,,
"""


def test_a_risk_log_is_read_with_people_s_spelling_of_categories() -> None:
    first, second = parse_csv(GOOD_LOG, NPSA, today=TODAY)
    assert first == NewRisk(
        "Falls at night", "patient_safety", "l.evans", 4, 3, 4, "Bed alarms", date(2027, 3, 1)
    )
    assert second == NewRisk("Agency costs rise", "finance", "h.ali", 2, 2)


def test_every_bad_row_is_named_and_nothing_is_read() -> None:
    text = (
        "description,category,owner,consequence,likelihood,target,review_by\n"
        "Fine,quality,ann,2,2,,\n"
        "Too likely,quality,ann,2,6,,\n"
        ",quality,ann,2,2,,\n"
        "Wrong,weather,ann,high,2,7,2026-01-01\n"
        "Extra,quality,ann,1,1,,,surplus\n"
        "Undated,quality,ann,1,1,,next week\n"
    )
    with pytest.raises(RiskImportError) as caught:
        parse_csv(text, NPSA, today=TODAY, source="log.csv")
    assert caught.value.problems == (
        "row 3: likelihood must be a whole number from 1 to 5, not 6",
        "row 4: no description",
        "row 5: review date 2026-01-01 is in the past",
        "row 5: category 'weather' is not one of patient_safety, quality, workforce, finance, "
        "reputation, information_governance, equality (the workflow file's [risks] categories)",
        "row 5: consequence must be a whole number from 1 to 5, not 'high'",
        "row 5: target must be a score the 5 x 5 matrix can give "
        "(1, 2, 3, 4, 5, 6, 8, 9, 10, 12, 15, 16, 20, 25), not 7",
        "row 6: more cells than columns",
        "row 7: review date 'next week' is not a date (YYYY-MM-DD)",
    )
    assert str(caught.value).startswith("log.csv: 8 problem(s), nothing imported:\n  row 3: ")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "row 1: missing column(s) description, category, owner, consequence, likelihood"),
        (
            "description,category,owner,consequence,likelihood,colour\n",
            "row 1: unknown column(s) 'colour'; columns: description, category, owner, "
            "consequence, likelihood, target, controls, review_by",
        ),
        ("description,category,owner,consequence,likelihood\n\n", "the risk log has no rows"),
    ],
)
def test_a_log_without_its_columns_or_rows_is_refused(text: str, problem: str) -> None:
    with pytest.raises(RiskImportError) as caught:
        parse_csv(text, NPSA, today=TODAY)
    assert caught.value.problems == (problem,)


# the heat map --------------------------------------------------------------------------------
def test_the_heat_map_counts_live_risks_in_their_cells() -> None:
    risks = build((5, 4), (5, 4), (3, 3), (1, 2))
    risks = apply(risks, register.change_status(risks, "R4", "closed", reason="Done"))
    heat = heat_map(risks, NPSA)
    assert heat.total == 3
    assert heat.counts == {(5, 4): 2, (3, 3): 1}
    cells = {(c["consequence"], c["likelihood"]): c for c in heat.as_json()}
    assert cells[5, 4] == {
        "consequence": 5,
        "likelihood": 4,
        "score": 20,
        "band": "extreme",
        "risks": 2,
    }
    assert cells[1, 2]["risks"] == 0
    assert render(heat, NPSA).splitlines() == [
        "consequence     likelihood",
        "                   1      2      3      4      5",
        "5 catastrophic   M .    H .    E .    E 2    E .",
        "4 major          M .    H .    H .    E .    E .",
        "3 moderate       L .    M .    H 1    H .    E .",
        "2 minor          L .    M .    M .    H .    H .",
        "1 negligible     L .    L .    L .    M .    M .",
        "likelihood: 1 rare, 2 unlikely, 3 possible, 4 likely, 5 almost certain",
        "3 live risk(s); L low 1-3, M moderate 4-6, H high 8-12, E extreme 15-25",
    ]
