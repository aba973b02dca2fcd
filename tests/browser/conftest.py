"""Fixtures of the browser tests: one headless Chromium for all of them, a fresh
browser context (cookies, permissions, viewport) per page a test opens, and a real
`tocsin serve` per test module.

The browser is package-scoped rather than session-scoped on purpose: while Playwright's
sync API is started it leaves its event loop marked as running in the main thread, which
would make ``asyncio.run`` fail in every test collected after this package. Closing it
when the last browser test is done keeps it to one launch without touching other tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from tests.support.browser import (
    CHROMIUM_ARGS,
    TIMEOUT_MS,
    PageFactory,
    TocsinServer,
    artifacts_dir,
    find_chromium,
    init_directory,
    running_tocsin,
)
from tests.support.requirements import require

_call_failed = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_call_failed] = report.failed
    return report


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    executable = find_chromium()
    require(executable is not None, "Chromium", "apt-get install chromium (make system-deps)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS, timeout=3 * TIMEOUT_MS
        )
        yield launched
        launched.close()


@pytest.fixture
def new_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[PageFactory]:
    """Opens a page in a fresh context (``browser.new_context`` options, e.g. a
    viewport or permissions); a failing test leaves a screenshot of each page it had."""
    contexts: list[BrowserContext] = []

    def open_page(**options: Any) -> Page:
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    failed = request.node.stash.get(_call_failed, False)
    for number, context in enumerate(contexts):
        if failed:
            for page in context.pages:
                name = f"failed-{request.node.name}-{number}"
                with contextlib.suppress(PlaywrightError):  # e.g. a crashed page
                    page.screenshot(path=str(artifacts_dir() / f"{name}.png"), full_page=True)
        context.close()


@pytest.fixture
def page(new_page: PageFactory) -> Page:
    """A desktop-sized page (1280x800)."""
    return new_page()


@pytest.fixture(scope="package")
def tocsin_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory after `tocsin init`: the example policy, SQLite and an admin token."""
    directory = tmp_path_factory.mktemp("tocsin-template") / "site"
    init_directory(directory)
    return directory


@pytest.fixture(scope="module")
def tocsin(
    browser: Browser, tocsin_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TocsinServer]:
    """A real `tocsin serve` shared by the tests of one module; its log must stay free
    of tracebacks (a page that answered 500 fails the module). Asks for the browser
    first so that without Chromium the tests skip before starting anything."""
    directory = tmp_path_factory.mktemp("tocsin") / "site"
    with running_tocsin(tocsin_template, directory) as server:
        yield server
    log = server.log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log, log[-4000:]
