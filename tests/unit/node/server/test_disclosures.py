"""``GET /v1/disclosures/{hash}`` and ``GET /v1/disclosures/access`` under the disclosure policy
(decision 0040), over the in-process transport.

BW's node serves; the logs of EU (the importing participant), ZA (a third participant), IN
(suspended by charter version 2, which BW adopted) and WDC (an observer) are replicated into its
store, so it knows their operators. BW registers an operator past its ``valid_until``
(``lapsed``) and one it revoked (``former``). BW's officer certifies a parcel of its trader to
EU; its mine sells a parcel to its trader. Every reader signs for real (RFC 9421).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from client.sdk import Operator, submission_bytes
from node.core import clock, crypto
from node.core.charter import (
    SignedCharter,
    make_successor,
    sign_charter,
    with_status,
)
from node.core.receipt import Receipt
from node.core.records import SignedRecord
from node.core.sealing import Disclosures
from node.dev.devnet import devnet_create
from node.engine.datadir import DataDir
from node.engine.ledger import LedgerNode
from tests.support.inprocess import Api, replicate, serve

TODAY_ON = clock.today()
EXPIRES_ON = (datetime.date.fromisoformat(TODAY_ON) + datetime.timedelta(days=30)).isoformat()
PARTICIPANTS = ["BW", "EU", "ZA", "IN"]
LAPSED, FORMER = crypto.generate_private_key(), crypto.generate_private_key()
CERTIFICATE_FIELDS = {"value_usd_cents", "exporter_name", "importer_name", "seal_number"}


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("policy")
    description = devnet_create(root, participants=PARTICIPANTS, observers=["WDC"], base_port=8790)
    description["root"] = root
    return description


def _key(network: dict[str, Any], key_id: str) -> Ed25519PrivateKey:
    member, _, operator = key_id.partition(":")
    if operator == "lapsed":
        return LAPSED
    if operator == "former":
        return FORMER
    if not operator:
        return DataDir(network["root"] / member).key("log")
    return crypto.load_private_key(
        Path(network["participants"][member]["operators"][operator]["key_file"])
    )


def _suspending_in(root: Path, genesis: SignedCharter) -> SignedCharter:
    """Version 2: IN suspended, signed by three governors of both versions (threshold 3)."""
    successor = make_successor(
        genesis.charter, participants=with_status(genesis.charter.participants, "IN", "suspended")
    )
    signed = SignedCharter(successor, ())
    for member in ("BW", "EU", "ZA"):
        signed = sign_charter(signed, member, DataDir(root / member).key("governance"))
    return signed


@pytest.fixture(scope="module")
def api(network: dict[str, Any]) -> Iterator[Api]:
    root = network["root"]
    node = LedgerNode.open(DataDir(root / "BW"))
    try:
        replicate(node, [root / m for m in ("EU", "ZA", "IN", "WDC")])
        for name, key, valid_until in (
            ("lapsed", LAPSED, "2020-01-01"),
            ("former", FORMER, "2099-12-31"),
        ):
            node.register_operator(
                name,
                kind="authority",
                public_key=crypto.public_key_bytes(key),
                roles=["certificate.issue"],
                licence=f"BW-{name.upper()}",
                valid_until=valid_until,
            )
        node.revoke_operator("former", "left the authority")
        genesis = SignedCharter.parse((root / "genesis.charter").read_bytes())
        node.adopt(_suspending_in(root, genesis))
        with serve(node) as running:
            yield running
    finally:
        node.close()


def _submit(api: Api, record: tuple[SignedRecord, Disclosures]) -> Receipt:
    response = api.post(
        "/v1/records",
        content=submission_bytes(*record),
        headers={"content-type": "application/msgpack"},
    )
    assert response.status_code == 200, response.text
    return Receipt.from_json(response.json())


@pytest.fixture(scope="module")
def entries(api: Api, network: dict[str, Any]) -> dict[str, str]:
    """The certificate and the transfer, by hex entry hash."""

    def operator(name: str) -> Operator:
        return Operator("BW", name, _key(network, f"BW:{name}"))

    mine, officer = operator("mine"), operator("officer")
    exported = _submit(
        api,
        mine.produce("BW-P-1", centicarats=1_000, hs_code="7102.10", produced_on=TODAY_ON,
                     holder="trader"),
    )  # fmt: skip
    certificate = _submit(
        api,
        officer.certify(
            "BW-2026-0001",
            exporter="trader",
            importing="EU",
            parcels=[exported.parcel_ref()],
            centicarats=1_000,
            hs_codes=["7102.10"],
            origins=["BW"],
            issued_on=TODAY_ON,
            expires_on=EXPIRES_ON,
            value_usd_cents=15_000_000,
            exporter_name="Okavango Diamond Company",
            importer_name="Antwerp Rough NV",
            seal_number="SEAL-1",
        ),
    )
    sold = _submit(
        api, mine.produce("BW-P-2", centicarats=500, hs_code="7102.10", produced_on=TODAY_ON)
    )
    transfer = _submit(api, mine.transfer(sold.parcel_ref(), "trader", invoice="INV-POLICY-1"))
    return {"certificate": certificate.entry_hash.hex(), "transfer": transfer.entry_hash.hex()}


def _read(api: Api, network: dict[str, Any], key_id: str, entry_hash: str) -> httpx.Response:
    return api.get(f"/v1/disclosures/{entry_hash}", signer=(key_id, _key(network, key_id)))


def _problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


# (reader, the certificate's answer, the transfer's answer): a status and the refusal's code
READS: list[tuple[str, tuple[int, str], tuple[int, str]]] = [
    ("BW:officer", (200, ""), (200, "")),  # signed the certificate; BW's authority
    ("BW", (200, ""), (200, "")),  # BW's log key
    ("BW:trader", (200, ""), (200, "")),  # the exporter; the buyer
    ("BW:mine", (403, "disclosure.not_entitled"), (200, "")),  # the seller
    ("EU", (200, ""), (403, "disclosure.not_entitled")),  # the importing participant
    ("EU:officer", (200, ""), (403, "disclosure.not_entitled")),  # its authority officer
    ("EU:trader", (403, "disclosure.not_entitled"), (403, "disclosure.not_entitled")),
    ("ZA:officer", (403, "disclosure.not_entitled"), (403, "disclosure.not_entitled")),
    ("ZA", (403, "disclosure.not_entitled"), (403, "disclosure.not_entitled")),
    ("WDC", (403, "disclosure.aggregates_only"), (403, "disclosure.aggregates_only")),
    ("IN", (403, "disclosure.suspended"), (403, "disclosure.suspended")),
    ("IN:officer", (403, "disclosure.suspended"), (403, "disclosure.suspended")),
    ("BW:former", (403, "disclosure.key_not_in_force"), (403, "disclosure.key_not_in_force")),
    ("BW:lapsed", (403, "disclosure.key_not_in_force"), (403, "disclosure.key_not_in_force")),
]


@pytest.mark.parametrize(
    ("key_id", "certificate", "transfer"), READS, ids=[reader for reader, *_ in READS]
)
def test_each_reader_gets_what_the_policy_gives(
    api: Api,
    network: dict[str, Any],
    entries: dict[str, str],
    key_id: str,
    certificate: tuple[int, str],
    transfer: tuple[int, str],
) -> None:
    for kind, (status, code) in (("certificate", certificate), ("transfer", transfer)):
        response = _read(api, network, key_id, entries[kind])
        if status == 200:
            assert response.status_code == 200, response.text
            opened = response.json()
            expected = CERTIFICATE_FIELDS if kind == "certificate" else {"invoice"}
            assert (set(opened["fields"]), opened["refused"]) == (expected, {})
            assert opened["member"] == key_id
        else:
            _problem(response, status, code)


def test_the_exporters_officer_reads_the_values_it_sealed(
    api: Api, network: dict[str, Any], entries: dict[str, str]
) -> None:
    opened = _read(api, network, "BW:officer", entries["certificate"]).json()["fields"]
    assert opened["value_usd_cents"]["value"] == 15_000_000
    assert opened["seal_number"]["value"] == "SEAL-1"


def test_an_unknown_key_is_not_a_member_and_is_recorded_nowhere(
    api: Api, network: dict[str, Any], entries: dict[str, str]
) -> None:
    before = _access(api, network, "BW").json()["next"]
    ghost = ("BW:ghost", crypto.generate_private_key())
    _problem(
        api.get(f"/v1/disclosures/{entries['transfer']}", signer=ghost), 401, "auth.unknown_key"
    )
    impostor = ("BW:officer", crypto.generate_private_key())
    response = api.get(f"/v1/disclosures/{entries['transfer']}", signer=impostor)
    _problem(response, 401, "auth.bad_signature")
    _problem(api.get(f"/v1/disclosures/{entries['transfer']}"), 401, "auth.missing")
    assert _access(api, network, "BW", after=before).json()["records"] == []


def test_an_entry_without_disclosures_here_is_404(api: Api, network: dict[str, Any]) -> None:
    _problem(_read(api, network, "BW:officer", "00" * 32), 404, "disclosure.unknown")


def _access(
    api: Api, network: dict[str, Any], key_id: str, *, after: int = 0, limit: int = 100
) -> httpx.Response:
    return api.get(
        "/v1/disclosures/access",
        params={"after": after, "limit": limit},
        signer=(key_id, _key(network, key_id)),
    )


def test_the_access_record_lists_every_read_and_refusal(
    api: Api, network: dict[str, Any], entries: dict[str, str]
) -> None:
    before = _access(api, network, "BW:officer").json()["next"]
    reads = [
        ("EU:officer", "certificate"),
        ("ZA:officer", "certificate"),
        ("WDC", "transfer"),
        ("IN", "certificate"),
        ("BW:lapsed", "transfer"),
        ("BW:mine", "transfer"),
    ]
    for key_id, kind in reads:
        _read(api, network, key_id, entries[kind])
    records: list[dict[str, Any]] = []
    after = before
    while True:  # two at a time: the pages join up
        page = _access(api, network, "BW", after=after, limit=2).json()
        assert page["log"] == "BW"
        assert len(page["records"]) <= 2
        if not page["records"]:
            break
        records += page["records"]
        after = page["next"]
    assert [r["n"] for r in records] == list(range(before + 1, before + 1 + len(reads)))
    assert [(r["key_id"], r["entry_hash"]) for r in records] == [
        (key_id, entries[kind]) for key_id, kind in reads
    ]
    assert [r["allowed"] for r in records] == [True, False, False, False, False, True]
    assert records[0]["fields"] == dict.fromkeys(CERTIFICATE_FIELDS, "disclosure.allowed")
    assert records[1]["fields"] == dict.fromkeys(CERTIFICATE_FIELDS, "disclosure.not_entitled")
    assert records[2]["fields"] == {"invoice": "disclosure.aggregates_only"}
    assert records[4]["fields"] == {"invoice": "disclosure.key_not_in_force"}
    assert all(r["log"] == "BW" and r["time"] > 0 for r in records)


@pytest.mark.parametrize(
    ("key_id", "code"),
    [
        ("BW:trader", "disclosure.not_entitled"),
        ("BW:mine", "disclosure.not_entitled"),
        ("IN", "disclosure.suspended"),
        ("IN:officer", "disclosure.suspended"),
        ("BW:former", "disclosure.key_not_in_force"),
        ("BW:lapsed", "disclosure.key_not_in_force"),
    ],
)
def test_the_access_record_is_refused_to_all_but_the_logs_authority(
    api: Api, network: dict[str, Any], key_id: str, code: str
) -> None:
    _problem(_access(api, network, key_id), 403, code)


@pytest.mark.parametrize("key_id", ["EU", "EU:officer", "WDC"])
def test_another_members_authority_sees_only_its_own_logs_reads(
    api: Api, network: dict[str, Any], entries: dict[str, str], key_id: str
) -> None:
    _read(api, network, key_id, entries["certificate"])
    page = _access(api, network, key_id)
    assert page.status_code == 200, page.text
    member = key_id.partition(":")[0]
    assert (page.json()["log"], page.json()["records"]) == (member, [])


def test_an_access_page_is_bounded(api: Api, network: dict[str, Any]) -> None:
    _problem(_access(api, network, "BW", limit=0), 400, "request.invalid")
    page = _access(api, network, "BW", limit=10**6)
    assert page.status_code == 200
    assert len(page.json()["records"]) <= 1000
