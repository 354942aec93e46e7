"""The headless browser that page tests use starts, loads a page and reads it."""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from tests.browser_support import chromium_driver


@pytest.mark.browser
def test_chromium_loads_a_page_and_reads_it(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        "<!doctype html><title>qiflow smoke</title>"
        "<p id=out></p><script>document.getElementById('out').textContent = 6 * 7;</script>",
        encoding="utf-8",
    )
    with chromium_driver() as driver:
        driver.get(page.as_uri())
        assert driver.title == "qiflow smoke"
        assert driver.find_element(By.ID, "out").text == "42"  # the page's script ran
