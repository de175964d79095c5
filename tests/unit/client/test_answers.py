"""The SDK's read results (client/answers.py) have the fields of the server's response models
(node/server/schemas.py), read what a node sends, and refuse a malformed answer with
``client.malformed``."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel

from client.answers import (
    AccessPage,
    AccessRecord,
    CertificateInfo,
    DisclosedEntry,
    EntryInfo,
    Evidence,
    Health,
    LogInfo,
    NetworkInfo,
    ParcelInfo,
    ParcelStates,
)
from client.errors import ClientError, MalformedAnswerError
from client.sdk import Operator
from node.core import merkle
from node.core.records import Entry, EntryRef, ParcelRef
from node.core.state import CertificateState, ParcelState
from node.server.schemas import (
    AccessPageModel,
    AccessRecordModel,
    CertificateModel,
    DisclosuresModel,
    EntryModel,
    EvidenceModel,
    NetworkModel,
    ParcelModel,
    b64,
    certificate_model,
    json_value,
    parcel_model,
)
from node.server.schemas import (
    Health as HealthModel,
)
from node.server.schemas import (
    LogInfo as LogInfoModel,
)
from node.server.schemas import (
    ParcelStates as ParcelStatesModel,
)
from tests.support.records import GENESIS

HASH = bytes(range(32))
OTHER = bytes(range(1, 33))


def _entry_raw() -> bytes:
    signed, _ = Operator("BW", "mine", Ed25519PrivateKey.generate()).produce(
        "BW-JW-0001", centicarats=125_000, hs_code="7102.10", produced_on="2026-11-20"
    )
    return Entry(4, GENESIS, 1_790_000_000_000, signed).encode()


def _health() -> dict[str, Any]:
    return HealthModel(status="ok", log="BW", size=5, restoring=False).model_dump()


def _log() -> dict[str, Any]:
    return LogInfoModel(
        log="BW", size=5, root=b64(HASH), checkpoint="kp.test/BW\n5\n...\n", digest="ab" * 16
    ).model_dump()


def _entry() -> dict[str, Any]:
    raw = _entry_raw()
    return EntryModel(
        log="BW", seq=4, hash=merkle.leaf_hash(raw).hex(), entry={"seq": 4}, raw=b64(raw)
    ).model_dump()


def _parcel() -> dict[str, Any]:
    state = ParcelState(
        ref=ParcelRef("BW", 4, HASH, 1),
        parcel="BW-JW-0001",
        holder="trader",
        centicarats=125_000,
        hs_code="7102.10",
        origins=("BW",),
        basis=125_000,
        consumed_by=EntryRef("BW", 9, OTHER),
        transfers=(EntryRef("BW", 6, OTHER),),
    )
    return parcel_model(state).model_dump()


def _parcel_states() -> dict[str, Any]:
    return ParcelStatesModel.model_validate({"parcels": [_parcel(), None]}).model_dump()


def _certificate() -> dict[str, Any]:
    state = CertificateState(
        ref=EntryRef("BW", 7, HASH),
        number="BW-2026-0001",
        exporter="trader",
        importing="EU",
        parcels=(ParcelRef("BW", 4, HASH, 0),),
        centicarats=125_000,
        hs_codes=("7102.10",),
        origins=("BW",),
        issued_on="2026-11-20",
        expires_on="2026-12-20",
        void_after="2026-12-27",
        basis=125_000,
        outcome="confirmed",
        outcome_ref=EntryRef("EU", 2, OTHER),
        received_on="2026-11-25",
        recorded_on="2026-11-26",
    )
    return certificate_model(state, "2026-11-30").model_dump()


def _version(version: int) -> dict[str, Any]:
    return {"version": version, "hash": HASH.hex(), "document": b64(b"signed charter")}


def _network() -> dict[str, Any]:
    member = {
        "name": "Botswana",
        "kind": "participant",
        "status": "active",
        "endpoints": ["http://127.0.0.1:8400"],
        "log_vkey": "kp.test/BW+01234567+AQ==",
        "witness_vkey": "kp.test/BW/witness+89abcdef+BA==",
        "governance_key": b64(OTHER),
        "adopted_version": 2,
        "behind": False,
    }
    document = {
        "network": "kp.test",
        "genesis": GENESIS.hex(),
        "participant": "BW",
        "charter": _version(2),
        "newest_version": 2,
        "charters": [_version(1), _version(2)],
        "policy": {"mass_tolerance_ppm": 5_000},
        "participants": {"BW": member, "EU": {**member, "adopted_version": None}},
    }
    return NetworkModel.model_validate(document).model_dump()


def _disclosures() -> dict[str, Any]:
    document = {
        "entry_hash": HASH.hex(),
        "member": "EU:officer",
        "fields": {
            "value_usd_cents": {"salt": b64(b"s" * 16), "value": 9_000_000},
            "invoice": {"salt": b64(b"t" * 16), "value": "INV-1"},
        },
        "refused": {"seal_number": "disclosure.not_entitled"},
    }
    return DisclosuresModel.model_validate(document).model_dump()


def _access_record() -> dict[str, Any]:
    document = {
        "n": 3,
        "time": 1_790_000_000_000,
        "key_id": "ZA:officer",
        "log": "BW",
        "seq": 7,
        "entry_hash": HASH.hex(),
        "fields": {"invoice": "disclosure.not_entitled"},
        "allowed": False,
    }
    return AccessRecordModel.model_validate(document).model_dump()


def _access_page() -> dict[str, Any]:
    document = {"log": "BW", "after": 2, "next": 3, "records": [_access_record()]}
    return AccessPageModel.model_validate(document).model_dump()


def _evidence() -> dict[str, Any]:
    item = {
        "kind": "fork",
        "log": "BW",
        "code": "log.fork",
        "detail": "two checkpoints of size 5",
        "material": {"checkpoints": ["a", "b"], "proof": [b"\x00" * 32]},
        "time": 1_790_000_000_000,
        "id": HASH,
        "quarantined": True,
    }
    return EvidenceModel.model_validate(json_value(item)).model_dump()


# (type, the server's model, a document the server sends)
ANSWERS: list[tuple[type[Any], type[BaseModel], Callable[[], dict[str, Any]]]] = [
    (Health, HealthModel, _health),
    (LogInfo, LogInfoModel, _log),
    (EntryInfo, EntryModel, _entry),
    (ParcelInfo, ParcelModel, _parcel),
    (ParcelStates, ParcelStatesModel, _parcel_states),
    (CertificateInfo, CertificateModel, _certificate),
    (NetworkInfo, NetworkModel, _network),
    (DisclosedEntry, DisclosuresModel, _disclosures),
    (AccessRecord, AccessRecordModel, _access_record),
    (AccessPage, AccessPageModel, _access_page),
    (Evidence, EvidenceModel, _evidence),
]
IDS = [kind.__name__ for kind, _, _ in ANSWERS]


@pytest.mark.parametrize(("kind", "model", "document"), ANSWERS, ids=IDS)
def test_an_answer_has_the_fields_of_the_servers_model(
    kind: type[Any], model: type[BaseModel], document: Callable[[], dict[str, Any]]
) -> None:
    assert {f.name for f in dataclasses.fields(kind)} == set(model.model_fields)
    sent = document()
    assert model.model_validate(sent).model_dump() == sent  # it is what the server sends
    parsed = kind.from_json(sent)
    assert isinstance(parsed, kind)
    assert not hasattr(parsed, "__dict__")  # slotted
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(parsed, dataclasses.fields(kind)[0].name, None)


def test_answers_read_what_the_server_sends() -> None:
    states = ParcelStates.from_json(_parcel_states())
    assert states.parcels == (ParcelInfo.from_json(_parcel()), None)
    parcel = ParcelInfo.from_json(_parcel())
    assert parcel.ref == ParcelRef("BW", 4, HASH, 1)
    assert (parcel.consumed_by, parcel.transfers) == (
        EntryRef("BW", 9, OTHER),
        (EntryRef("BW", 6, OTHER),),
    )
    assert (parcel.origins, parcel.live) == (("BW",), False)
    certificate = CertificateInfo.from_json(_certificate())
    assert (certificate.status, certificate.outcome_ref) == ("confirmed", EntryRef("EU", 2, OTHER))
    assert certificate.voided is None
    entry = EntryInfo.from_json(_entry())
    assert (entry.entry.seq, entry.entry.signed.type) == (4, "parcel.produce")
    assert merkle.leaf_hash(entry.raw) == entry.hash
    network = NetworkInfo.from_json(_network())
    assert network.genesis == GENESIS
    assert network.participants["BW"].endpoints == ("http://127.0.0.1:8400",)
    assert network.participants["EU"].adopted_version is None
    assert [v.version for v in network.charters] == [1, 2]
    opened = DisclosedEntry.from_json(_disclosures())
    assert opened.fields["value_usd_cents"].value == 9_000_000
    assert opened.fields["invoice"].salt == b"t" * 16
    assert opened.refused == {"seal_number": "disclosure.not_entitled"}
    page = AccessPage.from_json(_access_page())
    [read] = page.records
    assert (page.next, read.key_id, read.entry_hash, read.allowed) == (3, "ZA:officer", HASH, False)
    assert read.fields == {"invoice": "disclosure.not_entitled"}
    evidence = Evidence.from_json(_evidence())
    assert (evidence.id, evidence.quarantined) == (HASH, True)
    assert LogInfo.from_json(_log()).root == HASH
    assert Health.from_json({"status": "ok", "log": "BW", "size": 1}).restoring is False


def _without(document: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != name}


MALFORMED: list[tuple[str, type[Any], Callable[[], object]]] = [
    ("not an object", Health, lambda: ["ok"]),
    ("size missing", Health, lambda: _without(_health(), "size")),
    ("size a bool", Health, lambda: {**_health(), "size": True}),
    ("size negative", Health, lambda: {**_health(), "size": -1}),
    ("restoring a string", Health, lambda: {**_health(), "restoring": "no"}),
    ("root not base64", LogInfo, lambda: {**_log(), "root": "!!"}),
    ("root short", LogInfo, lambda: {**_log(), "root": b64(b"x" * 31)}),
    ("checkpoint a number", LogInfo, lambda: {**_log(), "checkpoint": 5}),
    ("raw of another hash", EntryInfo, lambda: {**_entry(), "hash": HASH.hex()}),
    ("raw no entry", EntryInfo, lambda: {**_entry(), "raw": b64(b"x"), "hash": _leaf(b"x")}),
    ("entry at another seq", EntryInfo, lambda: {**_entry(), "seq": 5}),
    ("entry in another log", EntryInfo, lambda: {**_entry(), "log": "EU"}),
    ("hash upper case", EntryInfo, lambda: {**_entry(), "hash": _entry()["hash"].upper()}),
    ("ref short", ParcelInfo, lambda: {**_parcel(), "ref": ["BW", 4, HASH.hex()]}),
    ("ref seq a string", ParcelInfo, lambda: {**_parcel(), "ref": ["BW", "4", HASH.hex(), 0]}),
    ("consumed_by not hex", ParcelInfo, lambda: {**_parcel(), "consumed_by": ["BW", 9, "zz"]}),
    ("origins of numbers", ParcelInfo, lambda: {**_parcel(), "origins": [1]}),
    ("live missing", ParcelInfo, lambda: _without(_parcel(), "live")),
    ("transfers not refs", ParcelInfo, lambda: {**_parcel(), "transfers": [["BW"]]}),
    ("states not a list", ParcelStates, lambda: {"parcels": None}),
    ("a state malformed", ParcelStates, lambda: {"parcels": [_without(_parcel(), "live")]}),
    ("ref missing", CertificateInfo, lambda: {**_certificate(), "ref": None}),
    ("status missing", CertificateInfo, lambda: _without(_certificate(), "status")),
    ("parcels not refs", CertificateInfo, lambda: {**_certificate(), "parcels": [[]]}),
    ("genesis short", NetworkInfo, lambda: {**_network(), "genesis": "ab"}),
    ("charter missing", NetworkInfo, lambda: _without(_network(), "charter")),
    ("member malformed", NetworkInfo, lambda: {**_network(), "participants": {"BW": {}}}),
    ("fields not a map", DisclosedEntry, lambda: {**_disclosures(), "fields": []}),
    ("salt not base64", DisclosedEntry, lambda: _field(salt="!!")),
    ("value a float", DisclosedEntry, lambda: _field(value=1.5)),
    ("refused not codes", DisclosedEntry, lambda: {**_disclosures(), "refused": {"x": 1}}),
    ("access n negative", AccessRecord, lambda: {**_access_record(), "n": -1}),
    ("access fields a list", AccessRecord, lambda: {**_access_record(), "fields": []}),
    ("access records not a list", AccessPage, lambda: {**_access_page(), "records": {}}),
    ("time a string", Evidence, lambda: {**_evidence(), "time": "now"}),
    ("id not base64", Evidence, lambda: {**_evidence(), "id": "!!"}),
]


def _leaf(raw: bytes) -> str:
    return merkle.leaf_hash(raw).hex()


def _field(**changes: object) -> dict[str, Any]:
    document = _disclosures()
    opened = {**document["fields"]["invoice"], **changes}
    return {**document, "fields": {"invoice": opened}}


@pytest.mark.parametrize(("why", "kind", "document"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_answer_is_refused_with_client_malformed(
    why: str, kind: type[Any], document: Callable[[], object]
) -> None:
    with pytest.raises(MalformedAnswerError) as refused:
        kind.from_json(document())
    assert refused.value.code == "client.malformed", why
    assert isinstance(refused.value, ClientError)  # Nodes.first then asks the next node


def test_a_base64_answer_field_is_strict() -> None:
    padded = base64.b64encode(HASH).decode().rstrip("=") + "\n"
    with pytest.raises(MalformedAnswerError):
        LogInfo.from_json({**_log(), "root": padded})
