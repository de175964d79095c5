"""Fixtures of the browser tests: Debian's Chromium, a real devnet with certificates in distinct
states, and fresh tabs that fail a test on any request off loopback, CSP violation or script
error (tests/support/browser.py).

The browser and the network are started once for the package and stopped after its last test, so
the rest of the suite runs without them. A machine without Chromium fails here, saying how to
install it: these tests are never skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.support.browser import (
    ARTIFACTS,
    DESKTOP,
    PHONE,
    ChromiumMissingError,
    Tab,
    chromium_path,
    launch,
    open_tab,
)
from tests.support.certificate_states import CertificateStates, certificate_states


@pytest.fixture(scope="package")
def chromium() -> Path:
    try:
        return chromium_path()
    except ChromiumMissingError as missing:
        reason = str(missing)
    pytest.fail(reason, pytrace=False)  # outside the handler: the message alone, no traceback


@pytest.fixture(scope="package")
def browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        started = launch(playwright, chromium)
        try:
            yield started
        finally:
            started.close()


@pytest.fixture(scope="package")
def states(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CertificateStates]:
    """The devnet: the scenario, a usable, a confirmed and an expired certificate."""
    with certificate_states(tmp_path_factory.mktemp("browser-net")) as running:
        yield running


@pytest.fixture
def node_url(states: CertificateStates) -> str:
    """Botswana's node: a participant that issued, and exported along, the chain."""
    return states.net.url("BW")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def new_tab(
    browser: Browser, node_url: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Tab]]:
    """Open tabs (``new_tab(viewport=PHONE, base_url=...)``), each checked clean after a test
    that passed: no request off loopback, no CSP violation, no script error (after one that
    failed, its own failure is the one to read)."""
    opened: list[Tab] = []
    with ExitStack() as closing:

        def new(*, base_url: str | None = None, **options: Any) -> Tab:
            opened.append(closing.enter_context(open_tab(browser, base_url or node_url, **options)))
            return opened[-1]

        yield new
        if not request.node.stash.get(_CALL_FAILED, False):
            for each in opened:
                each.check_clean()


@pytest.fixture
def tab(new_tab: Callable[..., Tab]) -> Tab:
    """A desktop tab (1280x900) on Botswana's node."""
    return new_tab(viewport=DESKTOP)


@pytest.fixture
def phone(new_tab: Callable[..., Tab]) -> Tab:
    """A phone's tab: 375x812 CSS pixels, touch, a mobile viewport."""
    return new_tab(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    shots = sorted(ARTIFACTS.glob("*.png")) if ARTIFACTS.is_dir() else []
    if shots:
        terminalreporter.write_line(f"browser screenshots ({len(shots)}): {ARTIFACTS}")
