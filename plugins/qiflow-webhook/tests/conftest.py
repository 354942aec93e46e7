"""Teams cards are checked by the Adaptive Cards JavaScript library, run with node.

``cardcheck/`` pins the library (``npm ci --prefix plugins/qiflow-webhook/tests/cardcheck``,
which ``.ci/run`` does). A parse or validation warning fails the test, and so does any
property the library drops when it serialises the card back: a misspelt or unknown
property is ignored by Teams' renderer, so it is as wrong as an error. Without node or
the library these tests fail, saying how to install them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from webhook_receiver import HookServer

CARDCHECK = Path(__file__).parent / "cardcheck"
#: Teams' own extension of the card (``msteams.width``), unknown to the base library.
HOST_PROPERTIES = {"msteams"}

CheckCards = Callable[[Sequence[dict[str, Any]]], None]


def lost(given: Any, kept: Any, where: str = "card") -> list[str]:
    """Where ``kept`` (the library's serialisation) lacks or changed part of ``given``."""
    if isinstance(given, dict):
        if not isinstance(kept, dict):
            return [f"{where}: not an object after parsing"]
        found = []
        for key, value in given.items():
            if where == "card" and key in HOST_PROPERTIES:
                continue
            if key not in kept:
                found.append(f"{where}.{key}: dropped by the parser (unknown or invalid)")
            else:
                found += lost(value, kept[key], f"{where}.{key}")
        return found
    if isinstance(given, list):
        if not isinstance(kept, list) or len(kept) != len(given):
            return [f"{where}: {len(given)} entries given, not the same after parsing"]
        pairs = enumerate(zip(given, kept, strict=True))
        return [p for i, (g, k) in pairs for p in lost(g, k, f"{where}[{i}]")]
    return [] if given == kept else [f"{where}: {given!r} became {kept!r}"]


@pytest.fixture(scope="session")
def check_cards() -> CheckCards:
    node = shutil.which("node")
    if node is None or not (CARDCHECK / "node_modules" / "adaptivecards").is_dir():
        pytest.fail(
            "the card tests need node and the Adaptive Cards library: install node, then "
            "run `npm ci --prefix plugins/qiflow-webhook/tests/cardcheck`"
        )

    def check(cards: Sequence[dict[str, Any]]) -> None:
        done = subprocess.run(
            [node, str(CARDCHECK / "check.js")],
            input=json.dumps(list(cards)),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        results = json.loads(done.stdout)
        assert len(results) == len(cards)
        for number, (card, result) in enumerate(zip(cards, results, strict=True)):
            assert result["events"] == [], f"card {number}: {result['events']}"
            assert lost(card, result["roundtrip"]) == [], f"card {number}"

    return check


@pytest.fixture
def server() -> Iterator[HookServer]:
    hook = HookServer()
    try:
        yield hook
    finally:
        hook.close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx honours proxy variables; requests to 127.0.0.1 must go straight there."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.lower(), raising=False)
