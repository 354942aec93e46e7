"""``qiflow report``: the committee or programme board pack as HTML, PDF or CSV."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from qiflow.cli.context import Context, pass_context


@click.command()
@click.argument("kind", type=click.Choice(["committee", "board"]))
@click.option(
    "--since",
    metavar="DATE",
    help="Changes and exceptions since this day (YYYY-MM-DD, the trust's time zone); "
    "default: the last 30 days.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "pdf", "csv"]),
    default="html",
    show_default=True,
    help="html (one file, charts inline), pdf (through WeasyPrint) or csv (a row per "
    "project and key measure, for analysts).",
)
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    metavar="FILE",
    help="Where to write the pack ('-': standard output, not for pdf).",
)
@click.option(
    "--purpose",
    type=click.Choice(["assurance", "information", "decision"]),
    help="Why the meeting receives it (default: assurance for committee, decision for board).",
)
@click.option("--meeting", metavar="NAME", help="The meeting's name on the front.")
@pass_context
def report(
    state: Context,
    /,
    kind: str,
    since: str | None,
    fmt: str,
    output: str,
    purpose: str | None,
    meeting: str | None,
) -> None:
    """Write the pack for a quality committee (KIND committee: the whole portfolio) or the
    Transformation Programme Board (board: programme projects and candidates).

    The pack: meeting, date and purpose; the portfolio by stage and what changed since;
    progress scores; key measures with their Making Data Count icons and charts; QEIA
    status; escalations and programme status; exceptions; decisions needed. The same
    pack is a page at /reports/committee of `qiflow serve`.
    """
    if fmt == "pdf" and output == "-":
        raise click.UsageError("a PDF goes to a file: give -o FILE.pdf")
    try:  # the pages' templates come with the http extra
        from qiflow.web import pack
        from qiflow.web.rendering import environment
    except ImportError as exc:
        raise click.UsageError(
            f"reports need the http extra: pip install 'qiflow[http]' ({exc.name} is missing)"
        ) from None
    engine = state.engine()
    start = pack.parse_since(since, engine.zone) if since else None
    built = pack.build(engine, kind, since=start, purpose=purpose, meeting=meeting)
    env = environment(engine.zone)
    if fmt == "pdf":
        try:
            content: bytes = pack.pdf(env, built)
        except OSError as exc:  # WeasyPrint could not load pango
            raise click.ClickException(
                f"PDF needs the pango library ({exc}); on Debian: apt-get install "
                "libpango-1.0-0 libpangoft2-1.0-0"
            ) from None
    elif fmt == "csv":
        content = pack.csv_text(built).encode("utf-8")
    else:
        content = pack.html(env, built).encode("utf-8")
    if output == "-":
        click.echo(content.decode("utf-8"), nl=False)
        return
    target = Path(output)
    if not target.parent.is_dir():
        raise click.UsageError(f"-o {output}: the folder {target.parent} does not exist")
    # written whole or not at all: a temporary file beside it, then renamed
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    click.echo(f"{built.meeting} pack written to {target} ({fmt})", err=True)
