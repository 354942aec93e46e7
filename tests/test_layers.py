"""The folder tree is the architecture: each layer imports only the layers below it."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from tests.layers import check

QIFLOW = Path(__file__).resolve().parents[1] / "qiflow"


def test_every_import_respects_the_layers() -> None:
    assert check(QIFLOW) == []


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of the package to break on purpose."""
    shutil.copytree(QIFLOW, tmp_path / "qiflow", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "qiflow"


def add_to(path: Path, code: str) -> int:
    """Append ``code`` to ``path``; return the line it starts on."""
    text = path.read_text(encoding="utf-8")
    path.write_text(text + code, encoding="utf-8")
    return text.count("\n") + 1


def test_an_upward_import_fails_even_inside_a_function(copy: Path) -> None:
    line = add_to(
        copy / "store" / "counters.py",
        "\n\ndef _cheat() -> None:\n    from qiflow.engine import Engine  # noqa: F401\n",
    )
    assert check(copy) == [
        f"qiflow/store/counters.py:{line + 3}: qiflow.store.counters (qiflow.store) "
        "imports qiflow.engine, a layer above it"
    ]


def test_siblings_of_one_layer_may_not_import_each_other(copy: Path) -> None:
    line = add_to(copy / "lifecycle" / "draft.py", "from qiflow.notify import outbox\n")
    assert check(copy) == [
        f"qiflow/lifecycle/draft.py:{line}: qiflow.lifecycle.draft imports qiflow.notify.outbox; "
        "qiflow.lifecycle and qiflow.notify share a layer and must not import each other"
    ]


def test_only_the_store_imports_sqlalchemy(copy: Path) -> None:
    line = add_to(copy / "notify" / "reminders.py", "import sqlalchemy\n")
    assert check(copy) == [
        f"qiflow/notify/reminders.py:{line}: imports sqlalchemy; only qiflow.store may"
    ]


def test_a_new_module_must_be_given_a_layer(copy: Path) -> None:
    (copy / "unplaced").mkdir()
    (copy / "unplaced" / "__init__.py").write_text('"""New."""\n', encoding="utf-8")
    assert check(copy) == [
        "qiflow/unplaced/__init__.py: qiflow.unplaced is in no layer; add it to LAYERS"
    ]


@pytest.mark.parametrize(
    "init", sorted(QIFLOW.rglob("__init__.py")), ids=lambda p: str(p.relative_to(QIFLOW.parent))
)
def test_package_faces_only_re_export(init: Path) -> None:
    body = ast.parse(init.read_text(encoding="utf-8")).body
    allowed = (ast.Import, ast.ImportFrom)
    for node in body:
        is_docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        is_all = isinstance(node, ast.Assign | ast.AnnAssign) and any(
            isinstance(target, ast.Name) and target.id in ("__all__", "__version__")
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        )
        assert is_docstring or is_all or isinstance(node, allowed), (
            f"{init}:{node.lineno} defines something; move it into a module of its own"
        )


def _store_read_methods() -> list[tuple[str, str, str]]:
    """(module, Class.method, return annotation) of every public repository method."""
    found = []
    for path in sorted((QIFLOW / "store").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for cls in (node for node in tree.body if isinstance(node, ast.ClassDef)):
            for fn in cls.body:
                if isinstance(fn, ast.FunctionDef) and not fn.name.startswith("_") and fn.returns:
                    found.append((path.name, f"{cls.name}.{fn.name}", ast.unparse(fn.returns)))
    return found


def test_the_store_hands_out_values_never_rows() -> None:
    """No repository method returns a row: a dict keyed by column, a SQLAlchemy row or
    mapping. Documents are the exceptions: a chart state is JSON the caller saved, and a
    subject-access export is every stored record naming a person, by table, handed to
    that person as JSON (nothing in qiflow works on it)."""
    documents = {"Measurement.chart_states", "StoredProject.columns", "Privacy.export"}
    rows = [
        f"{module}: {name} -> {returns}"
        for module, name, returns in _store_read_methods()
        if name not in documents
        and any(word in returns for word in ("dict[str, Any]", "Row", "Mapping[str, Any]"))
    ]
    assert _store_read_methods(), "found no repository methods: is the store elsewhere?"
    assert rows == []


def test_a_stored_project_is_frozen() -> None:
    import dataclasses

    from qiflow.store import StoredProject

    assert StoredProject.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert "project" in {f.name for f in dataclasses.fields(StoredProject)}
