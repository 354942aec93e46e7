"""qiflow's layers, and a check that no module imports one above its own.

Every import counts: at module level, inside functions, and under ``TYPE_CHECKING``.
Run it as ``python -m tests.layers`` (``.ci/run`` does); ``tests/test_layers.py`` runs
it too, and shows it failing on a deliberately wrong import.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

#: From the top down. A module may import its own layer's package and any layer below;
#: the packages that share a layer are independent of each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("qiflow.__main__",),
    ("qiflow.cli",),
    ("qiflow.web",),  # the web pages: the HTTP API with pages beside it
    ("qiflow.http",),  # the HTTP API: an entry point above the engine, like the CLI
    ("qiflow.pytest_plugin",),  # qiflow's pytest fixtures: daemon passes for plugin tests
    # entry points above the engine
    ("qiflow.daemon", "qiflow.demo", "qiflow.testing", "qiflow.doctor"),
    ("qiflow.metrics",),  # the daemon's metrics and health answers
    ("qiflow.config",),
    ("qiflow",),  # the public API: re-exports only
    ("qiflow.engine",),  # the facade
    ("qiflow.builtin",),  # qiflow's own plugins
    ("qiflow.plugins",),
    ("qiflow.hookspecs",),  # the plugin contract
    ("qiflow.governance",),
    ("qiflow.lifecycle", "qiflow.notify", "qiflow.access"),  # independent domain packages
    ("qiflow.workflow",),
    ("qiflow.measurement",),  # a measure's chart and signals, progress scores
    ("qiflow.store",),  # all SQL
    # values: checks, replays, SPC; the driver diagram and team, the risk register as values
    ("qiflow.fields", "qiflow.replay", "qiflow.spc", "qiflow.charter", "qiflow.risks"),
    ("qiflow.snapshots", "qiflow.audit"),  # the frozen values; the hash chain
    # checked input: limits, TOML files, the configuration schema, the canonical form, time
    (
        "qiflow.limits",
        "qiflow.toml_input",
        "qiflow.config_schema",
        "qiflow.canonical",
        "qiflow.clock",
        "qiflow.hookcall",
    ),
    (  # the ground: durations, errors, logging, hook markers, bundled data
        "qiflow.durations",
        "qiflow.idempotency",
        "qiflow.exceptions",
        "qiflow.logs",
        "qiflow.hookmarkers",
        "qiflow.data",
    ),
)
#: Third-party packages only one layer may import.
OWNED = {
    "sqlalchemy": "qiflow.store",
    "sqlmodel": "qiflow.store",
    "alembic": "qiflow.store",
    "psycopg": "qiflow.store",
    "apscheduler": "qiflow.daemon",
    "prometheus_client": "qiflow.metrics",
    "transitions": "qiflow.workflow",
    "click": "qiflow.cli",
    "matplotlib": "qiflow.spc",
    "jinja2": "qiflow.web",
    "weasyprint": "qiflow.web",
}


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(root: Path, path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in ``path``, resolved to absolute names."""
    me = module_name(root, path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # ``from qiflow import audit`` imports the module qiflow.audit
                sub = f"{base}.{alias.name}"
                exists = (root.parent / Path(*sub.split("."))).with_suffix(".py").exists() or (
                    root.parent / Path(*sub.split(".")) / "__init__.py"
                ).exists()
                yield node.lineno, sub if exists else base


def unit_of(module: str, units: Sequence[Sequence[str]]) -> tuple[int, str] | None:
    """(layer index, unit) of the most specific unit that holds ``module``."""
    best: tuple[int, str] | None = None
    for index, layer in enumerate(units):
        for unit in layer:
            inside = "." in unit and module.startswith(unit + ".")  # the top package: exact
            if (module == unit or inside) and (best is None or len(unit) > len(best[1])):
                best = (index, unit)
    return best


def check(root: Path, layers: Sequence[tuple[str, ...]] = LAYERS) -> list[str]:
    """Every import in the package at ``root`` that breaks the layers, as one line each."""
    units = layers
    problems: dict[str, None] = {}  # in order, once each
    top = root.name
    for path in sorted(root.rglob("*.py")):
        me = module_name(root, path)
        mine = unit_of(me, units)
        where = path.relative_to(root.parent)
        if mine is None:
            problems.setdefault(f"{where}: {me} is in no layer; add it to LAYERS")
            continue
        for line, target in imports(root, path):
            first = target.split(".")[0]
            owner = OWNED.get(first)
            if owner is not None and not (me == owner or me.startswith(owner + ".")):
                problems.setdefault(f"{where}:{line}: imports {first}; only {owner} may")
            if first != top:
                continue
            theirs = unit_of(target, units)
            if theirs is None or theirs[1] == mine[1] or me.startswith(target + "."):
                continue  # inside one's own package (or its parent's re-exports)
            if theirs[0] < mine[0]:
                problems.setdefault(
                    f"{where}:{line}: {me} ({mine[1]}) imports {target}, a layer above it"
                )
            elif theirs[0] == mine[0]:
                problems.setdefault(
                    f"{where}:{line}: {me} imports {target}; {mine[1]} and {theirs[1]} "
                    "share a layer and must not import each other"
                )
    return list(problems)


def main(argv: Sequence[str]) -> int:
    root = Path(argv[0] if argv else Path(__file__).resolve().parents[1] / "qiflow")
    problems = check(root)
    for problem in problems:
        print(problem)
    if not problems:
        print(f"{root.name}: every import respects the layers")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
