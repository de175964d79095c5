"""``/docs`` (Swagger UI) and ``/redoc`` render on a closed network, under the node's CSP.

Every request off loopback is aborted (a CDN asset would be), and the ``tab`` fixture fails the
test on any such attempt, CSP violation or script error.
"""

from __future__ import annotations

import httpx

from tests.support.browser import Tab

REDOCLY_LOGO = "img-src blocked https://cdn.redoc.ly/redoc/logo-mini.svg at {}/redoc:0"


def _operations(node_url: str) -> list[tuple[str, str]]:
    schema = httpx.get(f"{node_url}/openapi.json", timeout=30).json()
    return [
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "delete", "patch")
    ]


def test_swagger_ui_shows_every_operation_offline(tab: Tab, node_url: str) -> None:
    response = tab.open("/docs")
    assert response.status == 200
    tab.page.wait_for_selector(".opblock", state="attached")
    shown = tab.page.locator(".opblock").count()
    operations = _operations(node_url)
    assert shown == len(operations), (shown, operations)
    assert tab.page.locator(".opblock-summary-path", has_text="/v1/records").count() >= 1
    assert "KP Ledger node" in tab.page.locator(".info .title").inner_text()
    tab.screenshot("docs-swagger-ui")
    assert tab.blocked == []
    assert tab.csp_violations == []


def test_an_operation_can_be_tried_from_swagger_ui(tab: Tab) -> None:
    tab.open("/docs")
    summary = tab.page.locator(".opblock-summary", has_text="/healthz").first
    summary.click()
    tab.page.get_by_role("button", name="Try it out").click()
    tab.page.get_by_role("button", name="Execute").click()
    status = tab.page.locator(".live-responses-table .response .response-col_status").first
    assert status.inner_text().strip() == "200"
    assert tab.blocked == []


def test_redoc_shows_the_title_and_the_operations_offline(tab: Tab, node_url: str) -> None:
    response = tab.open("/redoc")
    assert response.status == 200
    heading = tab.page.locator("h1", has_text="KP Ledger node")
    heading.wait_for()
    assert heading.is_visible()
    # The menu lists every operation by its summary.
    menu = tab.page.locator("[role=menuitem], .menu-content label")
    assert menu.count() >= len(_operations(node_url)) // 2
    tab.screenshot("docs-redoc", full_page=False)
    assert tab.blocked == []
    # ReDoc's menu always shows Redocly's logo from their CDN (it hides the image when it fails
    # to load): the policy refuses it before any request, which is what it is for. Nothing else.
    assert set(tab.csp_violations) <= {REDOCLY_LOGO.format(node_url)}, tab.csp_violations
    tab.csp_violations.clear()
