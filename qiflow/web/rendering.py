"""The Jinja environment: qiflow's templates over the NHS.UK frontend's macros.

Autoescaping is on for every template: a project title with HTML in it is shown as text.
"""

from __future__ import annotations

import re
from datetime import date, datetime, tzinfo

from jinja2 import ChainableUndefined, ChoiceLoader, Environment, PackageLoader, select_autoescape

#: Making Data Count icons as words, with an NHS.UK tag colour each.
VARIATION = {
    "common_cause": ("Common cause", "grey"),
    "improvement_high": ("Improvement (high)", "blue"),
    "improvement_low": ("Improvement (low)", "blue"),
    "concern_high": ("Concern (high)", "orange"),
    "concern_low": ("Concern (low)", "orange"),
    "neutral_high": ("Neutral (high)", "purple"),
    "neutral_low": ("Neutral (low)", "purple"),
}
ASSURANCE = {
    "pass": ("Passes target", "blue"),
    "fail": ("Fails target", "orange"),
    "inconsistent": ("Hit and miss target", "grey"),
}


def words(name: str | None) -> str:
    """``pdsa_testing`` -> ``Pdsa testing``: a machine name as words."""
    if not name:
        return ""
    text = name.replace("_", " ").strip()
    text = re.sub(r"\bpdsa\b", "PDSA", text)
    text = re.sub(r"\bqeia\b", "QEIA", text)
    return text[:1].upper() + text[1:]


def phrase(name: str | None) -> str:
    """``pdsa_testing`` -> ``PDSA testing``, ``on_hold`` -> ``on hold``: words inside a
    sentence (an acronym keeps its capitals)."""
    text = words(name)
    return text if text[:4] in ("PDSA", "QEIA") else text[:1].lower() + text[1:]


def local(value: datetime | date | None, zone: tzinfo | None = None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        shown = value.astimezone(zone) if zone is not None else value
        return shown.strftime("%-d %b %Y %H:%M")
    return value.strftime("%-d %b %Y")


def day(value: datetime | date | None, zone: tzinfo | None = None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = (value.astimezone(zone) if zone is not None else value).date()
    return value.strftime("%-d %b %Y")


def icon_text(kind: str, name: str) -> str:
    table = VARIATION if kind == "variation" else ASSURANCE
    return table.get(name, (words(name), "grey"))[0]


def icon_colour(kind: str, name: str) -> str:
    table = VARIATION if kind == "variation" else ASSURANCE
    return table.get(name, (name, "grey"))[1]


def environment(zone: tzinfo | None = None) -> Environment:
    """The templates' environment; dates are shown in ``zone`` (the trust's)."""
    env = Environment(
        loader=ChoiceLoader(
            [PackageLoader("qiflow.web", "templates"), PackageLoader("nhsuk_frontend_jinja")]
        ),
        undefined=ChainableUndefined,
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["words"] = words
    env.filters["phrase"] = phrase
    env.filters["local"] = lambda value: local(value, zone)
    env.filters["day"] = lambda value: day(value, zone)
    env.globals["icon_text"] = icon_text
    env.globals["icon_colour"] = icon_colour
    return env
