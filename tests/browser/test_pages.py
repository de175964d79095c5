"""The explorer's pages as a browser shows them: under the CSP, on a closed network, on a phone,
accessible (axe-core), and the status of a usable, a confirmed and an expired certificate.

The pages: ``/``, a lookup by number and by hash (303 to ``/verify/{hash}``), the verification
page, ``/network`` and ``/statistics`` (docs/explorer.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.support.browser import Tab
from tests.support.certificate_states import CertificateStates

# What the status line says of each state (the verifier's headline, client/verify.py).
STATUS = {
    "usable": re.compile(r"USABLE for import into EU", re.IGNORECASE),
    "confirmed": re.compile(r"CONFIRMED by EU", re.IGNORECASE),
    "expired": re.compile(r"EXPIRED on", re.IGNORECASE),
}


def _pages(states: CertificateStates) -> dict[str, str]:
    final = states.scenario["final"]
    return {
        "search": "/",
        "lookup by number": "/?q=AE-2026-0007",
        "lookup by hash": f"/?q={final}",
        "verification": f"/verify/{final}",
        "verification for the genesis": f"/verify/{final}?genesis={states.genesis}",
        "network": "/network",
        "statistics": "/statistics?participant=BW&period=2026",
    }


PAGES = (
    "search",
    "lookup by number",
    "lookup by hash",
    "verification",
    "verification for the genesis",
    "network",
    "statistics",
)


@pytest.mark.parametrize("page", PAGES)
def test_each_page_loads_under_the_policy_and_offline(
    tab: Tab, states: CertificateStates, page: str
) -> None:
    response = tab.open(_pages(states)[page])
    assert response.status == 200, page
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    tab.screenshot(f"desktop-{page}")
    tab.check_clean()


@pytest.mark.parametrize("page", PAGES)
def test_each_page_fits_a_phone(phone: Tab, states: CertificateStates, page: str) -> None:
    phone.open(_pages(states)[page])
    viewport = phone.page.locator('meta[name="viewport"]')
    assert viewport.count() == 1, "no <meta name=viewport>: a phone renders the page at 40 %"
    assert "width=device-width" in (viewport.get_attribute("content") or "")
    # Nothing wider than the screen: no sideways scrolling to read a status.
    width = phone.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"{page} is {width} CSS pixels wide on a 375-pixel screen"
    phone.screenshot(f"phone-{page}")


@pytest.mark.parametrize("page", PAGES)
def test_each_page_has_no_accessibility_violation(
    tab: Tab, states: CertificateStates, page: str
) -> None:
    tab.open(_pages(states)[page])
    tab.check_accessible()


@pytest.mark.parametrize("state", sorted(STATUS))
def test_the_status_of_a_certificate_in_each_state(
    new_tab: Callable[..., Tab], states: CertificateStates, state: str
) -> None:
    shown = states.certificates[state]
    tab = new_tab(base_url=shown.node_url)
    tab.open(f"/?q={shown.number}")
    text = tab.page.locator("body").inner_text()
    assert STATUS[state].search(text), f"{state} {shown.number} on {shown.node_url}:\n{text[:600]}"
    assert shown.entry_hash in text or shown.entry_hash in tab.page.url
    tab.screenshot(f"status-{state}")
