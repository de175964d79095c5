"""The explorer's pages, through the real application in-process: the verification page's
status for each thing that can become of a certificate, the not-found and 400 pages, escaping,
the chain's graph and table, the network and parcel pages, and every link of every page
followed.

The ledger is the README's chain of custody appended through the real rules to one LMDB store
(``tests/support/scenario.py``), cosigned by the other members' witness keys, plus a usable
certificate, one of a sort's two outputs certified, a rejected certificate, a voided one, and
one appended after the cosigning (so no witnessed checkpoint covers it: INVALID). India's node
reads it on the scenario's own clock; a second node reads the same store 100 days later, when
the usable certificate has expired.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from anyio.from_thread import start_blocking_portal

from client.verify import Step
from node.core.records import EntryRef
from node.engine.config import Settings
from node.engine.ledger import LedgerNode
from node.engine.witness import add_cosignatures
from node.server.app import create_app
from node.server.explorer._graph import MAX_GRAPH_NODES, chain_graph
from node.server.explorer._layout import _ENVIRONMENT
from tests.support.asgi import Api
from tests.support.scenario import Chain, run_scenario
from tests.support.witnesses import cosign_latest
from tests.support.world import DAY_MS, NETWORK, World

HREF = re.compile(r'href="([^"]*)"')
DOCUMENT = re.compile(r"^/v1/certificates/[A-Z]{2,8}/[^/]+/document$")


@dataclass
class Ledger:
    chain: Chain
    usable: EntryRef
    sorted_out: EntryRef  # certifies one of two parcels a sort made
    rejected: EntryRef
    voided: EntryRef
    unwitnessed: EntryRef
    pages: Api  # India's node, on the scenario's clock
    later: Api  # the same store, 100 days on


@contextmanager
def _pages(node: LedgerNode) -> Iterator[Api]:
    # Pages only read: the application's lifespan (sequencer, replication) is not needed.
    app = create_app(node)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    with start_blocking_portal() as portal:
        api = Api(portal, transport, node)
        try:
            yield api
        finally:
            api.close()


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    world = World(store=Path(tmp_path_factory.mktemp("explorer")) / "store")
    chain = run_scenario(world)
    lot = world.produce("BW", 50_000, parcel="BW-USABLE-1")
    world.transfer(lot, "trader", by="mine")
    usable = world.certify("BW", "BW-2026-0099", [lot], "EU")
    other = world.produce("CA", 20_000, parcel="CA-REJECT-1")
    world.transfer(other, "trader", by="mine")
    rejected = world.certify("CA", "CA-2026-0098", [other], "EU")
    world.append(
        "EU",
        "certificate.reject",
        {"certificate": rejected.to_value(), "reason": "seal broken"},
        by="officer",
    )
    returned = world.produce("CA", 20_000, parcel="CA-VOID-1")
    world.transfer(returned, "trader", by="mine")
    voided = world.certify("CA", "CA-2026-0097", [returned], "EU")
    refusal = world.append(
        "EU",
        "certificate.reject",
        {"certificate": voided.to_value(), "reason": "wrong goods"},
        by="officer",
    )
    world.append(
        "CA",
        "certificate.void",
        {"certificate": voided.to_value(), "reason": "rejected", "evidence": refusal.to_value()},
        by="officer",
    )
    rough = world.produce("BW", 30_000, parcel="BW-SORT-1")
    world.transfer(rough, "trader", by="mine")
    _, gem = world.transform(
        "BW",
        [rough],
        [("BW-SORT-1I", 15_000, "7102.21"), ("BW-SORT-1G", 14_990, "7102.31")],
        "sort",
    )
    sorted_out = world.certify("BW", "BW-2026-0097", [gem], "EU")
    cosign_latest(world)
    _mark_witnessed(world)
    late = world.produce("BW", 10_000, parcel="BW-LATE-1")
    world.transfer(late, "trader", by="mine")
    unwitnessed = world.certify("BW", "BW-2026-0100", [late], "EU")
    member = world.members["IN"]
    now = world.time
    assert world.store is not None

    def node(clock_ms: int) -> LedgerNode:
        return LedgerNode(
            Settings(participant="IN", network=NETWORK),
            world.store,  # type: ignore[arg-type]
            member.log_key,
            member.witness_key,
            clock=lambda: clock_ms,
        )

    with ExitStack() as stack:
        stack.callback(world.close)
        pages = stack.enter_context(_pages(node(now)))
        later = stack.enter_context(_pages(node(now + 100 * DAY_MS)))
        yield Ledger(chain, usable, sorted_out, rejected, voided, unwitnessed, pages, later)


def _mark_witnessed(world: World) -> None:
    """Make each log's cosigned checkpoint its newest witnessed one, as a node does when the
    quorum's cosignatures arrive (``add_cosignatures``)."""
    assert world.store is not None
    charter = world.genesis.charter
    with world.store.write() as writer:
        for log in writer.logs():
            latest = writer.log(log).latest_checkpoint()
            assert latest is not None
            cosigners = add_cosignatures(
                writer,
                log,
                latest[0],
                [],
                charter.cosigner_keys(exclude=log),
                charter.policy.witness_quorum,
            )
            assert cosigners >= charter.policy.witness_quorum


def _status(page: str) -> tuple[str, str]:
    key = re.search(r'id="status"[^>]*data-status="([^"]+)"', page)
    word = re.search(r'<h1 id="status-word"[^>]*>([^<]+)</h1>', page)
    assert key, page[:2000]
    assert word, page[:2000]
    return key.group(1), word.group(1)


def _frame(page: str) -> None:
    """What every page has: language, viewport, landmarks, a labelled search field, the
    stylesheet, and no script or inline style (the CSP forbids them)."""
    assert page.startswith('<!doctype html>\n<html lang="en">')
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    for landmark in ("<header", "<nav", "<main", "<footer"):
        assert page.count(landmark) == 1, landmark
    assert '<label for="q">Certificate number or entry hash</label>' in page
    assert '<input id="q" name="q"' in page
    assert 'href="/static/explorer.css"' in page
    assert "<script" not in page.lower()
    assert "<style" not in page.lower()
    assert " style=" not in page.lower()
    levels = [int(n) for n in re.findall(r"<h([1-6])", page)]
    assert levels[0] == 1
    assert levels.count(1) == 1
    assert all(b - a <= 1 for a, b in itertools.pairwise(levels)), levels


def _follow_every_link(api: Api, page: str) -> int:
    followed = 0
    for href in set(HREF.findall(page)):
        if href.startswith("#"):
            continue
        if DOCUMENT.match(href):  # the PDF route is served by node/server/document.py
            continue
        assert href.startswith("/"), href  # nothing off this node: no CDN
        answer = api.get(href.replace("&amp;", "&"))
        assert answer.status_code == 200, (href, answer.status_code)
        followed += 1
    return followed


def test_the_search_page_is_a_page_with_its_frame(ledger: Ledger) -> None:
    answer = ledger.pages.get("/")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    _frame(answer.text)
    assert 'aria-current="page"' in answer.text
    assert _follow_every_link(ledger.pages, answer.text) >= 4


@pytest.mark.parametrize(
    "query",
    ["AE-2026-0007", "ae 2026/0007", " AE/2026/0007 "],
    ids=["number", "number-typed-loosely", "number-with-spaces"],
)
def test_a_certificate_number_answers_303_to_its_verification_page(
    ledger: Ledger, query: str
) -> None:
    answer = ledger.pages.get(f"/?q={query}")
    assert answer.status_code == 303
    expected = ledger.chain.steps["ae_certificate_in"].hash.hex()
    assert answer.headers["location"] == f"/verify/{expected}"


@pytest.mark.parametrize("upper", [False, True], ids=["hash", "hash-upper-case"])
def test_an_entry_hash_answers_303_to_its_verification_page(ledger: Ledger, upper: bool) -> None:
    digest = ledger.chain.steps["in_confirms_ae"].hash.hex()
    answer = ledger.pages.get(f"/?q={digest.upper() if upper else digest}")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/verify/{digest}"


def _verify(api: Api, ref: EntryRef) -> str:
    answer = api.get(f"/verify/{ref.hash.hex()}")
    assert answer.status_code == 200, answer.text[:500]
    _frame(answer.text)
    return answer.text


def test_a_confirmed_certificate_reads_already_confirmed(ledger: Ledger) -> None:
    page = _verify(ledger.pages, ledger.chain.steps["ae_certificate_in"])
    assert _status(page) == ("confirmed", "ALREADY CONFIRMED")
    assert "Imported into IN on 2026-03-16" in page
    assert "not usable again" in page
    assert 'class="status tone-stop"' in page  # a colour, a word and an icon
    assert 'class="status-icon"' in page
    # The Annex I card: number, authority, parties (sealed names as placeholders), goods.
    card = page.split('id="certificate"', 1)[1].split("</section>", 1)[0]
    for element in (
        "AE-2026-0007",
        "KP authority of AE",
        "AE:trader",
        "legal name and address sealed",
        "KP authority of IN",
        "10,790.00 ct",
        "<dt>Number of parcels</dt><dd>1</dd>",
        "7102.21",
        "BW, CA",
        "2026-03-14",
        "2026-04-13",
        "received 2026-03-16",
    ):
        assert element in card, element
    confirmation = ledger.chain.steps["in_confirms_ae"].hash.hex()
    assert f'href="/verify/{confirmation}"' in card


def test_a_confirmation_states_its_certificate_and_the_chain_ends_with_it(ledger: Ledger) -> None:
    subject = ledger.chain.steps["in_confirms_ae"]
    page = _verify(ledger.pages, subject)
    assert _status(page) == ("confirmed", "ALREADY CONFIRMED")
    rows = page.split('id="chain-table"', 1)[1].split("</tbody>", 1)[0].split("<tr")[2:]
    assert f"/verify/{subject.hash.hex()}" in rows[-1]  # mine → import: the import last
    assert "received 2026-03-16" in rows[-1]  # the record's date, not the entry's
    # Seeded where the bounded bundle starts: the sort's second output, with its own mass.
    assert "Seeded parcel" in rows[0]
    assert "ANT-AE-1</a> 10,790.00 ct" in rows[0]


def test_a_usable_certificate_reads_usable_with_its_custody(ledger: Ledger) -> None:
    page = _verify(ledger.pages, ledger.usable)
    assert _status(page) == ("usable", "USABLE")
    assert "awaiting import confirmation by EU, not expired" in page
    assert 'class="status tone-ok"' in page
    assert "Not confirmed" in page
    rows = page.split('id="chain-table"', 1)[1].split("</tbody>", 1)[0].split("<tr")[2:]
    kinds = [re.search(r'<th scope="row"><a [^>]+>([^<]+)</a>', row) for row in rows]
    titles = [k.group(1) for k in kinds if k]
    assert titles == ["Production", "Transfer", "Certificate BW-2026-0099"], titles
    assert "produced 2026-03-16" in rows[0]  # produced_on, as the record states it
    assert "BW:trader" in rows[1]  # the transfer names the new holder
    assert 'id="download-bundle"' in page
    assert f'href="/v1/provenance/{ledger.usable.hash.hex()}"' in page
    assert 'href="/v1/certificates/BW/BW-2026-0099/document"' in page
    assert f"kp verify --trust {ledger.pages.node.genesis().hex()}" in page  # type: ignore[union-attr]


def test_the_same_certificate_100_days_on_reads_expired(ledger: Ledger) -> None:
    page = _verify(ledger.later, ledger.usable)
    assert _status(page) == ("expired", "EXPIRED")
    assert "without an import confirmation: not usable" in page
    assert 'id="check-status"' in page
    assert 'data-passed="no"' in page


def test_a_rejected_certificate_reads_rejected(ledger: Ledger) -> None:
    page = _verify(ledger.pages, ledger.rejected)
    assert _status(page) == ("rejected", "REJECTED")
    assert 'class="status tone-bad"' in page
    assert "Rejected by EU on" in page


def test_a_voided_certificate_reads_voided(ledger: Ledger) -> None:
    page = _verify(ledger.pages, ledger.voided)
    assert _status(page) == ("voided", "VOIDED")
    assert 'class="status tone-bad"' in page
    assert "Voided by CA on" in page


def test_a_certificate_no_witnessed_checkpoint_covers_reads_invalid(ledger: Ledger) -> None:
    page = _verify(ledger.pages, ledger.unwitnessed)
    key, word = _status(page)
    assert (key, word) == ("invalid", "INVALID")
    assert "checkpoint.not_witnessed" in page
    assert re.search(r'id="check-checkpoints" class="check fail" data-passed="no"', page)
    assert re.search(r'id="check-charter" class="check pass" data-passed="yes"', page)


def test_an_entry_that_is_no_certificate_reads_valid(ledger: Ledger) -> None:
    page = _verify(ledger.pages, ledger.chain.steps["bw_produce"])
    assert _status(page) == ("valid", "VALID")
    assert 'id="certificate"' not in page
    assert 'id="download-pdf"' not in page


def test_the_checks_are_listed_each_with_its_mark(ledger: Ledger) -> None:
    page = _verify(ledger.pages, ledger.usable)
    for key in ("charter", "checkpoints", "proofs", "signatures", "rules", "status"):
        assert re.search(rf'id="check-{key}" class="check pass" data-passed="yes"', page), key
    assert page.count('<span class="mark" aria-hidden="true">✓</span>') == 6
    assert page.count('<span class="mark-word">Passed:</span>') == 6


def test_the_graph_has_a_linked_node_for_every_step_and_seed(ledger: Ledger) -> None:
    page = _verify(ledger.pages, ledger.chain.steps["in_confirms_ae"])
    svg = page.split('<svg id="chain-graph"', 1)[1].split("</svg>", 1)[0]
    table = page.split('id="chain-table"', 1)[1].split("</tbody>", 1)[0]
    nodes = re.findall(r'<a class="node [^"]+" href="([^"]+)" aria-label="[^"]+"', svg)
    assert len(nodes) == table.count("<tr") - 1 == 5  # the seed and four steps
    assert all(href in table for href in nodes)  # the table holds what the picture shows
    assert svg.count('<path class="edge"') == 4
    assert '<title id="chain-graph-title">' in svg
    assert "received 2026-03-16" in svg
    assert "10,790.00 ct · BW, CA" in svg


def test_a_sort_shows_each_output_with_its_own_mass_and_the_hs_codes_it_changed(
    ledger: Ledger,
) -> None:
    page = _verify(ledger.pages, ledger.sorted_out)
    assert _status(page) == ("usable", "USABLE")
    rows = page.split('id="chain-table"', 1)[1].split("</tbody>", 1)[0].split("<tr")[2:]
    [sort] = [row for row in rows if ">Sort</a>" in row]
    assert "HS 7102.10 → 7102.21, 7102.31" in sort
    assert "BW-SORT-1I</a> 150.00 ct, HS 7102.21, origins BW" in sort
    assert "BW-SORT-1G</a> 149.90 ct, HS 7102.31, origins BW" in sort
    assert "BW-SORT-1</a> 300.00 ct, HS 7102.10" in sort  # what it consumed
    [certificate] = [row for row in rows if "Certificate BW-2026-0097" in row]
    # The certificate drew on one output: its mass, not the sort's whole.
    assert "BW-SORT-1G</a> 149.90 ct, HS 7102.31" in certificate
    assert "BW-SORT-1I" not in certificate
    svg = page.split('<svg id="chain-graph"', 1)[1].split("</svg>", 1)[0]
    assert "150.00 ct + 149.90 ct" in svg
    assert "HS 7102.10 → 7102.21, 7102.31" in svg


@pytest.mark.parametrize(
    "path",
    [
        "/verify/" + "ab" * 32,
        "/?q=" + "ab" * 32,
        "/?q=AE-2099-0001",
    ],
    ids=["unknown-hash", "unknown-hash-searched", "unknown-number"],
)
def test_what_the_ledger_does_not_hold_reads_not_found(ledger: Ledger, path: str) -> None:
    answer = ledger.pages.get(path)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    _frame(answer.text)
    assert _status(answer.text) == ("not-found", "NOT FOUND — POSSIBLY FORGED")


def test_a_tampered_hash_reads_not_found(ledger: Ledger) -> None:
    genuine = ledger.chain.steps["ae_certificate_in"].hash.hex()
    tampered = genuine[:10] + ("0" if genuine[10] != "0" else "1") + genuine[11:]
    answer = ledger.pages.get(f"/verify/{tampered}")
    assert answer.status_code == 404
    assert _status(answer.text)[0] == "not-found"
    assert tampered in answer.text


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/?q=" + "x" * 129, "at most 128 characters"),
        ("/?q=AE%3B1", "participant id (2 to 8 letters)"),
        ("/?q=hello%20world", "HELLO is no participant of this network"),
        ("/verify/not-a-hash", "String should match pattern"),
        ("/verify/" + "ab" * 32 + "?genesis=xyz", "genesis"),
        ("/parcels/BW/-1/0", "seq"),
        ("/parcels/BW/0/64", "out"),
        ("/parcels/bw/0/0", "log_id"),
    ],
    ids=[
        "query-over-long",
        "query-neither-number-nor-hash",
        "query-free-text",
        "verify-not-a-hash",
        "verify-genesis-not-a-hash",
        "parcel-negative-seq",
        "parcel-out-beyond-63",
        "parcel-log-lower-case",
    ],
)
def test_a_malformed_request_answers_a_400_page_not_json(
    ledger: Ledger, path: str, says: str
) -> None:
    answer = ledger.pages.get(path)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    _frame(answer.text)
    assert says in answer.text
    assert 'data-status-code="400"' in answer.text


def test_the_api_still_answers_its_own_malformed_requests_with_problems(ledger: Ledger) -> None:
    answer = ledger.pages.get("/v1/parcels/BW/0/64")
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "request.invalid"


@pytest.mark.parametrize(
    "hostile",
    ['"><script>alert(1)</script>', "<img src=x onerror=alert(1)>", "AE-2026-<b>7</b>"],
    ids=["script", "img", "markup-in-number"],
)
def test_a_hostile_query_is_text_wherever_it_is_shown(ledger: Ledger, hostile: str) -> None:
    answer = ledger.pages.get(f"/?q={quote(hostile)}")
    assert answer.status_code == 400
    assert "<script>alert" not in answer.text
    assert "<img src=x" not in answer.text
    assert "<b>7</b>" not in answer.text
    assert "&lt;" in answer.text


def test_another_networks_certificate_is_said_to_be_of_another_network(ledger: Ledger) -> None:
    digest = ledger.chain.steps["ae_certificate_in"].hash.hex()
    genesis = ledger.pages.node.genesis()
    assert genesis is not None
    own = ledger.pages.get(f"/verify/{digest}?genesis={genesis.hex()}")
    assert _status(own.text)[0] == "confirmed"
    other = ledger.pages.get(f"/verify/{digest}?genesis={'00' * 32}")
    assert other.status_code == 200
    assert _status(other.text) == ("other-network", "OTHER NETWORK")
    assert "belongs to another network" in other.text


def test_every_link_of_the_verification_pages_resolves(ledger: Ledger) -> None:
    for ref in (
        ledger.chain.steps["in_confirms_ae"],
        ledger.usable,
        ledger.sorted_out,
        ledger.rejected,
        ledger.voided,
    ):
        page = _verify(ledger.pages, ref)
        assert re.search(r'id="download-pdf" href="/v1/certificates/[A-Z]{2}/[^"]+/document"', page)
        assert _follow_every_link(ledger.pages, page) >= 8


def test_the_network_page_lists_members_logs_witnesses_and_evidence(ledger: Ledger) -> None:
    answer = ledger.pages.get("/network")
    assert answer.status_code == 200
    page = answer.text
    _frame(page)
    for member in ("AE", "BW", "CA", "EU", "IN"):
        row = page.split(f'<tr id="member-{member}">', 1)[1].split("</tr>", 1)[0]
        assert "active" in row
        assert "version 1" in row
        assert re.search(r"<td>[A-Z]{2}, [A-Z]{2}</td>", row), row  # two cosigners
        assert "<td>no</td>" in row  # not quarantined
    assert 'id="evidence-none"' in page
    assert _follow_every_link(ledger.pages, page) >= 4


def test_the_parcel_page_shows_its_state_and_links_its_entries(ledger: Ledger) -> None:
    consumed = ledger.chain.parcels["eu_bw"]  # merged at Antwerp
    answer = ledger.pages.get(f"/parcels/{consumed.log}/{consumed.seq}/{consumed.out}")
    assert answer.status_code == 200
    page = answer.text
    _frame(page)
    assert 'data-live="no"' in page
    assert "EU-BW-1" in page
    assert "12,500.00 ct" in page
    assert "7102.10" in page
    merge = ledger.chain.steps["antwerp_merge"].hash.hex()
    assert f'consumed by <a href="/verify/{merge}">' in page
    assert f'made by <a href="/verify/{consumed.hash.hex()}">' in page
    assert _follow_every_link(ledger.pages, page) >= 4
    unknown = ledger.pages.get("/parcels/BW/9999/0")
    assert unknown.status_code == 404
    assert _status(unknown.text)[0] == "not-found"


def test_the_stylesheet_and_the_favicon_are_served(ledger: Ledger) -> None:
    css = ledger.pages.get("/static/explorer.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    for path in ("/favicon.ico", "/static/favicon.svg"):
        icon = ledger.pages.get(path)
        assert icon.status_code == 200
        assert icon.headers["content-type"].startswith("image/svg+xml")


def test_a_chain_too_long_to_draw_is_listed_not_drawn() -> None:
    step = Step("BW", 1, "ab" * 32, "parcel.produce", "2026-03-02", None, 100, ("BW",), 2)
    many = [replace(step, seq=n, hash=f"{n:064x}") for n in range(MAX_GRAPH_NODES + 1)]
    graph = chain_graph(many, ())
    assert graph.nodes == ()
    assert graph.omitted == MAX_GRAPH_NODES + 1
    assert len(chain_graph(many[:MAX_GRAPH_NODES], ()).nodes) == MAX_GRAPH_NODES


def test_every_template_escapes_what_it_is_given() -> None:
    # The pages rely on it for participant names, parcel ids and findings: nothing is marked
    # safe by hand.
    hostile = '<script>alert("x")</script>'
    assert "<script>" not in _ENVIRONMENT.from_string("{{ value }}").render(value=hostile)
    rendered = _ENVIRONMENT.get_template("refused.html").render(
        participant=hostile,
        network=hostile,
        genesis=hostile,
        query=hostile,
        nav="",
        heading=hostile,
        detail=hostile,
        status_code=400,
    )
    assert "<script>" not in rendered
    assert rendered.count("&lt;script&gt;") == 8  # network and heading are shown twice
