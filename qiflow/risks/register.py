"""A project's risks as immutable values, and the rules for changing them.

A risk keeps its id for life (``R1``, ``R2`` ...; ids are never reused, and a
closed risk stays on the register). Every change is planned by a function here
that checks it against the current register and returns the :class:`RiskEvent`
(or events) that record it; :func:`apply` folds an event into the register. The
engine stores the events in the project's audit trail and the risks that
``apply`` returns, so replaying a project's risk events gives its register back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from typing import Any, TypeVar

from qiflow.exceptions import ValidationError
from qiflow.risks.policy import EXTREME, SCORES, RiskPolicy, band_rank

OPEN, TOLERATED, CLOSED = "open", "tolerated", "closed"
#: A risk's status: open, tolerated (accepted at its level, still reviewed) or closed.
STATUSES: tuple[str, ...] = (OPEN, TOLERATED, CLOSED)
#: Statuses of a risk that is still live: on the register's reviews and rules.
LIVE: tuple[str, ...] = (OPEN, TOLERATED)

ADDED = "risk.added"
UPDATED = "risk.updated"
REVIEWED = "risk.reviewed"
BAND_ROSE = "risk.band_rose"
ACTION_ADDED = "risk.action_added"
ACTION_DONE = "risk.action_done"
STATUS_CHANGED = "risk.status_changed"
NONE_DECLARED = "risk.none_declared"
#: The event types that change a register (``risk.band_rose`` and
#: ``risk.none_declared`` change no risk: one tells the sponsor, one records a declaration).
EVENT_TYPES: tuple[str, ...] = (ADDED, UPDATED, REVIEWED, ACTION_ADDED, ACTION_DONE, STATUS_CHANGED)

MAX_TEXT = 2000
T = TypeVar("T")
PERSON_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,199}$")
#: Fields :func:`update` may change (scores change only through a review).
EDITABLE = ("description", "category", "owner", "target", "controls", "review_by")


@dataclass(frozen=True)
class RiskEvent:
    """A change as it is recorded in the project's audit trail: a type and its data."""

    type: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class RiskAction:
    """Something being done about a risk, by someone, by a date."""

    id: str
    text: str
    owner: str
    due: date
    done_at: datetime | None = None

    def overdue(self, today: date) -> bool:
        return self.done_at is None and self.due < today


@dataclass(frozen=True)
class Risk:
    """One risk on a project's register.

    ``band`` follows from ``score`` by the bands of the project's workflow when the
    risk was last scored. ``extreme_since`` is when it last entered the extreme
    band; ``sponsor_reviewed_at`` when the project's sponsor last reviewed it.
    ``project`` is the project's reference (for portfolio views).
    """

    id: str
    description: str
    category: str
    owner: str
    consequence: int
    likelihood: int
    band: str
    review_by: date
    raised_at: datetime
    raised_by: str
    target: int | None = None
    controls: str = ""
    actions: tuple[RiskAction, ...] = ()
    status: str = OPEN
    reason: str | None = None
    reviewed_at: datetime | None = None
    reviewed_by: str | None = None
    extreme_since: datetime | None = None
    sponsor_reviewed_at: datetime | None = None
    project: str = ""

    @property
    def score(self) -> int:
        return self.consequence * self.likelihood

    @property
    def live(self) -> bool:
        return self.status in LIVE

    def review_overdue(self, today: date) -> bool:
        """A live risk whose review date has passed (due today is not yet overdue)."""
        return self.live and self.review_by < today

    def overdue_actions(self, today: date) -> tuple[RiskAction, ...]:
        return tuple(a for a in self.actions if a.overdue(today)) if self.live else ()

    def awaits_sponsor(self) -> bool:
        """An open extreme risk the sponsor has not reviewed since it became extreme."""
        return (
            self.status == OPEN
            and self.band == EXTREME
            and (
                self.sponsor_reviewed_at is None
                or self.extreme_since is None
                or self.sponsor_reviewed_at < self.extreme_since
            )
        )


@dataclass(frozen=True)
class NewRisk:
    """What a new risk is given: by :func:`add`, and by each row of an import."""

    description: str
    category: str
    owner: str
    consequence: int
    likelihood: int
    target: int | None = None
    controls: str = ""
    review_by: date | None = None


# checks -------------------------------------------------------------------------------
def clean_text(value: str, what: str, *, required: bool = True) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be text")
    text = value.strip()
    if required and not text:
        raise ValidationError(f"{what} is empty; say what it is")
    if len(text) > MAX_TEXT:
        raise ValidationError(f"{what} is longer than {MAX_TEXT} characters")
    return text


def clean_person(value: str, what: str) -> str:
    person = value.strip() if isinstance(value, str) else ""
    if not PERSON_ID.match(person):
        raise ValidationError(f"{what} {value!r} is not a person's id (letters, digits, . _ @ -)")
    return person


def clean_rating(value: object, what: str) -> int:
    """A consequence or likelihood: a whole number from 1 to 5."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise ValidationError(f"{what} must be a whole number from 1 to 5, not {value!r}")
    return value


def clean_target(value: object, what: str = "target") -> int:
    """A target score: one the 5 x 5 matrix can give."""
    if isinstance(value, bool) or not isinstance(value, int) or value not in SCORES:
        raise ValidationError(
            f"{what} must be a score the 5 x 5 matrix can give "
            f"({', '.join(str(s) for s in sorted(SCORES))}), not {value!r}"
        )
    return value


def find(risks: Sequence[Risk], risk_id: str) -> Risk:
    key = risk_id.strip().upper()
    for risk in risks:
        if risk.id == key:
            return risk
    known = ", ".join(r.id for r in risks) or "none yet"
    raise ValidationError(f"no risk {risk_id!r} on this project (its risks: {known})")


def _live(risk: Risk, doing: str) -> None:
    if not risk.live:
        raise ValidationError(f"risk {risk.id} is closed ({risk.reason}); it cannot {doing}")


def next_id(ids: Iterable[str], prefix: str) -> str:
    numbers = [int(i[len(prefix) :]) for i in ids if i[len(prefix) :].isdigit()]
    return f"{prefix}{max(numbers, default=0) + 1}"


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


# planning edits -----------------------------------------------------------------------
def check_new(new: NewRisk, policy: RiskPolicy, today: date) -> NewRisk:
    """``new`` with its values cleaned; raises :class:`ValidationError` naming every problem."""
    return check_fields(asdict(new), policy, today)


def _whole(value: object) -> object:
    """Text that is a whole number, as the number (a cell of a spreadsheet, say)."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


def check_fields(fields: Mapping[str, Any], policy: RiskPolicy, today: date) -> NewRisk:
    """A new risk from loosely typed ``fields`` (numbers may be text, dates ISO text).

    Raises :class:`ValidationError` whose ``problems`` name every problem.
    """
    problems: list[str] = []

    def checked(check: Callable[[], T]) -> T | None:
        try:
            return check()
        except ValidationError as exc:
            problems.append(exc.message)
            return None

    review_by = fields.get("review_by") or None
    if isinstance(review_by, str):
        try:
            review_by = date.fromisoformat(review_by)
        except ValueError:
            problems.append(f"review date {review_by!r} is not a date (YYYY-MM-DD)")
            review_by = None
    if review_by is not None and review_by < today:
        problems.append(f"review date {review_by.isoformat()} is in the past")
    target = _whole(fields.get("target") or None)
    cleaned = NewRisk(
        description=checked(lambda: clean_text(fields.get("description", ""), "the description"))
        or "",
        category=checked(lambda: policy.category(fields.get("category") or "")) or "",
        owner=checked(lambda: clean_person(fields.get("owner") or "", "the owner")) or "",
        consequence=checked(lambda: clean_rating(_whole(fields.get("consequence")), "consequence"))
        or 0,
        likelihood=checked(lambda: clean_rating(_whole(fields.get("likelihood")), "likelihood"))
        or 0,
        target=checked(lambda: clean_target(target)) if target is not None else None,
        controls=checked(
            lambda: clean_text(fields.get("controls") or "", "controls", required=False)
        )
        or "",
        review_by=review_by,
    )
    if problems:
        raise ValidationError(problems)
    return cleaned


def add(
    risks: Sequence[Risk], new: NewRisk, policy: RiskPolicy, *, now: datetime, actor: str
) -> list[RiskEvent]:
    """``risk.added`` (and ``risk.band_rose`` when the new risk is extreme)."""
    new = check_new(new, policy, now.date())
    score = new.consequence * new.likelihood
    band = policy.band(score)
    events = [
        RiskEvent(
            ADDED,
            {
                "risk": next_id((r.id for r in risks), "R"),
                "description": new.description,
                "category": new.category,
                "owner": new.owner,
                "consequence": new.consequence,
                "likelihood": new.likelihood,
                "score": score,
                "band": band,
                "target": new.target,
                "controls": new.controls,
                "review_by": (new.review_by or policy.next_review(band, now)).isoformat(),
                "at": now.isoformat(),
                "by": actor,
            },
        )
    ]
    if band == EXTREME:
        events.append(_band_rose(events[0].payload["risk"], None, band, score))
    return events


def add_many(
    risks: Sequence[Risk], new: Sequence[NewRisk], policy: RiskPolicy, *, now: datetime, actor: str
) -> list[RiskEvent]:
    """The events adding each of ``new`` in turn (ids follow on from each other)."""
    events: list[RiskEvent] = []
    register = tuple(risks)
    for item in new:
        planned = add(register, item, policy, now=now, actor=actor)
        for event in planned:
            register = apply(register, event)
        events.extend(planned)
    return events


def update(
    risks: Sequence[Risk], risk_id: str, policy: RiskPolicy, *, today: date, **changes: Any
) -> RiskEvent:
    """``risk.updated`` with only the fields that really change (see :data:`EDITABLE`)."""
    risk = find(risks, risk_id)
    _live(risk, "be updated")
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise ValidationError(
            f"cannot update {', '.join(unknown)}; editable: {', '.join(EDITABLE)}"
        )
    cleaned: dict[str, Any] = {}
    for key, value in changes.items():
        if value is None:
            continue
        if key == "description":
            cleaned[key] = clean_text(value, "the risk's description")
        elif key == "category":
            cleaned[key] = policy.category(value)
        elif key == "owner":
            cleaned[key] = clean_person(value, "the risk's owner")
        elif key == "target":
            cleaned[key] = clean_target(value)
        elif key == "controls":
            cleaned[key] = clean_text(value, "controls", required=False)
        elif key == "review_by":
            if not isinstance(value, date) or value < today:
                raise ValidationError(f"review date {value} is not a date from today on")
            cleaned[key] = value
    current = {key: getattr(risk, key) for key in cleaned}
    really = {k: v for k, v in cleaned.items() if current[k] != v}
    if not really:
        raise ValidationError(f"risk {risk.id}: nothing to change")
    return RiskEvent(
        UPDATED,
        {
            "risk": risk.id,
            "changes": {
                k: (v.isoformat() if isinstance(v, date) else v) for k, v in really.items()
            },
        },
    )


def review(
    risks: Sequence[Risk],
    risk_id: str,
    policy: RiskPolicy,
    *,
    consequence: int,
    likelihood: int,
    note: str | None,
    now: datetime,
    actor: str,
    by_sponsor: bool,
) -> list[RiskEvent]:
    """``risk.reviewed``: the scores now and the next review date by the new band.

    A rise into a higher band adds ``risk.band_rose``, which the sponsor is told of.
    """
    risk = find(risks, risk_id)
    _live(risk, "be reviewed")
    consequence = clean_rating(consequence, "consequence")
    likelihood = clean_rating(likelihood, "likelihood")
    score = consequence * likelihood
    band = policy.band(score)
    events = [
        RiskEvent(
            REVIEWED,
            {
                "risk": risk.id,
                "consequence": consequence,
                "likelihood": likelihood,
                "score": score,
                "band": band,
                "previous_score": risk.score,
                "previous_band": risk.band,
                "note": clean_text(note, "the note", required=False) if note else None,
                "review_by": policy.next_review(band, now).isoformat(),
                "at": now.isoformat(),
                "by": actor,
                "by_sponsor": by_sponsor,
            },
        )
    ]
    if band_rank(band) > band_rank(risk.band):
        events.append(_band_rose(risk.id, risk.band, band, score))
    return events


def _band_rose(risk_id: str, before: str | None, after: str, score: int) -> RiskEvent:
    return RiskEvent(BAND_ROSE, {"risk": risk_id, "from": before, "to": after, "score": score})


def add_action(
    risks: Sequence[Risk], risk_id: str, text: str, *, owner: str, due: date, today: date
) -> RiskEvent:
    risk = find(risks, risk_id)
    _live(risk, "take new actions")
    if not isinstance(due, date) or due < today:
        raise ValidationError(f"an action's due date must be today or later, not {due}")
    return RiskEvent(
        ACTION_ADDED,
        {
            "risk": risk.id,
            "action": next_id((a.id for a in risk.actions), "A"),
            "text": clean_text(text, "the action"),
            "owner": clean_person(owner, "the action's owner"),
            "due": due.isoformat(),
        },
    )


def complete_action(
    risks: Sequence[Risk], risk_id: str, action_id: str, *, now: datetime
) -> RiskEvent:
    risk = find(risks, risk_id)
    key = action_id.strip().upper()
    action = next((a for a in risk.actions if a.id == key), None)
    if action is None:
        known = ", ".join(a.id for a in risk.actions) or "none"
        raise ValidationError(f"risk {risk.id} has no action {action_id!r} (its actions: {known})")
    if action.done_at is not None:
        raise ValidationError(f"risk {risk.id} action {action.id} is already done")
    return RiskEvent(ACTION_DONE, {"risk": risk.id, "action": action.id, "at": now.isoformat()})


def change_status(risks: Sequence[Risk], risk_id: str, status: str, *, reason: str) -> RiskEvent:
    """Tolerate a risk (accept it at its level; it is still reviewed) or close it."""
    risk = find(risks, risk_id)
    if status not in (TOLERATED, CLOSED):
        raise ValidationError(f"a risk can be tolerated or closed, not {status!r}")
    _live(risk, f"be {status}")
    if risk.status == status:
        raise ValidationError(f"risk {risk.id} is already {status}")
    return RiskEvent(
        STATUS_CHANGED,
        {
            "risk": risk.id,
            "status": status,
            "previous": risk.status,
            "reason": clean_text(reason, f"the reason the risk is {status}"),
        },
    )


def declare_none(risks: Sequence[Risk], *, note: str | None) -> RiskEvent:
    """The owner's declaration that the project carries no significant risks."""
    live = [r.id for r in risks if r.live]
    if live:
        raise ValidationError(
            f"the project has live risks ({', '.join(live)}); close them before declaring "
            "that it carries no significant risks"
        )
    return RiskEvent(
        NONE_DECLARED, {"note": clean_text(note, "the note", required=False) if note else None}
    )


# applying events ----------------------------------------------------------------------
def apply(risks: Iterable[Risk], event: RiskEvent) -> tuple[Risk, ...]:
    """The register after ``event``; events that change no risk leave it as it was."""
    register = list(risks)
    p = event.payload
    if event.type == ADDED:
        at = datetime.fromisoformat(p["at"])
        register.append(
            Risk(
                id=p["risk"],
                description=p["description"],
                category=p["category"],
                owner=p["owner"],
                consequence=p["consequence"],
                likelihood=p["likelihood"],
                band=p["band"],
                review_by=date.fromisoformat(p["review_by"]),
                raised_at=at,
                raised_by=p["by"],
                target=p["target"],
                controls=p["controls"],
                extreme_since=at if p["band"] == EXTREME else None,
            )
        )
        return tuple(register)
    if event.type not in EVENT_TYPES:
        return tuple(register)
    index = next(i for i, r in enumerate(register) if r.id == p["risk"])
    register[index] = _changed(register[index], event.type, p)
    return tuple(register)


def _changed(risk: Risk, type: str, p: Mapping[str, Any]) -> Risk:
    if type == UPDATED:
        changes = dict(p["changes"])
        if "review_by" in changes:
            changes["review_by"] = date.fromisoformat(changes["review_by"])
        return replace(risk, **changes)
    if type == REVIEWED:
        at = datetime.fromisoformat(p["at"])
        entered = p["band"] == EXTREME and risk.band != EXTREME
        return replace(
            risk,
            consequence=p["consequence"],
            likelihood=p["likelihood"],
            band=p["band"],
            review_by=date.fromisoformat(p["review_by"]),
            reviewed_at=at,
            reviewed_by=p["by"],
            extreme_since=(at if entered else risk.extreme_since) if p["band"] == EXTREME else None,
            sponsor_reviewed_at=at if p["by_sponsor"] else risk.sponsor_reviewed_at,
        )
    if type == ACTION_ADDED:
        action = RiskAction(p["action"], p["text"], p["owner"], date.fromisoformat(p["due"]))
        return replace(risk, actions=(*risk.actions, action))
    if type == ACTION_DONE:
        done = datetime.fromisoformat(p["at"])
        actions = tuple(
            replace(a, done_at=done) if a.id == p["action"] else a for a in risk.actions
        )
        return replace(risk, actions=actions)
    assert type == STATUS_CHANGED, type
    return replace(risk, status=p["status"], reason=p["reason"])
