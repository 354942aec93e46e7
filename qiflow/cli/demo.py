"""``qiflow demo``."""

from __future__ import annotations

from pathlib import Path

import click

from qiflow.cli.context import Context, pass_context
from qiflow.clock import SystemClock
from qiflow.demo import (
    demo_clock,
    load_portfolio,
    measurement,
    run_demo,
    summarise,
    write_charts,
)
from qiflow.engine import Engine


@click.command()
@click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="qiflow-demo.db",
    show_default=True,
    help="The SQLite file to create (replaced if it exists).",
)
@click.option(
    "--charts",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write every measure's chart [default: FILE's name + '-charts'].",
)
@click.option(
    "--serve",
    "browse",
    is_flag=True,
    help="Then serve the web pages and the API over it (needs the http extra), with "
    "sign-in tokens for a QI lead and the medical director; Ctrl-C stops.",
)
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="The port for --serve (on 127.0.0.1).",
)
@pass_context
def demo(state: Context, /, path: Path, charts: Path | None, browse: bool, port: int) -> None:
    """Seed a sample portfolio of ~20 projects into a fresh SQLite file and walk
    several through the lifecycle: PDSA cycles, an adapt, an abandon with its
    learning, and steps the governance rules refuse. With --serve, browse it."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    portfolio = load_portfolio()
    clock = demo_clock(portfolio)
    with Engine(
        url,
        workflows_dir=state.workflows_dir,
        clock=clock,
        migrate=True,
        plugins=state.plugins(),
        timezone=state.settings().window.timezone,
    ) as engine:
        run_demo(engine, clock, click.echo, portfolio)
        clock.set(SystemClock().now())
        summarise(engine, click.echo)
        measurement(engine, click.echo)
        folder = charts or path.with_name(f"{path.stem}-charts")
        written = write_charts(engine, folder)
        click.echo(f"\n{written} charts (Making Data Count style) written to {folder}")
    click.echo(
        f"\nThe portfolio is in {path}. Explore it:\n"
        f"    qiflow --db {url} project list\n"
        f"    qiflow --db {url} project show QI-0001\n"
        f"    qiflow --db {url} project history QI-0002\n"
        f"    qiflow --db {url} audit verify"
    )
    if browse:
        serve_demo(state, url, port)


#: Who the demo's sign-in tokens are for: a QI lead and sponsor, and a QEIA approver.
DEMO_VISITORS = (("s.patel", "QI lead and sponsor"), ("dr.mensah", "medical director"))


def serve_demo(state: Context, url: str, port: int) -> None:
    """Serve the pages over the demo portfolio (the real clock from now on)."""
    try:
        from qiflow import web
    except ImportError as exc:
        raise click.UsageError(
            f"--serve needs the http extra: pip install 'qiflow[http]' ({exc.name} is missing)"
        ) from None
    with Engine(
        url,
        workflows_dir=state.workflows_dir,
        plugins=state.plugins(),
        timezone=state.settings().window.timezone,
    ) as engine:
        click.echo(f"\nBrowse it at http://127.0.0.1:{port}/ and sign in with a token:")
        for actor, who in DEMO_VISITORS:
            _token, text = engine.create_token(actor=actor, scope="write", created_by="demo")
            click.echo(f"    {actor} ({who}): {text}")
        click.echo("Ctrl-C stops the server.")
        web.serve(engine, state.settings().web, host="127.0.0.1", port=port)
