"""Personal data: everything qiflow holds about a person, and erasing it (UK GDPR).

A person is found by their id (exact, in the columns that hold ids) and by their name and
e-mail address (anywhere in any text column, case-insensitively, and in the JSON-escaped
form those columns store). Erasing keeps the id, which events and rows refer to, and
makes the directory entry a "former staff member":

* free text in events is replaced by its redaction marker where the hash chain commits to
  it by digest (scheme 2; :mod:`qiflow.canonical`), so every chain still verifies;
* free text elsewhere (the project row, PDSA cycles, comments...) becomes ``[redacted]``,
  as replaying the redacted events gives;
* remembered responses (idempotency) that hold it are forgotten, and so are the person's
  own notifications;
* whatever cannot be changed without breaking something (an id, a key, a scheme 1 event,
  another person's directory entry) is listed, not touched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    RowMapping,
    String,
    Table,
    Text,
    TypeDecorator,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from qiflow import canonical
from qiflow.clock import ensure_utc
from qiflow.store.tables import EVENT, NOTIFICATION, PERSON, REDACTION, metadata

#: What a forgotten person is called from then on.
FORMER = "former staff member"
#: Caches of responses, kept only to answer a retried request: rows naming the person go.
CACHES = frozenset({"qiflow_idempotency", "qiflow_http_idempotency"})
#: Tables whose text is not about people (a workflow file), never rewritten.
UNTOUCHED = frozenset({"qiflow_workflow_definition", "qiflow_redaction", "qiflow_person"})
#: Columns that hold ids or keys: a match there cannot be erased without breaking a link.
ID_COLUMNS = frozenset(
    {
        "actor", "owner", "sponsor", "recipient", "claimed_by", "raised_by", "reviewed_by",
        "requested_by", "decided_by", "approver", "person_id", "created_by", "key",
        "message_key", "lead_executive_sponsor", "qi_sponsor", "via", "name",
    }
)  # fmt: skip


@dataclass
class Forgotten:
    """What erasing a person changed, and where it could not vouch for the result."""

    person: str
    redacted_events: int = 0
    redacted_rows: int = 0
    deleted_rows: int = 0
    not_erased: list[str] = field(default_factory=list)


def _forms(needles: Sequence[str]) -> list[str]:
    """Each needle, lower-cased."""
    return list(dict.fromkeys(n.lower() for n in needles if n))


def _text_columns(table: Table) -> list[Column[Any]]:
    """Columns of text or JSON (SQLModel's ``AutoString`` is a decorator over String)."""
    found = []
    for column in table.columns:
        kind = column.type
        if isinstance(kind, TypeDecorator):
            kind = kind.impl_instance
        if isinstance(kind, String | JSON):
            found.append(column)
    return found


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _strings(value: Any) -> Iterator[str]:
    """Every string in a value, JSON text included (decoded, so escapes do not hide one)."""
    if isinstance(value, str):
        yield value
        if value[:1] in ("{", "["):
            try:
                decoded = json.loads(value)
            except ValueError:
                return
            yield from _strings(decoded)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _mentions(value: Any, forms: Sequence[str]) -> bool:
    return any(form in text.lower() for text in _strings(value) for form in forms)


def _key_of(table: Table, row: Mapping[Any, Any]) -> dict[str, Any]:
    return {c.name: row[c.name] for c in table.primary_key.columns}


def _where(table: Table, key: Mapping[str, Any]) -> Any:
    return [table.c[name] == value for name, value in key.items()]


def _replace(value: Any, forms: Sequence[str]) -> Any:
    """Every string in ``value`` that mentions a needle, as ``[redacted]``."""
    if isinstance(value, str):
        return canonical.SHOWN if _mentions(value, forms) else value
    if isinstance(value, list):
        return [_replace(v, forms) for v in value]
    if isinstance(value, dict):
        return {k: _replace(v, forms) for k, v in value.items()}
    return value


def _fixed(column: Column[Any]) -> bool:
    """A column whose value links or identifies: never rewritten."""
    return bool(
        column.primary_key or column.foreign_keys or column.unique or column.name in ID_COLUMNS
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return ensure_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


class Privacy:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _rows(
        self, table: Table, forms: Sequence[str], person_id: str | None = None
    ) -> Iterator[RowMapping]:
        """Rows of ``table`` with a needle in a text column (or the id in an id column).

        The database narrows the search by the needles' plain-ASCII words (its ``lower()``
        may not fold other letters: SQLite's does not); each row is then checked here."""
        columns = _text_columns(table)
        if not columns:
            return
        words = {w for form in forms for w in re.findall(r"[a-z0-9@._-]{3,}", form)}
        conditions = []
        for column in columns:
            lowered = func.lower(cast(column, Text))
            conditions += [lowered.contains(word, autoescape=True) for word in words]
            if len(words) < len(forms):  # a needle with no such word: no narrowing
                conditions.append(column.is_not(None))
            if person_id is not None:
                if column.name in ID_COLUMNS or column.primary_key:
                    conditions.append(column == person_id)
                if isinstance(column.type, JSON) or column.name == "payload":
                    conditions.append(
                        cast(column, Text).contains(json.dumps(person_id), autoescape=True)
                    )
        quoted = json.dumps(person_id) if person_id is not None else None
        for row in self._conn.execute(select(table).where(or_(*conditions))).mappings():
            values = [row[c.name] for c in columns if row[c.name] is not None]
            if any(_mentions(v, forms) for v in values) or (
                person_id is not None
                and any(v == person_id or (quoted and quoted in _as_text(v)) for v in values)
            ):
                yield row

    def export(self, person_id: str, needles: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Every row that names the person, by table (the directory entry included)."""
        forms = _forms(needles)
        found: dict[str, list[dict[str, Any]]] = {}
        for table in metadata.sorted_tables:
            if table.name == "qiflow_redaction":
                continue
            rows = [
                {k: _jsonable(v) for k, v in row.items()}
                for row in self._rows(table, forms, person_id)
            ]
            if rows:
                found[table.name] = rows
        return found

    def forget(self, person_id: str, needles: Sequence[str], *, now: datetime) -> Forgotten:
        """Erase the person's name, e-mail and channels everywhere it can (see the module)."""
        forms = _forms(needles)
        result = Forgotten(person_id)
        self._conn.execute(
            update(PERSON)
            .where(PERSON.c.id == person_id)
            .values(
                name=FORMER,
                email=None,
                directorate=None,
                roles=[],
                deputy_for=[],
                channels=[],
                active=False,
                updated_at=ensure_utc(now),
            )
        )
        result.deleted_rows += (
            self._conn.execute(delete(NOTIFICATION).where(NOTIFICATION.c.recipient == person_id))
        ).rowcount or 0
        for table in metadata.sorted_tables:
            if table.name == "qiflow_person":
                for row in self._rows(table, forms):
                    result.not_erased.append(
                        f"qiflow_person {row['id']}: another directory entry shares the "
                        "name or e-mail; check it is not this person under another id"
                    )
                continue
            if table.name in UNTOUCHED:
                continue
            for row in list(self._rows(table, forms)):
                if table is EVENT:
                    self._redact_event(row, forms, result)
                elif table.name in CACHES:
                    self._conn.execute(delete(table).where(*_where(table, _key_of(table, row))))
                    result.deleted_rows += 1
                else:
                    self._redact_row(table, row, forms, result)
        self._conn.execute(delete(REDACTION))
        return result

    def _redact_row(
        self, table: Table, row: Mapping[Any, Any], forms: Sequence[str], result: Forgotten
    ) -> None:
        key = _key_of(table, row)
        values = {}
        for column in _text_columns(table):
            value = row[column.name]
            if value is None or not _mentions(value, forms):
                continue
            if _fixed(column):
                result.not_erased.append(
                    f"{table.name} {key}: column {column.name} holds an id or key that names "
                    "the person; it is kept so links stay whole"
                )
                continue
            values[column.name] = _replace(value, forms)
        if values:
            self._conn.execute(update(table).where(*_where(table, key)).values(**values))
            result.redacted_rows += 1

    def _redact_event(
        self, row: Mapping[Any, Any], forms: Sequence[str], result: Forgotten
    ) -> None:
        where = f"event {row['seq']} ({row['type']})"
        for column in ("actor", "type"):
            if _mentions(row[column], forms):
                result.not_erased.append(f"{where}: its {column} names the person")
        if not _mentions(row["payload"], forms):
            return
        if row["scheme"] != canonical.SCHEME:
            result.not_erased.append(
                f"{where}: written before hash scheme 2, its chain commits to the whole "
                "text; redacting it would break the chain"
            )
            return
        payload = json.loads(row["payload"])
        redacted = canonical.redact_matching(payload, lambda text: _mentions(text, forms))
        assert canonical.committed(redacted) == canonical.committed(payload)
        if redacted == payload:
            result.not_erased.append(f"{where}: the person is named outside its free text")
            return
        if _mentions(redacted, forms):
            result.not_erased.append(
                f"{where}: the person is also named outside its free text, which stays"
            )
        self._conn.execute(insert(REDACTION).values(seq=row["seq"]))
        self._conn.execute(
            update(EVENT)
            .where(EVENT.c.seq == row["seq"])
            .values(payload=json.dumps(redacted, ensure_ascii=False, sort_keys=True))
        )
        result.redacted_events += 1
