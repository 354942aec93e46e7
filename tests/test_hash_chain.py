"""The hash chain another program can verify: the published vector, schemes, redaction."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from qiflow import Engine, canonical
from qiflow.audit import GENESIS
from qiflow.store import normalise_url
from qiflow.workflow.catalog import digest
from tests.helpers import OWNER, new_project

DOC = Path(__file__).parent.parent / "docs" / "audit.md"
VECTOR_HASH = "ee37d3a77111ae554629e5d9f67de9e6017a789d020aee21a6b8ca984fbfc16b"
VECTOR = {
    "project_id": "6f1c0e2a9b3d4c5e8f7a6b5c4d3e2f10",
    "pos": 1,
    "version": 1,
    "type": "project.created",
    "actor": "a.khan",
    "created_at": datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
    "payload": {
        "ref": "QI-0001",
        "state": "idea",
        "title": "Reduce missed depot doses",
        "value": 2.5,
        "quality_objectives": ["Safer medicines"],
    },
}


def _independent() -> str:
    """The vector by the published recipe, with only json and hashlib (no RFC 8785 package:
    for these values, sorted compact JSON is the canonical form)."""

    def text_digest(s: str) -> str:
        return "sha256:" + hashlib.sha256(s.encode("utf-8")).hexdigest()

    payload = dict(VECTOR["payload"])  # type: ignore[call-overload]
    payload["title"] = text_digest(payload["title"])
    payload["quality_objectives"] = [text_digest(s) for s in payload["quality_objectives"]]
    content = json.dumps(
        {
            "actor": "a.khan",
            "at": "2026-01-05T09:00:00.000000Z",
            "payload": payload,
            "pos": 1,
            "project": VECTOR["project_id"],
            "scheme": 2,
            "type": "project.created",
            "version": 1,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(f"{GENESIS}\n{content}".encode()).hexdigest()


def test_known_answer_vector() -> None:
    body = canonical.content(**VECTOR)  # type: ignore[arg-type]
    assert canonical.chain(GENESIS, body) == VECTOR_HASH
    assert _independent() == VECTOR_HASH


def test_the_vector_is_published_in_the_docs() -> None:
    doc = DOC.read_text(encoding="utf-8")
    assert f"Hash: `{VECTOR_HASH}`" in doc
    published = re.search(r"```\n(\{.*\})\n```", doc)
    assert published is not None
    assert published.group(1).encode() == canonical.content(**VECTOR)  # type: ignore[arg-type]


def test_numbers_take_their_rfc_8785_form() -> None:
    body = canonical.content(**{**VECTOR, "payload": {"value": 3.0, "big": 1e21}})  # type: ignore[arg-type]
    assert b'"value":3' in body
    assert b'"big":1e+21' in body


def test_new_events_use_scheme_2_and_verify(engine: Engine, db_url: str) -> None:
    project = new_project(engine)
    engine.record_pdsa(project.ref, actor=OWNER, plan="Text a reminder to Mrs Jones")
    raw = create_engine(normalise_url(db_url))
    try:
        with raw.connect() as conn:
            schemes = set(conn.execute(text("SELECT scheme FROM qiflow_event")).scalars())
    finally:
        raw.dispose()
    assert schemes == {2}
    assert engine.verify_audit() == []


def test_free_text_can_be_redacted_without_breaking_the_chain(engine: Engine, db_url: str) -> None:
    project = new_project(engine)
    engine.record_pdsa(project.ref, actor=OWNER, plan="Text a reminder to Mrs Jones")
    raw = create_engine(normalise_url(db_url))
    try:
        with raw.begin() as conn:
            seq, payload = conn.execute(
                text("SELECT seq, payload FROM qiflow_event WHERE type = 'pdsa.recorded'")
            ).one()
            redacted = canonical.redact(json.loads(payload), "plan")
            assert "Jones" not in json.dumps(redacted)
            _bypass_append_only(conn)
            conn.execute(
                text("UPDATE qiflow_event SET payload = :p WHERE seq = :s"),
                {"p": json.dumps(redacted), "s": seq},
            )
    finally:
        raw.dispose()
    assert engine.verify_audit() == []
    # changing the text (rather than redacting it) is still caught
    raw = create_engine(normalise_url(db_url))
    try:
        with raw.begin() as conn:  # the append-only triggers are already off
            conn.execute(
                text("UPDATE qiflow_event SET payload = :p WHERE seq = :s"),
                {"p": json.dumps({**redacted, "plan": "Something else"}), "s": seq},
            )
    finally:
        raw.dispose()
    assert [b.seq for b in engine.verify_audit()] == [seq]


def _bypass_append_only(conn: object) -> None:
    from tests.test_audit import bypass_append_only

    bypass_append_only(conn)  # type: ignore[arg-type]


def test_a_workflow_file_with_toml_dates_has_a_digest() -> None:
    first = digest('name = "x"\nreviewed = 2026-01-05\nat = 09:00:00\n')
    assert first == digest('name = "x"\n# a comment\nreviewed = 2026-01-05\nat = 09:00:00\n')
    assert first != digest('name = "x"\nreviewed = 2026-01-06\nat = 09:00:00\n')


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["title", "notes", "reason", "a", "é", "\U0001f600", "\ue000", "b"])
            | st.text(max_size=3),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(payload=st.dictionaries(st.text(max_size=5) | st.sampled_from(["title"]), _json))
def test_the_fast_canonical_form_is_rfc_8785(payload: dict) -> None:
    """canonical.content writes most payloads with the standard library's JSON; whatever
    it writes must be byte for byte what the rfc8785 package writes."""
    fields = {
        "project_id": "p1",
        "pos": 1,
        "version": 1,
        "type": "x.y",
        "actor": "ölivia",
        "created_at": datetime(2027, 1, 1, tzinfo=UTC),
    }
    expected_document = {
        "actor": "ölivia",
        "at": "2027-01-01T00:00:00.000000Z",
        "payload": canonical.committed(payload),
        "pos": 1,
        "project": "p1",
        "scheme": 2,
        "type": "x.y",
        "version": 1,
    }
    try:
        expected = rfc8785.dumps(expected_document)
    except rfc8785.CanonicalizationError:
        with pytest.raises(rfc8785.CanonicalizationError):
            canonical.content(payload=payload, **fields)
        return
    assert canonical.content(payload=payload, **fields) == expected
