"""The README's measurement example runs as written and the committed chart is its output."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CHART = ROOT / "docs" / "spc-example.svg"
SVG = "{http://www.w3.org/2000/svg}"


def reading(path: Path) -> tuple[str, str, list[str]]:
    root = ET.fromstring(path.read_bytes())
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None
    assert desc is not None
    ids = sorted(e.get("id", "") for e in root.iter() if e.get("id", "").startswith("spc-"))
    return title.text or "", desc.text or "", ids


def test_the_measurement_example_runs_and_draws_the_committed_chart(tmp_path: Path) -> None:
    text = README.read_text()
    [example] = re.findall(r"## Measurement \(SPC\)\n.*?```python\n(.*?)```", text, re.S)
    result = subprocess.run(
        [sys.executable, "-c", example],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    printed = result.stdout.splitlines()
    assert printed == [
        "improvement_high inconsistent",
        "53.3 47.54 59.06 shift",
        "common_cause 57.88 2",
        "50.5",
    ]
    for line in printed:  # the README says what the example prints
        assert f"`{line}`" in text
    assert "(docs/spc-example.svg)" in text
    assert reading(tmp_path / "discharges.svg") == reading(CHART)
