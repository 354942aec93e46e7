"""The web pages in a real headless Chromium, driven by the keyboard alone.

A QI lead signs in with a token, creates a project and walks it from idea to adopted
through the pages; a refused step shows the rule's reason; a second person (the sponsor)
decides the QEIA. Every page is checked with axe-core (no serious or critical violation)
and photographed into ``test-artifacts/``. The walk runs with JavaScript on and off.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.common.exceptions import NoSuchElementException
from selenium.webdriver import ActionChains, Chrome, ChromeOptions
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import WebDriverWait

from qiflow import Engine
from qiflow.testing import ManualClock
from tests.browser_support import ARGUMENTS, PAGE_LOAD_TIMEOUT, _program
from tests.http_support import served_app
from tests.web_support import ARTEFACTS, axe_violations, describe, site, token

LEAD, SPONSOR = "l.evans", "dr.okafor"
MAX_TABS = 400


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    with Engine(f"sqlite:///{tmp_path / 'web.db'}", migrate=True, clock=ManualClock()) as engine:
        yield engine


def browser(javascript: bool) -> Chrome:
    options = ChromeOptions()
    options.binary_location = _program("chromium")
    for argument in (*ARGUMENTS, "--window-size=1280,2000"):
        options.add_argument(argument)
    if not javascript:
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2}
        )
    driver = Chrome(options=options, service=Service(executable_path=_program("chromedriver")))
    driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT)
    return driver


class Walk:
    """A person at the keyboard: Tab to an element, then type or press Enter."""

    def __init__(self, driver: Chrome, base: str, folder: Path, *, axe: bool) -> None:
        self.driver, self.base, self.folder, self.axe = driver, base, folder, axe
        self.shots = 0
        self.checked: set[str] = set()

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def tab_to(self, element_id: str) -> None:
        """Move focus with Tab (from the top of the page) until it reaches the element."""
        self.driver.find_element(By.ID, element_id)  # it is on the page at all
        self.driver.execute_script("document.activeElement && document.activeElement.blur()")
        self.driver.execute_script("window.getSelection().removeAllRanges()")
        for _ in range(MAX_TABS):
            ActionChains(self.driver).send_keys(Keys.TAB).perform()
            focused = self.driver.switch_to.active_element.get_attribute("id")
            if focused == element_id:
                return
        raise AssertionError(f"#{element_id} cannot be reached with the Tab key")

    def press(self, element_id: str) -> None:
        self.tab_to(element_id)
        ActionChains(self.driver).send_keys(Keys.ENTER).perform()

    def submit(self, element_id: str) -> None:
        """Press a button that posts a form, and wait for the page it leads to."""
        old = self.driver.find_element(By.TAG_NAME, "html")
        self.press(element_id)
        WebDriverWait(self.driver, PAGE_LOAD_TIMEOUT).until(staleness_of(old))

    def type(self, element_id: str, text: str) -> None:
        self.tab_to(element_id)
        ActionChains(self.driver).send_keys(text).perform()

    def choose(self, element_id: str, typed: str, value: str) -> None:
        """Pick an option of a select with the keyboard (type its first letters)."""
        self.tab_to(element_id)
        ActionChains(self.driver).send_keys(typed).perform()
        chosen = self.driver.find_element(By.ID, element_id).get_attribute("value")
        assert chosen == value, f"#{element_id}: typed {value!r}, chose {chosen!r}"

    def expand(self, details_id: str) -> None:
        self.press(f"{details_id}-open")

    def text(self, element_id: str) -> str:
        return self.driver.find_element(By.ID, element_id).text

    def page(self, name: str) -> None:
        """Photograph the page, and check it with axe-core (each page once per state)."""
        self.shots += 1
        self.driver.save_screenshot(str(self.folder / f"{self.shots:02d}-{name}.png"))
        key = f"{self.driver.current_url.split('?')[0]}|{name}"
        if key in self.checked or not self.axe:
            return
        self.checked.add(key)
        found = axe_violations(self.driver)
        assert not found, f"{name}: {describe(found)}"

    def sign_in(self, actor: str, engine: Engine) -> None:
        self.open("/")
        assert "/sign-in" in self.driver.current_url
        self.page(f"sign-in-{actor}")
        self.type("token", token(engine, actor))
        old = self.driver.find_element(By.TAG_NAME, "html")
        ActionChains(self.driver).send_keys(Keys.ENTER).perform()
        WebDriverWait(self.driver, PAGE_LOAD_TIMEOUT).until(staleness_of(old))
        assert self.driver.find_element(By.TAG_NAME, "h1").text == "Portfolio"

    def sign_out(self) -> None:
        self.open("/sign-out")
        self.page("sign-out")
        self.submit("sign-out")
        assert "/sign-in" in self.driver.current_url

    def fire(self, trigger: str) -> None:
        self.submit(f"fire-{trigger}")

    def done(self) -> str:
        try:
            return self.text("done")
        except NoSuchElementException:
            refusal = self.driver.find_elements(By.ID, "refusal")
            raise AssertionError(
                f"no success message; refusal: {refusal[0].text if refusal else None}"
            ) from None


@pytest.mark.browser
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_project_walks_from_idea_to_adopted_through_the_pages(
    sqlite_engine: Engine, javascript: bool
) -> None:
    engine = sqlite_engine
    folder = ARTEFACTS / ("walk-js" if javascript else "walk-no-js")
    folder.mkdir(parents=True, exist_ok=True)
    with served_app(site(engine)) as base:
        driver = browser(javascript)
        try:
            ran_scripts = driver.execute_script("return 1") == 1  # webdriver's own scripts
            assert ran_scripts
            # axe-core needs the page's scripts to run: with them off, the same pages
            # (served the same HTML) were checked in the run with them on.
            walk = Walk(driver, base, folder, axe=javascript)
            walk.sign_in(LEAD, engine)
            walk.page("portfolio-empty")
            has_js = "js-enabled" in (
                driver.find_element(By.TAG_NAME, "body").get_attribute("class") or ""
            )
            assert has_js == javascript
            walk.type("title", "Safer night observations")
            walk.type("sponsor", SPONSOR)
            walk.submit("create-project")
            assert walk.done() == "QI-0001 created"
            assert walk.text("state") == "Idea"
            walk.page("project-idea")
            walk.fire("diagnose")
            assert walk.text("state") == "Diagnosis"
            walk.expand("form-details")
            walk.type("details-aim", "Zero missed observations at night")
            walk.type("details-objectives", "Fewer incidents at night")
            walk.submit("save-details")
            walk.expand("form-driver")
            walk.type("driver-title", "Reliable observations")
            walk.submit("add-driver")
            assert walk.done() == "P1 added to the driver diagram"
            walk.expand("form-driver")
            walk.type("driver-title", "Observation board")
            walk.choose("driver-kind", "Change", "idea")
            walk.type("driver-under", "P1")
            walk.submit("add-driver")
            assert walk.done() == "C1 added to the driver diagram"
            walk.fire("plan_measurement")
            assert walk.text("state") == "Measurement plan"
            walk.expand("form-pdsa")
            walk.type("pdsa-tests", "C1")
            walk.submit("add-pdsa")
            # A refused step shows the rule's reasons, word for word.
            blocked = walk.text("blocked-start_testing")
            assert "no outcome measure: add one (measure add --kind outcome)" in blocked
            assert "QEIA: not requested yet" in blocked
            walk.page("project-refused-step")
            for name, kind, unit in (
                ("Missed observations", "outcome", "count"),
                ("Staff breaks missed", "balancing", "count"),
            ):
                walk.expand("form-measure")
                walk.type("measure-name", name)
                walk.choose("measure-kind", kind.title(), kind)
                walk.type("measure-unit", unit)
                walk.choose("measure-direction", "Decrease", "decrease")
                walk.submit("add-measure")
            for value in ("14", "12", "9"):
                walk.expand("form-point")
                walk.type("point-value", value)
                walk.submit("add-point")
            walk.expand("form-qeia")
            walk.submit("request-qeia")
            assert walk.done() == "QEIA submitted for sign-off"
            # The lead may not approve their own project's QEIA: the rule says why.
            walk.tab_to("qeia-approve")  # Space picks a radio (Enter would submit the form)
            ActionChains(driver).send_keys(Keys.SPACE).perform()
            walk.submit("decide-qeia")
            refusal = walk.text("refusal")
            assert "cannot approve its own QEIA stage 1" in refusal
            walk.page("project-refused-signoff")
            walk.sign_out()

            walk.sign_in(SPONSOR, engine)
            walk.open("/my-work")
            assert "QI-0001: Safer night observations" in walk.text("awaiting-table")
            walk.page("my-work-sponsor")
            walk.open("/projects/QI-0001")
            walk.tab_to("qeia-approve")
            ActionChains(driver).send_keys(Keys.SPACE).perform()
            walk.type("qeia-comment", "Low risk on every domain")
            walk.submit("decide-qeia")
            assert walk.done() == "QEIA approved"
            walk.page("project-qeia-approved")
            walk.sign_out()

            walk.sign_in(LEAD, engine)
            walk.open("/projects/QI-0001")
            walk.expand("form-risks")
            walk.submit("declare-no-risks")
            walk.fire("start_testing")
            assert walk.text("state") == "PDSA testing"
            walk.expand("form-pdsa")
            walk.type("pdsa-plan", "Observation board at the nurses' station")
            walk.type("pdsa-prediction", "Halves missed observations")
            walk.submit("add-pdsa")
            walk.expand("form-pdsa")
            walk.type("pdsa-study", "Missed observations fell by 60%")
            walk.submit("add-pdsa")
            walk.expand("form-review")
            walk.type("review-notes", "On track")
            walk.choose("review-score", "3.5", "3.5")
            walk.submit("add-review")
            walk.page("project-testing")
            walk.fire("adopt")
            assert walk.text("state") == "Adopted"
            walk.page("project-adopted")
            walk.open("/programme")
            walk.page("programme-board")
            walk.open("/reports/committee")
            assert "QI-0001 Safer night observations: created" in walk.text("pack-changes-list")
            walk.page("committee-pack")
            walk.open("/reports/board")
            walk.page("board-pack")
            walk.open("/projects/QI-9999")
            assert "There is no project QI-9999" in walk.text("reason")
            walk.page("not-found")
            walk.open("/my-work")
            walk.page("my-work-lead")
            walk.open("/")
            walk.page("portfolio")
            assert "QI-0001: Safer night observations" in walk.text("stage-adopted-table")
        finally:
            driver.quit()
    project = engine.get("QI-0001")
    assert (project.state, project.aim) == ("adopted", "Zero missed observations at night")
    assert [s.status for s in engine.signoffs("QI-0001")] == ["passed"]
    assert [d.approver for d in engine.signoffs("QI-0001")[0].decisions] == [SPONSOR]
