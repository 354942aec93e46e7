"""``qiflow workflow``: check and draw workflow files."""

from __future__ import annotations

import os
from pathlib import Path

import click

from qiflow.cli.context import Context, pass_context
from qiflow.cli.output import emit_json, json_option, table
from qiflow.lifecycle.vocabulary import vocabulary
from qiflow.workflow import Problem, Workflow, load_directory
from qiflow.workflow.catalog import default_workflows_dir
from qiflow.workflow.render import to_mermaid, to_text


def _configured_dir(state: Context) -> Path:
    return Path(
        state.workflows_dir or os.environ.get("QIFLOW_WORKFLOWS_DIR") or default_workflows_dir()
    )


def _load(state: Context, paths: list[Path]) -> tuple[list[Workflow], list[Problem]]:
    return load_directory(paths, vocabulary(state.plugins()))


@click.group()
def workflow() -> None:
    """Check, list and draw workflow files."""


@workflow.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@json_option
@pass_context
def validate(state: Context, /, paths: tuple[Path, ...], as_json: bool) -> None:
    """Check workflow files and report every problem (default: the workflows directory).

    Exits with status 1 if any file has a problem.
    """
    targets = list(paths) or [_configured_dir(state)]
    workflows, problems = _load(state, targets)
    if as_json:
        emit_json(
            {
                "valid": [f"{w.name} v{w.version}" for w in workflows],
                "problems": [
                    {"file": p.path, "key": p.key, "message": p.message} for p in problems
                ],
            }
        )
    else:
        for problem in problems:
            click.echo(str(problem), err=True)
        for w in workflows:
            click.echo(f"ok: {w.path}: {w.name} version {w.version}")
        if problems:
            click.echo(f"{len(problems)} problem(s) found", err=True)
    if problems:
        raise SystemExit(1)


@workflow.command(name="list")
@json_option
@pass_context
def list_(state: Context, /, as_json: bool) -> None:
    """List the workflow versions in the workflows directory."""
    workflows, problems = _load(state, [_configured_dir(state)])
    if as_json:
        emit_json(
            [
                {"name": w.name, "version": w.version, "title": w.title, "file": w.path}
                for w in workflows
            ]
        )
    else:
        table(
            ["name", "version", "states", "title", "file"],
            [(w.name, w.version, len(w.states), w.title, w.path) for w in workflows],
        )
    if problems:
        click.echo(f"{len(problems)} problem(s): run `qiflow workflow validate`", err=True)


@workflow.command()
@click.argument("name", default="qi_project")
@click.option("--version", "version", type=int, help="[default: the latest]")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "mermaid", "toml"]),
    default="text",
    show_default=True,
    help="toml: the workflow file as qiflow reads and stores it (an `extends` resolved).",
)
@pass_context
def show(state: Context, /, name: str, version: int | None, fmt: str) -> None:
    """Show workflow NAME (resolved, when its file extends another) as text, as a Mermaid
    state diagram, or as the TOML qiflow stores."""
    workflows, problems = _load(state, [_configured_dir(state)])
    if problems:
        click.echo(
            f"{len(problems)} problem(s) in workflow files: run `qiflow workflow validate`",
            err=True,
        )
    matching = sorted((w for w in workflows if w.name == name), key=lambda w: w.version)
    if version is not None:
        matching = [w for w in matching if w.version == version]
    if not matching:
        known = ", ".join(sorted({f"{w.name} v{w.version}" for w in workflows})) or "none"
        raise click.ClickException(
            f"no workflow {name!r}{f' version {version}' if version else ''}; found: {known}"
        )
    chosen = matching[-1]
    if fmt == "toml":
        click.echo(chosen.source, nl=not chosen.source.endswith("\n"))
        return
    click.echo(to_mermaid(chosen) if fmt == "mermaid" else to_text(chosen), nl=False)
