"""What a test does when an external program it needs is not installed.

Tests that run a real external program (Mermaid's renderer, a headless browser) skip with a
reason on a developer's machine without it, and fail instead when the program is required:
in CI (``CI`` set and neither ``0`` nor ``false``; CI runs ``.ci/run`` with ``CI=true``) or
when the test's variable is ``1`` (``QIFLOW_TEST_MERMAID=1``, ``QIFLOW_TEST_BROWSER=1``).
``bash .ci/run`` installs every such program.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

INSTALL_HINT = "run `bash .ci/run` (as root) to install it"


def required_by(variable: str) -> str | None:
    """Why a missing program must fail its tests rather than skip them, or None."""
    if os.environ.get(variable) == "1":
        return f"{variable}=1"
    if os.environ.get("CI", "").lower() not in {"", "0", "false"}:
        return "CI"
    return None


def missing(what: str, variable: str) -> NoReturn:
    """Fail or skip the calling test because ``what`` is not installed."""
    reason = required_by(variable)
    if reason:
        pytest.fail(f"{what} is not installed, and {reason} requires it: {INSTALL_HINT}")
    pytest.skip(f"{what} is not installed ({INSTALL_HINT}, or set {variable}=1 to fail here)")
