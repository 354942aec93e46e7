"""docs/plugins.md documents every hook with its exact argument names, and every public
object a plugin touches member by member (its "Reference" section)."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
from pathlib import Path

import pytest

from qiflow import hookspecs

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
HEADING = re.compile(r"^### `(?P<name>qiflow_\w+)\((?P<args>[^)]*)\)`$", re.MULTILINE)


def documented() -> dict[str, list[str]]:
    return {
        m["name"]: [a.strip() for a in m["args"].split(",") if a.strip()]
        for m in HEADING.finditer(GUIDE.read_text())
    }


def specified() -> dict[str, list[str]]:
    return {
        name: list(inspect.signature(function).parameters)
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("qiflow_")
    }


def test_every_hook_is_documented_with_its_arguments() -> None:
    assert specified(), "hookspecs defines hooks"
    assert documented() == specified()


def test_every_hook_has_a_docstring() -> None:
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction):
        if name.startswith("qiflow_"):
            assert function.__doc__, name


# The reference: every public object a plugin touches, member by member -----------------

REFERENCE = re.compile(r"^## Reference\n(?P<body>.*?)^## ", re.MULTILINE | re.DOTALL)
OBJECT = re.compile(r"^### `(?P<path>[\w.]+)(?:\((?P<args>[^)]*)\))?`\n(?P<body>.*?)(?=^### |\Z)",
                    re.MULTILINE | re.DOTALL)  # fmt: skip
MEMBER = re.compile(r"^- `(?P<name>\w+)", re.MULTILINE)
#: What the issue asks the reference to cover (issue 10), so none can be dropped silently.
REQUIRED = {
    "qiflow.GuardContext",
    "qiflow.BaseGate",
    "qiflow.Approval",
    "qiflow.NotNeeded",
    "qiflow.ProjectField",
    "qiflow.Notification",
    "qiflow.Item",
    "qiflow.Person",
    "qiflow.ManualClock",
    "qiflow.pytest_plugin.DaemonPass",
    "qiflow.get_plugin_manager",
    "qiflow.testing.temporary_engine",
    "qiflow.pytest_plugin.run_daemon_pass",
}


def resolve(path: str) -> object:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def public_members(cls: type) -> set[str]:
    """Fields, public methods and properties, class constants, and what ``__init__`` sets."""
    found: set[str] = set()
    if dataclasses.is_dataclass(cls):
        found |= {f.name for f in dataclasses.fields(cls)}
    for klass in cls.__mro__:
        if klass is object or klass.__module__ == "builtins":
            continue
        found |= {name for name in vars(klass) if not name.startswith("_")}
        init = vars(klass).get("__init__")
        if inspect.isfunction(init) and not dataclasses.is_dataclass(klass):
            found |= set(re.findall(r"self\.([a-z]\w*)(?::[^=\n]+)? = ", inspect.getsource(init)))
    return found


def reference() -> dict[str, tuple[str | None, set[str]]]:
    found = REFERENCE.search(GUIDE.read_text())
    assert found, "docs/plugins.md has a '## Reference' section"
    return {
        m["path"]: (m["args"], set(MEMBER.findall(m["body"])))
        for m in OBJECT.finditer(found["body"])
    }


def test_the_reference_covers_what_plugins_touch() -> None:
    assert set(reference()) >= REQUIRED


@pytest.mark.parametrize("path", sorted(REQUIRED))
def test_the_reference_matches_the_code(path: str) -> None:
    args, members = reference()[path]
    target = resolve(path)
    if inspect.isfunction(target):
        documented = [a.strip(" *") for a in (args or "").split(",") if a.strip(" *")]
        assert documented == list(inspect.signature(target).parameters)
    else:
        assert isinstance(target, type)
        assert members == public_members(target)


# Signatures and types, not just names ---------------------------------------------------

SIGNED = re.compile(
    r"^- `(?P<name>\w+)(?:\((?P<params>[^`]*)\))?(?: -> (?P<ret>[^`]+))?(?:: (?P<type>[^`]+))?`",
    re.MULTILINE,
)


def top_level(text: str) -> list[str]:
    """``text`` split at the commas outside brackets."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += (char in "[(") - (char in "])")
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [p for p in (*parts, current) if p.strip(" *")]


def plain(annotation: object) -> str:
    """An annotation as the guide writes it: no ``qiflow.`` prefix, no ClassVar, no spaces."""
    text = re.sub(r"\bqiflow\.", "", str(annotation)).replace(" ", "")
    found = re.fullmatch(r"ClassVar\[(?P<inner>.*)\]", text)
    return found["inner"] if found else text


def code_types(cls: type) -> dict[str, object]:
    """Annotations of the class (through its bases) and of its ``__init__`` parameters."""
    found: dict[str, object] = {}
    for klass in reversed(cls.__mro__):
        found.update(vars(klass).get("__annotations__", {}))
        init = vars(klass).get("__init__")
        if inspect.isfunction(init):
            params = inspect.signature(init).parameters.values()
            found.update({p.name: p.annotation for p in params if p.name != "self"})
    return found


def signed_members(path: str) -> list[re.Match[str]]:
    found = REFERENCE.search(GUIDE.read_text())
    assert found
    for m in OBJECT.finditer(found["body"]):
        if m["path"] == path:
            return list(SIGNED.finditer(m["body"]))
    raise AssertionError(f"{path} is not in the reference")


CLASSES = sorted(p for p in REQUIRED if isinstance(resolve(p), type))


@pytest.mark.parametrize("path", CLASSES)
def test_documented_signatures_and_types_match_the_code(path: str) -> None:
    """Each method's parameters and return type, and each field's type, as documented
    (issue 10: "BaseGate's methods and return types", the gate context's fields ...)."""
    cls = resolve(path)
    assert isinstance(cls, type)
    types = code_types(cls)
    problems = []
    for m in signed_members(path):
        name = m["name"]
        if m["params"] is not None or m["ret"]:
            member = inspect.getattr_static(cls, name)
            function = member.fget if isinstance(member, property) else member
            function = getattr(function, "__func__", function)  # staticmethod, classmethod
            signature = inspect.signature(function)
            params = [p for p in signature.parameters if p not in ("self", "cls")]
            doc = [re.split(r"[:=]", p)[0].strip(" *") for p in top_level(m["params"] or "")]
            if doc != params:
                problems.append(
                    f"{name}: documented ({', '.join(doc)}), code ({', '.join(params)})"
                )
            returned = signature.return_annotation
            if m["ret"] and plain(m["ret"]) != plain(returned):
                problems.append(f"{name}: documented -> {m['ret']}, code -> {returned}")
        elif m["type"] and name in types and plain(m["type"]) != plain(types[name]):
            problems.append(f"{name}: documented {m['type']}, code {types[name]}")
    assert problems == []
