"""Render Mermaid text to SVG with the real renderer: mermaid-cli (``mmdc``) on Chromium.

``bash .ci/run`` installs mermaid-cli into ``.ci/node/`` (``npm ci`` from the committed
lock file) and Debian's ``chromium``; puppeteer is pointed at that browser through a
configuration file written here. Use it from a test::

    from tests.mermaid_support import render_svg

    svg = render_svg(text, tmp_path)   # raises MermaidError if Mermaid rejects the text

Without mmdc or chromium, the test skips, or fails in CI or with ``QIFLOW_TEST_MERMAID=1``
(see ``tests/external_tools.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.external_tools import missing

ENV = "QIFLOW_TEST_MERMAID"
ROOT = Path(__file__).resolve().parent.parent
MMDC = ROOT / ".ci" / "node" / "node_modules" / ".bin" / "mmdc"
TIMEOUT = 120  # seconds; one render takes about two on this project's machines


class MermaidError(Exception):
    """Mermaid rejected a diagram: the message is mmdc's own."""


def mmdc() -> Path:
    """The mermaid-cli program, or fail or skip the calling test when it is missing."""
    if not MMDC.is_file():
        missing(f"mermaid-cli ({MMDC.relative_to(ROOT)})", ENV)
    return MMDC


def chromium() -> str:
    """Debian's chromium, or fail or skip the calling test when it is missing."""
    found = shutil.which("chromium")
    if found is None:
        missing("chromium", ENV)
    return found


def render_svg(text: str, workdir: Path) -> str:
    """Render ``text`` with mmdc and return the SVG; raise ``MermaidError`` if it fails.

    ``workdir`` (a test's ``tmp_path``) receives the input, the puppeteer configuration and
    the SVG.
    """
    program, browser = mmdc(), chromium()
    config = workdir / "puppeteer.json"
    config.write_text(json.dumps({"executablePath": browser, "args": ["--no-sandbox"]}))
    source, target = workdir / "diagram.mmd", workdir / "diagram.svg"
    source.write_text(text, encoding="utf-8")
    target.unlink(missing_ok=True)
    result = subprocess.run(
        [str(program), "--quiet", "-p", str(config), "-i", str(source), "-o", str(target)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1"},
        check=False,
    )
    if result.returncode != 0 or not target.is_file():
        output = (result.stderr + result.stdout).strip()
        raise MermaidError(f"mmdc exited {result.returncode}: {output}")
    return target.read_text(encoding="utf-8")
