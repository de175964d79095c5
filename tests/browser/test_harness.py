"""The browser harness can fail, and its network holds what it says: a request off loopback is
aborted and recorded, a CSP violation and a script error are reported, and axe-core finds a
violation where there is one.

Each probe page is answered by Playwright's router on the node's own origin (so it is same-origin
and loopback) with the node's own security headers, or none where the policy would stop the
request the probe is about. Each certificate of the network is in its state on the node that
shows it (the API's answer, whatever the pages say).
"""

from __future__ import annotations

import datetime
from pathlib import Path

import httpx
import pytest

from node.server.middleware import SECURITY_HEADERS
from tests.support.browser import (
    CHROMIUM_ENV,
    ChromiumMissingError,
    Tab,
    chromium_path,
    is_loopback,
)
from tests.support.certificate_states import LATER_DAYS, CertificateStates


def _probe(tab: Tab, body: str, *, headers: dict[str, str] | None = None) -> None:
    """Serve ``body`` at ``/_probe`` on the node's origin, under the node's headers unless
    ``headers`` are given."""
    sent = dict(SECURITY_HEADERS) if headers is None else headers
    tab.page.route(
        f"{tab.base_url}/_probe",
        lambda route: route.fulfill(status=200, headers=sent, content_type="text/html", body=body),
    )
    tab.open("/_probe")


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8400/", True),
        ("http://127.9.9.9/", True),
        ("http://[::1]:8400/x", True),
        ("http://localhost/", True),
        ("data:image/png;base64,AA==", True),
        ("https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css", False),
        ("http://10.0.0.1/", False),
        ("http://127.0.0.1.example/", False),
    ],
)
def test_what_counts_as_loopback(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback


def test_a_request_off_loopback_is_aborted_and_recorded(tab: Tab) -> None:
    # example.invalid is reserved (RFC 2606): it resolves nowhere, and the router aborts it
    # before the browser even tries. No policy here: the node's would refuse it first.
    page = '<!doctype html><title>p</title><img src="https://cdn.example.invalid/x.png">'
    _probe(tab, page, headers={})
    tab.page.wait_for_load_state("load")
    assert tab.blocked == ["https://cdn.example.invalid/x.png"]
    with pytest.raises(AssertionError, match="request off loopback"):
        tab.check_clean()
    tab.blocked.clear()


def test_an_inline_script_is_refused_and_reported(tab: Tab) -> None:
    _probe(tab, "<!doctype html><title>p</title><script>document.title = 'ran'</script>")
    tab.page.wait_for_function("true")
    assert tab.page.title() == "p"  # the policy kept the script from running
    assert any(v.startswith("script-src-elem blocked inline") for v in tab.csp_violations), (
        tab.csp_violations
    )
    with pytest.raises(AssertionError, match="CSP violation"):
        tab.check_clean()
    tab.csp_violations.clear()


def test_an_inline_style_is_refused_and_reported(tab: Tab) -> None:
    _probe(tab, '<!doctype html><title>p</title><p style="color: red">x</p>')
    assert any(v.startswith("style-src-attr") for v in tab.csp_violations), tab.csp_violations
    tab.csp_violations.clear()


def test_axe_reports_what_is_missing(tab: Tab) -> None:
    _probe(tab, '<!doctype html><html><title>p</title><img src="data:,"><p>no main</p></html>')
    with pytest.raises(AssertionError) as failed:
        tab.check_accessible()
    for rule in ("html-has-lang", "image-alt", "landmark-one-main"):
        assert rule in str(failed.value)


@pytest.mark.parametrize("state", ["usable", "confirmed", "expired"])
def test_each_certificate_is_in_its_state_on_the_node_that_shows_it(
    states: CertificateStates, state: str
) -> None:
    shown = states.certificates[state]
    log = shown.number.split("-")[0]
    answer = httpx.get(f"{shown.node_url}/v1/certificates/{log}/{shown.number}", timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == state


def test_the_later_node_is_days_ahead_and_today_s_nodes_are_not(states: CertificateStates) -> None:
    expired = states.certificates["expired"]
    today = httpx.get(f"{states.net.url('BW')}/v1/certificates/BW/{expired.number}", timeout=30)
    assert today.json()["status"] == "usable"  # it expires tomorrow
    later = httpx.get(f"{states.later_url}/v1/certificates/BW/{expired.number}", timeout=30)
    assert later.json()["expires_on"] < str(
        datetime.datetime.now(datetime.UTC).date() + datetime.timedelta(days=LATER_DAYS)
    )


def test_a_machine_without_chromium_is_told_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(CHROMIUM_ENV, str(tmp_path / "chromium"))
    with pytest.raises(ChromiumMissingError, match=r"apt-get install .*chromium fonts-dejavu-core"):
        chromium_path()


def test_the_network_holds_no_evidence_with_the_later_node_in_it(states: CertificateStates) -> None:
    # Its cosignatures carry times two days ahead: no node may take that for a lie.
    for member in states.net.description["participants"].values():
        answer = httpx.get(f"{member['url']}/v1/evidence", timeout=30)
        assert answer.status_code == 200
        assert answer.json() == [], member["url"]
