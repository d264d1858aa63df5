"""A real Chromium (Debian's package, never a downloaded build) driven by Playwright against the live test server.

Each test saves screenshots of its steps under ``tests/artifacts/<test>/`` and runs
axe-core (from the npm registry, installed into ``tests/browser/node_modules``) on
every page it reaches. Without Chromium the tests are skipped on a developer's
machine; in CI (``CI`` set) a missing browser fails them instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE.parent / "artifacts"
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_NAMES = ("chromium", "chromium-browser")
#: axe-core impacts that fail a test.
BLOCKING = ("serious", "critical")

pytestmark = pytest.mark.browser


def _chromium() -> str | None:
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing; .ci/run installs it. The browser tests must run in CI.")
    pytest.skip(f"{what} is missing (run `bash .ci/run` once, or install it) — browser tests skipped")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium() -> Iterator:
    """One headless Chromium for the whole run."""
    executable = _chromium()
    if not executable:
        _missing("Chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python (pip install -r requirements.txt)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make are still synchronous.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browser_locale() -> str:
    """The language the browser asks for; override in a test module or with parametrize."""
    return "en-GB"


@pytest.fixture
def page(chromium, live_server, browser_locale, request):
    """A fresh browser context (no cookies) and page, pointed at the live server."""
    context = chromium.new_context(
        base_url=live_server.url, accept_downloads=True, locale=browser_locale, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


class Steps:
    """Screenshots and accessibility checks of one test's journey, numbered in order."""

    def __init__(self, page, name: str) -> None:
        self.page = page
        self.folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", name)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.checked: list[str] = []

    def shot(self, label: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def check(self, label: str) -> None:
        """Screenshot the page, then fail on any serious or critical axe-core violation."""
        self.shot(label)
        if not AXE.exists():
            _missing("axe-core (npm ci --prefix tests/browser)")
        self.page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
        result = self.page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        blocking = [v for v in result["violations"] if v.get("impact") in BLOCKING]
        report = [
            {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]} for v in blocking
        ]
        (self.folder / f"{self.count:02d}-{label}.axe.json").write_text(json.dumps(result["violations"], indent=1), encoding="utf-8")
        assert not blocking, f"axe-core on {label} ({self.page.url}): {json.dumps(report, indent=1)}"
        self.checked.append(label)


@pytest.fixture
def steps(page, request) -> Steps:
    return Steps(page, request.node.name)


def tab_to(page, locator, *, limit: int = 60) -> None:
    """Press Tab until ``locator`` has the focus, as a keyboard user would; fail if it is never reached."""
    target = locator.element_handle()
    for _ in range(limit):
        if page.evaluate("(el) => document.activeElement === el", target):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{locator} cannot be reached with the Tab key")
