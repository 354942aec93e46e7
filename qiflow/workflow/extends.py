"""Workflow files that extend one another: ``extends = "qi_project@1"``.

A file that extends another names its own ``name`` and ``version`` and adds or replaces
parts of its base: states by name, transitions by trigger and sources, the ``roles``
list (joined), and the ``gates``, ``escalation``, ``reminders`` and ``measurement``
tables (merged key by key, the extending file's keys winning). ``remove_states = [...]``
drops states of the base, with every transition into them or only out of them. The result
is an ordinary workflow document; its TOML text (:func:`to_toml`) is what is checked,
shown and stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

BASE = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)@(?P<version>[1-9][0-9]*)$")
#: Tables merged key by key (a nested table of the base is merged too).
MERGED_TABLES = ("gates", "escalation", "reminders", "measurement")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def base_of(doc: Mapping[str, Any]) -> tuple[str, int] | str | None:
    """The ``(name, version)`` a document extends, None if it extends nothing, or a
    problem (text) when its ``extends`` is not ``"name@version"``."""
    if "extends" not in doc:
        return None
    value = doc["extends"]
    found = BASE.match(value) if isinstance(value, str) else None
    if found is None:
        return f"must be 'name@version' such as 'qi_project@1', not {value!r}"
    return found["name"], int(found["version"])


#: The key of an extending file that names base states to drop.
REMOVE = "remove_states"


def removal_problem(base: Mapping[str, Any], child: Mapping[str, Any]) -> str | None:
    """What is wrong with ``child``'s ``remove_states``, or None."""
    if REMOVE not in child:
        return None
    names = child[REMOVE]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return "must be a list of state names"
    states = base.get("states")
    known = (
        {s.get("name") for s in states if isinstance(s, dict)}
        if isinstance(states, list)
        else set()
    )
    unknown = [n for n in names if n not in known]
    if unknown:
        return f"{', '.join(map(repr, unknown))}: not a state of the base workflow"
    return None


def _without_states(base: Mapping[str, Any], names: set[str]) -> dict[str, Any]:
    """``base`` without the states ``names``, transitions into them, or only out of them."""
    result = dict(base)
    result["states"] = [s for s in base.get("states", []) if s.get("name") not in names]
    kept = []
    for transition in base.get("transitions", []):
        if transition.get("dest") in names:
            continue
        source = transition.get("source")
        if isinstance(source, list):
            left = [s for s in source if s not in names]
            if not left:
                continue
            transition = {**transition, "source": left}
        elif source in names:
            continue
        kept.append(transition)
    result["transitions"] = kept
    return result


def merge(base: Mapping[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    """``child`` laid over ``base`` (both parsed workflow documents; ``child``'s
    ``remove_states`` already checked by :func:`removal_problem`)."""
    if isinstance(child.get(REMOVE), list):
        base = _without_states(base, set(child[REMOVE]))
    result = {k: v for k, v in base.items() if k != "extends"}
    for key, value in child.items():
        if key in ("extends", REMOVE):
            continue
        if key == "roles" and isinstance(value, list) and isinstance(base.get("roles"), list):
            result["roles"] = [*base["roles"], *(r for r in value if r not in base["roles"])]
        elif key == "states" and isinstance(value, list) and isinstance(base.get(key), list):
            result[key] = _by_key(base[key], value, lambda s: s.get("name"))
        elif key == "transitions" and isinstance(value, list) and isinstance(base.get(key), list):
            result[key] = _by_key(base[key], value, _transition_key)
        elif key in MERGED_TABLES and isinstance(value, dict) and isinstance(base.get(key), dict):
            result[key] = _deep(base[key], value)
        else:
            result[key] = value
    return result


def _transition_key(table: Mapping[str, Any]) -> object:
    source = table.get("source")
    sources = tuple(sorted(source)) if isinstance(source, list) else (source,)
    return (table.get("trigger"), sources)


def _by_key(base: list[Any], child: list[Any], key: Any) -> list[Any]:
    """Base entries, each replaced by the child's entry of the same key; then new ones."""
    replacing = {key(c): c for c in child if isinstance(c, dict)}
    merged = [replacing.pop(key(b), b) if isinstance(b, dict) else b for b in base]
    return merged + [c for c in child if not isinstance(c, dict) or key(c) in replacing]


def _deep(base: Mapping[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in child.items():
        old = result.get(key)
        both = isinstance(old, dict) and isinstance(value, dict)
        result[key] = _deep(old, value) if both else value  # type: ignore[arg-type]
    return result


def to_toml(doc: Mapping[str, Any]) -> str:
    """A workflow document as TOML text that parses back to the same document."""
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, Any]]] = []
    for key, value in doc.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            lines.append(f"{_key(key)} = [")
            lines.extend(f"  {_value(v)}," for v in value)
            lines.append("]")
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    for name, table in tables:
        _table(lines, [name], table)
    return "\n".join(lines) + "\n"


def _table(lines: list[str], path: list[str], table: Mapping[str, Any]) -> None:
    """``[a.b]`` sections: scalars inline, sub-tables of tables as their own sections."""
    plain = {k: v for k, v in table.items() if not _is_section(v)}
    nested = {k: v for k, v in table.items() if _is_section(v)}
    if plain or not nested:
        lines.append("")
        lines.append(f"[{'.'.join(_key(p) for p in path)}]")
        lines.extend(f"{_key(k)} = {_value(v)}" for k, v in plain.items())
    for key, value in nested.items():
        _table(lines, [*path, key], value)


def _is_section(value: object) -> bool:
    """A table whose values include tables: written as a section of its own."""
    return isinstance(value, dict) and any(isinstance(v, dict) for v in value.values())


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(f"cannot write {type(value).__name__} in a workflow file")
