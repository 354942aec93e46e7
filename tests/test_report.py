"""Committee and board packs: built from a real portfolio, written by ``qiflow report`` as
PDF (read back as text, pages rendered to PNG for the eye), CSV and HTML, and served as a
page."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from qiflow import Engine
from qiflow.cli import main
from tests.external_tools import missing
from tests.helpers import LOW_RISK, OWNER, SPONSOR, drive_to, new_project, to_measurement_plan
from tests.web_support import ARTEFACTS, signed_in, site

FORMULA = "=HYPERLINK(1)"


def run(db_url: str, *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(main, ["--db", db_url, *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def portfolio(engine: Engine) -> dict[str, str]:
    """A small portfolio with something in every section; name -> ref."""
    testing = drive_to(engine, "pdsa_testing")
    for value in [10, 11, 10, 12, 11, 10, 11, 12, 10, 11, 10, 11, 30]:
        engine.record_data_point(testing.ref, "Missed doses", value, actor=OWNER)
    big = engine.create_project(
        "Trust-wide patient flow",
        actor=OWNER,
        owner=OWNER,
        sponsor=SPONSOR,
        expected_saving=300_000,
    )
    pending = to_measurement_plan(engine, new_project(engine, "Falls at night"))
    engine.request_signoff(pending.ref, "qeia", LOW_RISK, actor=OWNER)
    rejected = to_measurement_plan(engine, new_project(engine, FORMULA))
    engine.request_signoff(rejected.ref, "qeia", LOW_RISK, actor=OWNER)
    engine.decide_signoff(rejected.ref, "qeia", actor=SPONSOR, approve=False, comment="No")
    return {
        "testing": testing.ref,
        "big": big.ref,
        "pending": pending.ref,
        "rejected": rejected.ref,
    }


def pdf_text(path: Path) -> str:
    program = shutil.which("pdftotext")
    if program is None:
        missing("pdftotext (Debian package poppler-utils)", "QIFLOW_TEST_BROWSER")
    done = subprocess.run([program, "-layout", str(path), "-"], capture_output=True, check=True)
    return done.stdout.decode("utf-8")


def pdf_pages_as_png(path: Path, folder: Path) -> list[Path]:
    program = shutil.which("pdftoppm")
    if program is None:
        missing("pdftoppm (Debian package poppler-utils)", "QIFLOW_TEST_BROWSER")
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("page-*.png"):
        old.unlink()
    subprocess.run([program, "-r", "80", "-png", str(path), str(folder / "page")], check=True)
    return sorted(folder.glob("page-*.png"))


def test_the_committee_pack_as_pdf_has_every_section(db_url: str, tmp_path: Path) -> None:
    with Engine(db_url) as engine:
        refs = portfolio(engine)
    out = tmp_path / "committee.pdf"
    run(db_url, "report", "committee", "--format", "pdf", "-o", str(out))
    assert out.read_bytes().startswith(b"%PDF-")
    pages = pdf_pages_as_png(out, ARTEFACTS / "committee-pack")
    assert len(pages) >= 2
    text = " ".join(pdf_text(out).split())
    for expected in (
        "Quality committee",
        "Purpose For assurance",
        "Portfolio by stage",
        "PDSA testing 1",
        "Measurement plan 2",
        "Idea 1",
        "Progress scores",
        "Not scored 4",
        "Key measures",
        f"{refs['testing']}: Reduce missed doses Missed doses (%) 30.0 Concern (high)",
        "QEIA status",
        "Not requested: 1; Passed: 1; Pending: 1; Rejected: 1",
        "Escalations and programme status",
        "Programme projects: 0; candidates: 1.",
        f"{refs['big']}: Trust-wide patient flow: candidate, idea",
        "Exceptions",
        f"{refs['testing']}: Reduce missed doses: concern signal on Missed doses",
        f"{refs['rejected']}: {FORMULA}: QEIA stage 1 rejected",
        "Decisions needed",
        f"{refs['pending']}: Falls at night: QEIA stage 1: awaiting sponsor, qi lead",
        f"{refs['big']}: Trust-wide patient flow: candidate for programme status",
    ):
        assert expected in text, expected
    assert f"{refs['big']} Trust-wide patient flow: created" in text  # changes since


def test_the_board_pack_covers_programme_projects_and_candidates(
    db_url: str, tmp_path: Path
) -> None:
    with Engine(db_url) as engine:
        refs = portfolio(engine)
    out = tmp_path / "board.html"
    run(db_url, "report", "board", "--format", "html", "-o", str(out))
    html = out.read_text(encoding="utf-8")
    assert "Transformation Programme Board" in html
    assert "For decision" in html
    assert "Trust-wide patient flow" in html
    assert "Reduce missed doses" not in html
    assert "Falls at night" not in html
    assert refs["big"] in html


def test_the_csv_has_a_row_per_project_and_key_measure(db_url: str, tmp_path: Path) -> None:
    with Engine(db_url) as engine:
        refs = portfolio(engine)
    result = run(db_url, "report", "committee", "--format", "csv", "-o", "-")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    by_ref = {row["ref"]: row for row in rows}
    assert set(by_ref) == set(refs.values())
    testing = by_ref[refs["testing"]]
    assert (testing["measure"], testing["latest"], testing["variation"]) == (
        "Missed doses",
        "30",
        "concern_high",
    )
    assert (testing["state"], testing["qeia"]) == ("pdsa_testing", "Passed")
    assert by_ref[refs["pending"]]["qeia"] == "Pending"
    assert by_ref[refs["big"]]["programme_status"] == "candidate"
    assert by_ref[refs["rejected"]]["title"] == "'" + FORMULA  # never run as a formula


def test_the_html_pack_stands_alone(db_url: str, tmp_path: Path) -> None:
    with Engine(db_url) as engine:
        portfolio(engine)
    out = tmp_path / "pack.html"
    run(
        db_url,
        "report",
        "committee",
        "-o",
        str(out),
        "--purpose",
        "information",
        "--meeting",
        "Quality and Safety Committee",
    )
    html = out.read_text(encoding="utf-8")
    assert "Quality and Safety Committee" in html
    assert "For information" in html
    assert "<svg" in html  # the chart, inline
    assert "<link" not in html
    assert "<script" not in html
    assert 'src="http' not in html


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "last week", "-o", "x.html"), "is not a date such as 2026-01-31"),
        (("--format", "pdf", "-o", "-"), "a PDF goes to a file"),
        (("-o", "no/such/folder/x.html"), "does not exist"),
        (("--since", "2999-01-01", "-o", "x.html"), "is in the future"),
    ],
)
def test_bad_report_options_say_what_to_do_and_write_nothing(
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    message: str,
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    result = CliRunner().invoke(main, ["--db", db_url, "report", "committee", *args])
    assert result.exit_code != 0
    assert message in result.output
    assert list(work.iterdir()) == []


def test_the_pack_is_a_page_and_downloads(engine: Engine) -> None:
    refs = portfolio(engine)
    client = signed_in(site(engine), engine, OWNER)
    page = client.get("/reports/committee", params={"since": "2000-01-01"})
    assert page.status_code == 200
    assert "Quality committee" in page.text
    assert f"{refs['big']} Trust-wide patient flow: created" in page.text
    pdf = client.get("/reports/committee.pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    rows = client.get("/reports/board.csv").text.splitlines()
    assert len(rows) == 2  # the header and the one candidate
    assert client.get("/reports/nonsense").status_code == 404
    bad = client.get("/reports/committee", params={"since": "soon"})
    assert bad.status_code == 400
    assert "is not a date" in bad.text
