"""The Airflow UI in a real browser: headless Chromium (Debian's ``chromium`` and ``chromium-driver``,
driven by Selenium) against the e2e deployment.

It logs in as the admin user (the simple auth manager's login page), opens the "Add Connection" form of
each of our connection types and checks the labels our provider info declares, then opens the log of a
finished deferred task and checks the progress lines. Screenshots go to ``docs/screenshots/`` (README.md
shows them; the task log's only with ``UPDATE_SCREENSHOTS=1``, see ``task_log_screenshot``). Without the
browser packages the tests skip, naming ``make browser``; in CI (``CI=true``) they fail instead.
Selectors are those of Airflow 3.3's React UI (``airflow/ui/dist``): test ids, ARIA roles and visible
texts, no generated class names.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from airflow_jobstatus.provider_info import get_provider_info

from .api import assert_deferred
from .conftest import Deployment, ExampleRuns

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: What works for headless Chromium on these machines (no network but localhost: no background fetches).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT = (1400, 900)
#: The longest wait for one element or text (the UI's 7 MB bundle loads slowly on a busy machine).
WAIT = 45.0
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
#: Airflow's own labels of the standard fields (``admin.json``: connections.typeMeta.standardFields).
STANDARD_LABELS = {
    "host": "Host",
    "login": "Login",
    "password": "Password",
    "port": "Port",
    "schema": "Schema",
}
#: A finished deferred task whose log has progress lines: one of the example runs (conftest.py).
LOG_DAG, LOG_TASK = "zendesk_bulk_update", "update_tickets"
COMPLETED = re.compile(r"job [0-9a-f]+: (\d+)/\1 \(100%\) \[completed\]")
ENDED = re.compile(r"\b\d+ jobs? ended: ")


def _missing() -> list[str]:
    """What the UI tests need and this machine lacks."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if importlib.util.find_spec("selenium") is None:
        missing.append("selenium (the `test` extra)")
    return missing


MISSING = _missing()
if MISSING and not IN_CI:
    pytest.skip(
        f"no browser for the UI tests ({', '.join(MISSING)} missing): run `make browser`"
        + (" and `make venv`" if any("selenium" in what for what in MISSING) else ""),
        allow_module_level=True,
    )

from local_airflow import ADMIN  # noqa: E402  (scripts/, put on sys.path by tests/e2e/conftest.py)
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def _forms() -> list[Any]:
    """One pytest param per connection type of ours: (vendor, connection-type entry of the provider info)."""
    return [
        pytest.param(entry["connection-type"].removeprefix("jobstatus_"), entry, id=entry["connection-type"])
        for entry in get_provider_info()["connection-types"]
    ]


def _xpath_text(text: str) -> str:
    """``text`` as an XPath string literal."""
    assert "'" not in text, f"label with a quote: {text!r}"
    return f"'{text}'"


class Browser:
    """A logged-in Chromium on the deployment's UI, with explicit waits."""

    def __init__(self, driver: WebDriver, url: str) -> None:
        self.driver = driver
        self.url = url.rstrip("/")

    def wait(self, timeout: float = WAIT) -> WebDriverWait[WebDriver]:
        """An explicit wait polling every 0.2 s."""
        return WebDriverWait(self.driver, timeout, poll_frequency=0.2)

    def visible(self, xpath: str, timeout: float = WAIT) -> WebElement:
        """Wait until the element at ``xpath`` is displayed; return it."""
        return self.wait(timeout).until(ec.visibility_of_element_located((By.XPATH, xpath)), f"{xpath} shown")

    def click(self, xpath: str) -> WebElement:
        """Wait until the element at ``xpath`` is clickable, click it, return it."""
        element = self.wait().until(ec.element_to_be_clickable((By.XPATH, xpath)), f"{xpath} clickable")
        element.click()
        return element

    def login(self, username: str, password: str) -> None:
        """Sign in on the simple auth manager's page (``/auth/login``) and wait for the UI's navigation."""
        self.driver.get(f"{self.url}/")
        self.visible("//input[@name='username']").send_keys(username)
        self.driver.find_element(By.XPATH, "//input[@name='password']").send_keys(password)
        self.click("//button[@type='submit']")
        self.wait().until(lambda driver: "/auth/login" not in driver.current_url, "left the login page")
        self.visible("//a[@data-testid='nav-dags-link']")

    def shown_labels(self, scope: WebElement) -> set[str]:
        """The text of every displayed ``label`` under ``scope``."""
        return {
            label.text.strip() for label in scope.find_elements(By.TAG_NAME, "label") if label.is_displayed()
        }

    def save_evidence(self, folder: Path, name: str) -> None:
        """A screenshot and the page source into ``folder``; say where."""
        png, html = folder / f"{name}.png", folder / f"{name}.html"
        with contextlib.suppress(Exception):
            self.driver.save_screenshot(str(png))
        with contextlib.suppress(Exception):
            html.write_text(self.driver.page_source)
        with contextlib.suppress(Exception):
            print(f"UI test failed on {self.driver.current_url}: screenshot {png}, page source {html}")

    @contextlib.contextmanager
    def evidence_on_failure(self, folder: Path, name: str) -> Iterator[None]:
        """On any failure in the block, save a screenshot and the page source (see ``save_evidence``)."""
        try:
            yield
        except BaseException:
            self.save_evidence(folder, name)
            raise


@pytest.fixture(scope="module")
def browser(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """Headless Chromium with a fresh profile, a 1400x900 viewport, logged in as the admin user."""
    if MISSING:  # only in CI: elsewhere the module was skipped
        pytest.fail(
            f"CI must run the UI tests, but {', '.join(MISSING)} missing: see scripts/install_browser.sh"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument(f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}")
    folder = tmp_path_factory.mktemp("ui")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # A driver path given: Selenium Manager (which would download a driver) is never run.
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(folder / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_page_load_timeout(90)
        # --window-size is the window's; the page gets less (the headless browser keeps a toolbar's height).
        toolbar = int(driver.execute_script("return window.outerHeight - window.innerHeight"))
        driver.set_window_size(VIEWPORT[0], VIEWPORT[1] + max(toolbar, 0))
        ui = Browser(driver, deployment.airflow.url)
        with ui.evidence_on_failure(folder, "login-failure"):
            ui.login(ADMIN, deployment.airflow.password)
        yield ui
    finally:
        driver.quit()


@pytest.mark.parametrize(("vendor", "form"), _forms())
def test_connection_form(browser: Browser, vendor: str, form: dict[str, Any], tmp_path: Path) -> None:
    """Admin > Connections > Add Connection, our type chosen: relabelled standard fields, hidden ones gone,
    and our extra fields with their labels."""
    behaviour = form["ui-field-behaviour"]
    relabelled = set(behaviour["relabeling"].values())
    hidden = {STANDARD_LABELS[field] for field in behaviour["hidden-fields"]}
    hidden |= {STANDARD_LABELS[field] for field in behaviour["relabeling"]}  # shown under their new label
    extra = {field["label"] for field in form["conn-fields"].values()}
    with browser.evidence_on_failure(tmp_path, f"connection-form-{vendor}-failure"):
        browser.driver.get(f"{browser.url}/connections")
        browser.click("//button[normalize-space()='Add Connection']")
        dialog = browser.visible("//*[@role='dialog']")
        # The type picker is a react-select: type the hook name, pick the option.
        browser.click("//*[@role='dialog']//input[@role='combobox']").send_keys(form["hook-name"])
        browser.click(f"//*[@role='option'][normalize-space()={_xpath_text(form['hook-name'])}]")
        # "Standard Fields" is the open section of a one-section-at-a-time accordion.
        for label in sorted(relabelled):
            browser.visible(f"//*[@role='dialog']//label[normalize-space()={_xpath_text(label)}]")
        shown = browser.shown_labels(dialog)
        assert not shown & hidden, f"standard fields that should be hidden or relabelled: {shown & hidden}"
        time.sleep(0.3)  # the accordion's opening animation
        dialog.screenshot(str(SCREENSHOTS / f"connection-form-{vendor}.png"))

        browser.click(
            "//*[@role='dialog']//button[@data-part='item-trigger'][normalize-space()='Extra Fields']"
        )
        for label in sorted(extra):
            browser.visible(f"//*[@role='dialog']//label[normalize-space()={_xpath_text(label)}]")
        time.sleep(0.3)
        dialog.screenshot(str(SCREENSHOTS / f"connection-form-{vendor}-extra.png"))


def _log_text(driver: WebDriver) -> str:
    """The text of the rendered log lines, after scrolling the (virtualized) log to its end."""
    return str(
        driver.execute_script(
            """
            const box = document.querySelector("[data-testid='virtual-scroll-container']");
            if (box) { box.scrollTop = box.scrollHeight; }
            const list = document.querySelector("[data-testid='virtualized-list']");
            return list ? list.innerText : "";
            """
        )
    )


def test_task_log_shows_progress(
    browser: Browser, deployment: Deployment, example_runs: ExampleRuns, tmp_path: Path
) -> None:
    """A finished deferred task's page shows its log with the triggerer's progress lines and the outcome."""
    run_id = example_runs.run_id(deployment.api, LOG_DAG)
    assert_deferred(deployment.api, LOG_DAG, run_id, LOG_TASK)
    url = f"{browser.url}/dags/{LOG_DAG}/runs/{quote(run_id, safe='')}/tasks/{LOG_TASK}"
    with browser.evidence_on_failure(tmp_path, "task-log-failure"):
        browser.driver.get(url)
        browser.visible("//*[@data-testid='virtualized-list']")
        found: dict[str, str] = {}

        def progress_shown(driver: WebDriver) -> bool:
            found["text"] = _log_text(driver)
            return bool(COMPLETED.search(found["text"]) and ENDED.search(found["text"]))

        try:
            browser.wait().until(progress_shown)
        except Exception as error:
            raise AssertionError(
                f"no progress lines in the log shown at {url}:\n{found.get('text')}"
            ) from error
        time.sleep(0.5)  # let the last scroll settle
        browser.driver.save_screenshot(str(task_log_screenshot(tmp_path)))


def task_log_screenshot(tmp_path: Path) -> Path:
    """Where the task log's screenshot goes. Its run ids change every run, so it replaces the one in
    ``docs/screenshots`` only when that is missing or ``UPDATE_SCREENSHOTS=1`` (the connection forms are
    the same from run to run, so theirs are always written there)."""
    shown = SCREENSHOTS / "task-log-progress.png"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1" or not shown.exists():
        return shown
    return tmp_path / shown.name
