"""Chromium, driven by Playwright, for the browser tests (tests/browser/).

The browser is Debian's ``chromium`` (``/usr/bin/chromium``, or ``KP_CHROMIUM``), never one
Playwright downloads: ``.ci/run`` installs it with apt, and a machine without it fails the tests
with the command that installs it. Each ``Tab`` is a fresh browser context (Playwright launches
the browser on a fresh profile directory of its own) in which:

- every request to a host off loopback is aborted and recorded (``Tab.blocked``): the pages must
  work on a closed network, and a test fails on any attempt to leave it;
- every Content-Security-Policy violation (the ``securitypolicyviolation`` event, reported
  through a binding, so it survives navigations) and every uncaught script error is recorded;
- ``Tab.check_clean`` fails on any of the three, and the ``tab`` fixtures call it after every
  test;
- ``Tab.screenshot`` saves a PNG under ``ARTIFACTS`` and ``Tab.check_accessible`` runs axe-core
  (vendored by ``axe-playwright-python``: nothing is fetched) and fails listing each violation.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Response, Route

from tests.support.network import REPO

__all__ = [
    "ARTIFACTS",
    "CHROMIUM_ENV",
    "DESKTOP",
    "PHONE",
    "ChromiumMissingError",
    "Tab",
    "chromium_path",
    "is_loopback",
    "launch",
    "open_tab",
]

CHROMIUM_ENV = "KP_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
INSTALL = "apt-get install -y --no-install-recommends chromium fonts-dejavu-core"

ARTIFACTS = Path(os.environ.get("KP_BROWSER_ARTIFACTS", REPO / "tests" / "browser" / "artifacts"))
"""Where screenshots go (git-ignored); ``KP_BROWSER_ARTIFACTS`` moves it."""

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}  # an iPhone X/11 Pro's CSS viewport

# Headless, no sandbox (CI runs as root, where Chromium's sandbox cannot start), and nothing the
# browser does on its own: no first-run, no component updates, no sync, no QUIC, no background
# fetches — and every host but this machine resolves to nothing, so even a request the page
# router cannot see (the browser's own) cannot leave it.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # a container's /dev/shm is small
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
)

# Reports each violation to the test through the ``kpCspViolation`` binding; added to every
# document before its own scripts run (an init script is not subject to the page's policy).
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.kpCspViolation(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} ` +
    `at ${e.sourceFile || e.documentURI}:${e.lineNumber}`);
});
"""


class ChromiumMissingError(RuntimeError):
    """Debian's chromium is not installed where the browser tests look for it."""


def chromium_path() -> Path:
    """The Chromium the tests drive.

    Raises:
        ChromiumMissingError: none is installed, with the command that installs it.
    """
    configured = os.environ.get(CHROMIUM_ENV)
    found = configured or shutil.which("chromium") or DEFAULT_CHROMIUM
    path = Path(found)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ChromiumMissingError(
            f"the browser tests (tests/browser/) drive Debian's chromium, and there is none at "
            f"{path}{f' (${CHROMIUM_ENV})' if configured else ''}. Install it: "
            f"`sudo {INSTALL}` (.ci/run does this in CI), or point ${CHROMIUM_ENV} at a "
            "Chromium binary. Playwright's own browser downloads are not used."
        )
    return path


def launch(playwright: Playwright, executable: Path) -> Browser:
    """Start ``executable`` headless, on a fresh profile of Playwright's making."""
    return playwright.chromium.launch(
        executable_path=executable, headless=True, args=list(CHROMIUM_ARGS)
    )


def is_loopback(url: str) -> bool:
    """Whether ``url`` names this machine (127.0.0.0/8, ::1, localhost), or no host at all
    (``data:``, ``blob:``, ``about:``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        return True
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Tab:
    """One fresh browser context and its page, with what it tried and what it reported.

    Attributes:
        page: the Playwright page.
        base_url: what ``open`` resolves a path against.
        blocked: every URL off loopback that a page asked for (each was aborted).
        csp_violations: every Content-Security-Policy violation reported.
        page_errors: every uncaught script error.
        console_errors: every ``console.error`` message (a failed load included).
    """

    page: Page
    base_url: str
    blocked: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def open(self, path: str, *, base_url: str | None = None) -> Response:
        """Navigate to ``path`` (on ``base_url``, this tab's unless given) and wait for the
        page to load; the main document's response."""
        response = self.page.goto((base_url or self.base_url) + path, wait_until="load")
        assert response is not None, f"no response for {path}"
        return response

    def check_clean(self) -> None:
        """Fail on any request off loopback, CSP violation or uncaught script error so far."""
        problems = [
            *(f"request off loopback (aborted): {url}" for url in self.blocked),
            *(f"CSP violation: {v}" for v in self.csp_violations),
            *(f"script error: {e}" for e in self.page_errors),
        ]
        assert not problems, "\n".join(problems)

    def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        """Save the page as ``ARTIFACTS/<name>.png`` and print where."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
        self.page.screenshot(path=path, full_page=full_page)
        print(f"screenshot: {path}")
        return path

    def check_accessible(
        self, *, context: Any = None, disabled_rules: tuple[str, ...] = ()
    ) -> None:
        """Run axe-core on the page (or on ``context``, an axe context: a selector, include and
        exclude lists) and fail listing every violation: rule, impact, what it asks, where."""
        options: dict[str, Any] = {"resultTypes": ["violations"]}
        if disabled_rules:
            options["rules"] = {rule: {"enabled": False} for rule in disabled_rules}
        results = Axe().run(self.page, context=context, options=options)
        violations: list[dict[str, Any]] = results.response["violations"]
        lines = [
            f"{v['id']} ({v.get('impact')}): {v['help']} — "
            + ", ".join(" ".join(map(str, n["target"])) for n in v["nodes"][:5])
            + (f" and {len(v['nodes']) - 5} more" if len(v["nodes"]) > 5 else "")
            for v in violations
        ]
        assert not lines, f"axe-core on {self.page.url}:\n" + "\n".join(lines)


@contextmanager
def open_tab(
    browser: Browser, base_url: str, *, viewport: dict[str, int] = DESKTOP, **options: Any
) -> Iterator[Tab]:
    """A fresh context on ``browser`` with one page, closed when the block ends.

    Args:
        options: further ``Browser.new_context`` options (``is_mobile``, ``has_touch``,
            ``locale``, ``device_scale_factor`` …).
    """
    context = browser.new_context(
        viewport=viewport,  # type: ignore[arg-type]
        service_workers="block",  # a service worker's fetches would pass the router by
        locale="en-GB",
        timezone_id="UTC",
        **options,
    )
    context.set_default_timeout(30_000)  # a loaded two-core machine
    page = context.new_page()
    tab = Tab(page, base_url.rstrip("/"))

    def route(route: Route) -> None:
        if is_loopback(route.request.url):
            route.continue_()
        else:
            tab.blocked.append(route.request.url)
            route.abort("internetdisconnected")

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            tab.console_errors.append(message.text)

    context.route("**/*", route)

    def violation(report: str) -> None:
        tab.csp_violations.append(report)

    context.expose_function("kpCspViolation", violation)
    context.add_init_script(_CSP_LISTENER)
    page.on("console", console)
    page.on("pageerror", lambda error: tab.page_errors.append(str(error)))
    try:
        yield tab
    finally:
        context.close()
