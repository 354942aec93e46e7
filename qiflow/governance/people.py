"""People and their roles: who may fire a transition or approve a sign-off.

People are referenced by a stable id, never by display name. The built-in
directory lives in the database (``qiflow people import``); a trust can plug
its own staff directory in through the ``qiflow_directory`` hook.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from qiflow import limits, toml_input
from qiflow.exceptions import ValidationError
from qiflow.snapshots import Person

PERSON_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,199}")


def _names(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = [part for part in re.split(r"[;,]", value)]
    return tuple(dict.fromkeys(str(v).strip() for v in value if str(v).strip()))


def _person(
    raw: Mapping[str, Any], where: str, known_roles: frozenset[str], problems: list[str]
) -> Person | None:
    before = len(problems)
    person_id = str(raw.get("id") or "").strip()
    name = str(raw.get("name") or "").strip()
    if not PERSON_ID.fullmatch(person_id):
        problems.append(f"{where}: id {person_id!r} is missing or not a plain identifier")
    if not name:
        problems.append(f"{where}: name is required")
    for key in ("name", "email", "directorate"):
        problem = limits.text_problem(str(raw.get(key) or "").strip(), key, limit=limits.SHORT)
        if problem:
            problems.append(f"{where}: {problem}")
    deputy_for = _names(raw.get("deputy_for"))
    if person_id and person_id in deputy_for:
        problems.append(f"{where}: {person_id} cannot be deputy for themselves (deputy_for)")
    roles = _names(raw.get("roles"))
    for role in roles:
        if role not in known_roles:
            problems.append(
                f"{where}: unknown role {role!r}; known: {', '.join(sorted(known_roles))}"
            )
    email = str(raw.get("email") or "").strip() or None
    if email is not None and ("@" not in email or any(c in email for c in "\r\n ")):
        problems.append(f"{where}: email {email!r} is not an address")
    active = raw.get("active", True)
    if isinstance(active, str):
        active = active.strip().lower() not in ("false", "no", "0", "")
    if len(problems) > before:
        return None
    return Person(
        id=person_id,
        name=name,
        email=email,
        directorate=str(raw.get("directorate") or "").strip() or None,
        roles=roles,
        deputy_for=deputy_for,
        channels=_names(raw.get("channels")),
        active=bool(active),
    )


def parse_people(path: Path, known_roles: Iterable[str]) -> list[Person]:
    """Read people from a CSV (header row) or TOML (``[[people]]``) file.

    Raises ValidationError listing every bad row; nothing is imported from a bad file.
    """
    roles = frozenset(known_roles)
    try:
        text = toml_input.read_text(path)
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except toml_input.TomlProblem as exc:
        raise ValidationError(f"{path}: {exc}") from exc
    problems: list[str] = []
    records: list[tuple[str, Mapping[str, Any]]] = []
    if path.suffix.lower() == ".toml":
        try:
            doc = toml_input.loads(text)
        except toml_input.TomlProblem as exc:
            raise ValidationError(f"{path}: {exc}") from exc
        entries = doc.get("people")
        if not isinstance(entries, list):
            raise ValidationError(f"{path}: expected [[people]] tables")
        records = [
            (f"{path}: people[{i}]", e if isinstance(e, dict) else {})
            for i, e in enumerate(entries)
        ]
    elif path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "id" not in reader.fieldnames:
            raise ValidationError(
                f"{path}: the first row must name the columns, including id, name and roles"
            )
        records = [(f"{path}: line {reader.line_num}", row) for row in reader]
    else:
        raise ValidationError(f"{path}: use a .csv or .toml file")
    people: list[Person] = []
    seen: dict[str, str] = {}
    for where, raw in records:
        person = _person(raw, where, roles, problems)
        if person is None:
            continue
        if person.id in seen:
            problems.append(f"{where}: id {person.id!r} appears twice (also {seen[person.id]})")
            continue
        seen[person.id] = where
        people.append(person)
    if problems:
        raise ValidationError(
            f"{len(problems)} problem(s), nothing imported: " + "; ".join(problems)
        )
    return people


def unknown_deputies(people: Sequence[Person], known_ids: Iterable[str]) -> list[str]:
    ids = set(known_ids) | {p.id for p in people}
    return [
        f"{p.id} is deputy for unknown person {other!r}"
        for p in people
        for other in p.deputy_for
        if other not in ids
    ]
