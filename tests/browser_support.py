"""Headless Chromium driven through Selenium, with Debian's ``chromium`` and ``chromedriver``.

``bash .ci/run`` installs both (packages ``chromium`` and ``chromium-driver``); Selenium is in
the ``test`` extra. Use it from a test::

    from tests.browser_support import chromium_driver

    with chromium_driver() as driver:
        driver.get(url)
        assert driver.title == "..."

Without the browser or its driver, the test skips, or fails in CI or with
``QIFLOW_TEST_BROWSER=1`` (see ``tests/external_tools.py``). Selenium is never left to
download a browser or a driver of its own: both paths are given to it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.external_tools import missing

ENV = "QIFLOW_TEST_BROWSER"
ARGUMENTS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage")
PAGE_LOAD_TIMEOUT = 30  # seconds


def _program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        missing(name, ENV)
    return found


@contextmanager
def chromium_driver(width: int = 1280, height: int = 800) -> Iterator[webdriver.Chrome]:
    """A headless Chromium session, closed when the ``with`` block ends."""
    browser, chromedriver = _program("chromium"), _program("chromedriver")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (*ARGUMENTS, f"--window-size={width},{height}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    try:
        driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT)
        yield driver
    finally:
        driver.quit()
