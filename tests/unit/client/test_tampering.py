"""Tampered provenance bundles: each lie leaves the verdict INVALID, with the finding naming it.

Two kinds of lie (DESIGN §9):

- *Bundle edits*: the logs are honest, the bundle that carries them is altered afterwards (an
  entry's bytes, a proof, a checkpoint's cosignatures, the charter chain, an entry left out...).
- *Lying logs*: an origin's own node appends a record that breaks one DESIGN §6 rule and the
  witnesses cosign it. The bundle is then internally consistent, and only the verifier's replay of
  the rules can catch the lie. The lie is told by patching exactly one check of ``node.core.rules``
  around that single append; the verifier runs after the patch is gone. Without the patch the
  same node refuses the record with the same code, so each lie is a lie about that rule only.

Everything is real: worlds append through real sequencers to LMDB stores, witnesses cosign with
their own keys, and ``build_bundle`` builds the bundle a node would serve.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from client.verify import Verdict, VerificationError, check_bundle, verify_bundle
from node.core import notes, rules
from node.core.charter import SignedCharter, make_successor
from node.core.errors import RuleError
from node.core.records import LOG_SIGNER, Entry, EntryRef, ParcelRef, ParcelTransfer
from node.core.state import OperatorState, ParcelState
from node.engine.bundling import build_bundle
from tests.support.scenario import Chain, run_scenario
from tests.support.witnesses import cosign_latest
from tests.support.world import NETWORK, World

Bundle = dict[str, Any]

# Findings about the form, the charter, the checkpoints and the proofs: a lying log's bundle is
# well formed, so none of these may appear for it.
_FORM_CODES = ("bundle.malformed", "bundle.wrong_network", "bundle.no_subject", "entry.hash")
_FORM_PREFIXES = ("charter.", "checkpoint.", "note.", "cosignature.", "proof.", "tlog_proof.")


# --- worlds and their bundles ----------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    """A world, after its run, and the bundle of the run's last confirmation."""

    world: World
    bundle: Bundle

    @property
    def genesis(self) -> bytes:
        return self.world.genesis_hash


def _bundle_of(world: World, subject: EntryRef) -> Bundle:
    """Cosign every log's newest checkpoint, then build the bundle as a node serves it."""
    cosign_latest(world)
    assert world.store is not None
    with world.store.read() as reader:
        # The whole DAG: the tampering reaches back to the mines (bounded bundles: test_verify).
        return build_bundle(reader, NETWORK, subject, depth=None).to_json()


def _encoded(bundle: Bundle) -> bytes:
    return json.dumps(bundle).encode()


class Networks:
    """The honest network, another network, and lying variants of the honest run, each built
    once per module into its own store."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._worlds: list[World] = []
        self.honest = self._scenario("honest")
        self.other = self._scenario("other")
        self._lying: dict[str, Built] = {}

    def _world(self, name: str) -> World:
        world = World(store=self._root / name)
        self._worlds.append(world)
        return world

    def _scenario(self, name: str) -> Built:
        chain = run_scenario(self._world(name))
        # India's final confirmation: the UAE re-export, back through Antwerp to both mines.
        return Built(chain.world, _bundle_of(chain.world, chain.parcels["in_2"].entry))

    def lying(self, lie: Lie) -> Built:
        if lie.name not in self._lying:
            chain = _uae_chain(self._world(f"lie-{lie.name}"), lie)
            self._lying[lie.name] = Built(
                chain.world, _bundle_of(chain.world, chain.parcels["in_2"].entry)
            )
        return self._lying[lie.name]

    def close(self) -> None:
        for world in self._worlds:
            world.close()


@pytest.fixture(scope="module")
def networks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Networks]:
    built = Networks(tmp_path_factory.mktemp("networks"))
    try:
        yield built
    finally:
        built.close()


# --- lying logs ------------------------------------------------------------------------------

Lying = Callable[[], AbstractContextManager[object]]
"""Enters the lie: around one append, the node's own rules let the record through."""


@dataclass(frozen=True)
class Lie:
    """One rule an origin's node breaks while appending one record of the UAE chain.

    Attributes:
        name: what the record claims.
        code: the finding the verifier must report (and the code the node's unpatched rules
            refuse the record with).
        step: the step of ``_STEPS`` the lie replaces.
        patch: the one check of ``node.core.rules`` disabled while the lying record is appended.
        act: does the step, entering ``lying`` around the lying append only.
        carried: later steps whose nodes must accept the lie too for the chain to go on: an
            inflated lot is refused by the next honest importer (decision 0020), so the lie
            travels with it.
    """

    name: str
    code: str
    step: str
    patch: Callable[[pytest.MonkeyPatch], None]
    act: Callable[[World, Chain, Lying], None]
    carried: tuple[str, ...] = ()


def _confirm(world: World, log: str, certificate: EntryRef, parcel: str) -> list[ParcelRef]:
    """Confirm a certificate on arrival: all of its mass, as one new parcel."""
    with world.read_state() as state:
        held = state.certificate(certificate.log, certificate.seq)
    assert held is not None
    return world.confirm(log, certificate, [(parcel, held.centicarats, held.hs_codes[0])])


def _setup(world: World, c: Chain) -> None:
    for log in ("BW", "CA"):
        world.setup_log(log)
    for log in ("EU", "AE", "IN"):
        world.setup_log(log, mine=False)
    c.parcels["bw_run"] = world.produce("BW", 1_250_000, parcel="BW-JW-0001")
    c.parcels["ca_run"] = world.produce("CA", 830_000, parcel="CA-DV-0001")


def _bw_transfer(world: World, c: Chain) -> None:
    world.transfer(c.parcels["bw_run"], "trader", by="mine")


def _ca_transfer(world: World, c: Chain) -> None:
    world.transfer(c.parcels["ca_run"], "trader", by="mine")


def _bw_certificate(world: World, c: Chain) -> None:
    c.steps["bw_cert"] = world.certify("BW", "BW-2026-0001", [c.parcels["bw_run"]], "EU")


def _ca_certificate(world: World, c: Chain) -> None:
    c.steps["ca_cert"] = world.certify("CA", "CA-2026-0001", [c.parcels["ca_run"]], "EU")


def _eu_imports(world: World, c: Chain) -> None:
    [c.parcels["eu_bw"]] = _confirm(world, "EU", c.steps["bw_cert"], "EU-BW-1")
    [c.parcels["eu_ca"]] = _confirm(world, "EU", c.steps["ca_cert"], "EU-CA-1")


def _merge(world: World, c: Chain) -> None:
    [c.parcels["antwerp_mix"]] = world.transform(
        "EU",
        [c.parcels["eu_bw"], c.parcels["eu_ca"]],
        [("ANT-MIX-1", 2_080_000, "7102.10")],
        "merge",
    )


def _sort(world: World, c: Chain, *, to_uae: int = 1_079_000) -> None:
    c.parcels["to_india"], c.parcels["to_uae"] = world.transform(
        "EU",
        [c.parcels["antwerp_mix"]],
        [("ANT-IN-1", 1_000_000, "7102.31"), ("ANT-AE-1", to_uae, "7102.21")],
        "sort",
    )


def _eu_certificate(world: World, c: Chain) -> None:
    c.steps["eu_to_ae"] = world.certify("EU", "EU-2026-0102", [c.parcels["to_uae"]], "AE")


def _ae_import(world: World, c: Chain) -> None:
    [c.parcels["ae_1"]] = _confirm(world, "AE", c.steps["eu_to_ae"], "AE-1")


def _ae_certificate(world: World, c: Chain) -> None:
    c.steps["ae_to_in"] = world.certify("AE", "AE-2026-0007", [c.parcels["ae_1"]], "IN")


def _in_import(world: World, c: Chain) -> None:
    [c.parcels["in_2"]] = _confirm(world, "IN", c.steps["ae_to_in"], "IN-2")


# The UAE branch of run_scenario: (step, days to advance first, what it appends).
_STEPS: tuple[tuple[str, float, Callable[[World, Chain], None]], ...] = (
    ("setup", 0, _setup),
    ("bw_transfer", 0, _bw_transfer),
    ("ca_transfer", 0, _ca_transfer),
    ("bw_certificate", 1, _bw_certificate),
    ("ca_certificate", 0, _ca_certificate),
    ("eu_imports", 2, _eu_imports),
    ("merge", 1, _merge),
    ("sort", 0, _sort),
    ("eu_certificate", 0, _eu_certificate),
    ("ae_import", 3, _ae_import),
    ("ae_certificate", 5, _ae_certificate),
    ("in_import", 2, _in_import),
)


@contextmanager
def _telling(lie: Lie) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        lie.patch(mp)
        yield


def _uae_chain(world: World, lie: Lie, *, told: bool = True, carried: bool = True) -> Chain:
    """The UAE branch with ``lie.step`` replaced by the lie; ``told=False`` leaves the node's
    rules as they are (the node then refuses the lying record), ``carried=False`` leaves the
    nodes of ``lie.carried`` honest."""
    c = Chain(world, {}, {})
    for name, days, step in _STEPS:
        world.advance(days)
        if name == lie.step:
            lie.act(world, c, partial(_telling, lie) if told else nullcontext)
        elif name in lie.carried and carried:
            with _telling(lie):
                step(world, c)
        else:
            step(world, c)
    return c


def _inflated_sort(world: World, c: Chain, lying: Lying) -> None:
    with lying():
        _sort(world, c, to_uae=1_500_000)  # 2,500,000 out of 2,080,000 in


def _false_origin(world: World, c: Chain, lying: Lying) -> None:
    with lying():
        c.steps["bw_cert"] = world.certify(
            "BW", "BW-2026-0001", [c.parcels["bw_run"]], "EU", origins=["BW", "ZA"]
        )


def _signatures_accepted(signer: str, kind: str) -> Callable[..., dict[str, OperatorState]]:
    """A ``_check_signatures`` that takes ``signer`` for an operator of ``kind``, unchecked."""

    def accept(
        state: object, charter: object, entry: Entry, verified: object = ()
    ) -> dict[str, OperatorState]:
        log = entry.signed.log
        fake = OperatorState(
            log=log,
            operator=signer,
            kind=kind,
            roles=tuple(sorted(rules.KIND_ROLES[kind])),
            public_key=bytes(32),
            valid_until="2030-12-31",
            licence="none",
            registered=EntryRef(log, 0, bytes(32)),
        )
        return {signer: fake}

    return accept


def _unregistered_officer(world: World, c: Chain, lying: Lying) -> None:
    world.operator_keys[("CA", "ghost")] = Ed25519PrivateKey.generate()
    with lying():
        c.steps["ca_cert"] = world.certify(
            "CA", "CA-2026-0001", [c.parcels["ca_run"]], "EU", by="ghost"
        )


def _revoked_mine(world: World, c: Chain, lying: Lying) -> None:
    world.append(
        "BW", "operator.revoke", {"operator": "mine", "reason": "licence withdrawn"}, by=LOG_SIGNER
    )
    with lying():
        world.transfer(c.parcels["bw_run"], "trader", by="mine")


def _judged_as_warranted(context: Any, body: ParcelTransfer) -> Any:
    return rules._Context.parcel_transfer(context, dataclasses.replace(body, warranty=True))


def _unwarranted_transfer(world: World, c: Chain, lying: Lying) -> None:
    body = {"parcel": c.parcels["ca_run"].to_value(), "to": "trader", "warranty": False}
    with lying():
        world.append("CA", "parcel.transfer", body, by="mine")


def _live_check_skipped(
    self: Any, refs: tuple[ParcelRef, ...], *, held_by: str
) -> list[ParcelState]:
    """``_Context._live_parcels`` with every check but liveness."""
    parcels = [self._parcel(ref) for ref in refs]
    assert all(ref.log == self.log for ref in refs)
    assert all(p.holder == held_by for p in parcels)
    return parcels


def _double_spend(world: World, c: Chain, lying: Lying) -> None:
    # The merge already consumed EU-BW-1; sort it again into a second parcel and ship both.
    with lying():
        [again] = world.transform(
            "EU", [c.parcels["eu_bw"]], [("EU-BW-1-AGAIN", 1_250_000, "7102.21")], "sort"
        )
    c.steps["eu_to_ae"] = world.certify("EU", "EU-2026-0102", [c.parcels["to_uae"], again], "AE")


LIES = (
    Lie(
        "sort_outweighs_its_input",
        "mass.exceeds_inputs",
        "sort",
        lambda mp: mp.setattr(rules, "PPM", 0),
        _inflated_sort,
        carried=("ae_import", "in_import"),
    ),
    Lie(
        "certificate_declares_a_false_origin",
        "origin.mismatch",
        "bw_certificate",
        lambda mp: mp.setattr(rules, "_union", lambda _origin_sets: ("BW", "ZA")),
        _false_origin,
    ),
    Lie(
        "certificate_signed_by_an_unregistered_officer",
        "operator.unknown",
        "ca_certificate",
        lambda mp: mp.setattr(
            rules, "_check_signatures", _signatures_accepted("ghost", "authority")
        ),
        _unregistered_officer,
    ),
    Lie(
        "transfer_signed_by_a_revoked_mine",
        "operator.revoked",
        "bw_transfer",
        lambda mp: mp.setattr(rules, "_check_signatures", _signatures_accepted("mine", "mine")),
        _revoked_mine,
    ),
    Lie(
        "transfer_without_the_warranty",
        "warranty.not_affirmed",
        "ca_transfer",
        lambda mp: mp.setitem(rules._JUDGES, ParcelTransfer, _judged_as_warranted),
        _unwarranted_transfer,
    ),
    Lie(
        "parcel_spent_twice",
        "parcel.not_live",
        "eu_certificate",
        lambda mp: mp.setattr(rules._Context, "_live_parcels", _live_check_skipped),
        _double_spend,
    ),
)


# --- bundle edits ----------------------------------------------------------------------------


def _entry_of(entry_item: dict[str, Any]) -> Entry:
    return Entry.parse(base64.b64decode(entry_item["entry"]))


def _items(bundle: Bundle, log: str, record_type: str) -> list[dict[str, Any]]:
    """The bundle's entry items of one log and record type, in seq order."""
    found = [
        item
        for item in bundle["entries"]
        if item["log"] == log and _entry_of(item).signed.type == record_type
    ]
    assert found, f"no {record_type} of {log} in the bundle"
    return sorted(found, key=lambda item: item["seq"])


def _without(bundle: Bundle, *gone: dict[str, Any]) -> Bundle:
    bundle["entries"] = [item for item in bundle["entries"] if item not in gone]
    return bundle


def _flipped(data: bytes, at: int = 0) -> bytes:
    changed = bytearray(data)
    changed[at] ^= 0x01
    return bytes(changed)


def _note(bundle: Bundle, log: str) -> notes.SignedNote:
    return notes.parse_note(bundle["checkpoints"][log])


def _set_note(bundle: Bundle, log: str, text: str, lines: list[notes.NoteSignature]) -> Bundle:
    bundle["checkpoints"][log] = notes.SignedNote(text, tuple(lines)).to_text()
    return bundle


def _own_and_cosignatures(
    note: notes.SignedNote,
) -> tuple[list[notes.NoteSignature], list[notes.NoteSignature]]:
    """The log's own signature lines, and the witnesses' cosignature lines."""
    own = [s for s in note.signatures if not s.name.endswith("/witness")]
    cosignatures = [s for s in note.signatures if s.name.endswith("/witness")]
    assert own
    assert len(cosignatures) >= 2
    return own, cosignatures


def flip_a_byte_of_an_entry(b: Bundle, n: Networks) -> Bundle:
    [_, split] = _items(b, "EU", "parcel.transform")
    raw = base64.b64decode(split["entry"])
    split["entry"] = base64.b64encode(_flipped(raw, len(raw) // 2)).decode()
    return b


def give_an_entry_another_entrys_hash(b: Bundle, n: Networks) -> Bundle:
    merge, split = _items(b, "EU", "parcel.transform")
    split["hash"] = merge["hash"]
    return b


def swap_two_entries_proofs(b: Bundle, n: Networks) -> Bundle:
    merge, split = _items(b, "EU", "parcel.transform")
    merge["proof"], split["proof"] = split["proof"], merge["proof"]
    return b


def flip_a_proof_hash(b: Bundle, n: Networks) -> Bundle:
    [_, split] = _items(b, "EU", "parcel.transform")
    proof = notes.TlogProof.parse(split["proof"])
    first, *rest = proof.hashes
    split["proof"] = dataclasses.replace(proof, hashes=(_flipped(first), *rest)).to_text()
    return b


def strip_the_cosignatures(b: Bundle, n: Networks) -> Bundle:
    note = _note(b, "EU")
    own, _ = _own_and_cosignatures(note)
    return _set_note(b, "EU", note.text, own)


def count_one_witness_twice(b: Bundle, n: Networks) -> Bundle:
    note = _note(b, "EU")
    own, [first, *_] = _own_and_cosignatures(note)
    return _set_note(b, "EU", note.text, [*own, first, first])


def cosign_by_the_log_itself(b: Bundle, n: Networks) -> Bundle:
    note = _note(b, "EU")
    own, [first, *_] = _own_and_cosignatures(note)
    _set_note(b, "EU", note.text, [*own, first])
    b["checkpoints"]["EU"] = notes.cosign(
        b["checkpoints"]["EU"],
        f"{NETWORK}/EU/witness",
        n.honest.world.members["EU"].witness_key,
        1_780_000_000,
    )
    return b


def forge_a_cosignature(b: Bundle, n: Networks) -> Bundle:
    note = _note(b, "EU")
    own, [first, *others] = _own_and_cosignatures(note)
    # Keep the witness's name, key ID and timestamp; the signature itself is random.
    forged = notes.NoteSignature(first.name, first.key_id, first.signature[:8] + os.urandom(64))
    return _set_note(b, "EU", note.text, [*own, forged, *others])


def change_a_checkpoints_root(b: Bundle, n: Networks) -> Bundle:
    note = _note(b, "EU")
    checkpoint = notes.Checkpoint.parse(note.text)
    moved = dataclasses.replace(checkpoint, root=_flipped(checkpoint.root))
    return _set_note(b, "EU", moved.to_text(), list(note.signatures))


def swap_two_logs_checkpoints(b: Bundle, n: Networks) -> Bundle:
    checkpoints = b["checkpoints"]
    checkpoints["BW"], checkpoints["CA"] = checkpoints["CA"], checkpoints["BW"]
    return b


def drop_a_logs_checkpoint(b: Bundle, n: Networks) -> Bundle:
    del b["checkpoints"]["CA"]
    return b


def drop_the_confirmed_certificate(b: Bundle, n: Networks) -> Bundle:
    return _without(b, *_items(b, "BW", "certificate.issue"))


def drop_the_middle_transform(b: Bundle, n: Networks) -> Bundle:
    [_, split] = _items(b, "EU", "parcel.transform")
    return _without(b, split)


def drop_the_subject(b: Bundle, n: Networks) -> Bundle:
    return _without(b, *[item for item in b["entries"] if item["hash"] == b["subject"]])


def put_in_another_networks_entry(b: Bundle, n: Networks) -> Bundle:
    [_, ours] = _items(b, "EU", "parcel.transform")
    [_, theirs] = _items(n.other.bundle, "EU", "parcel.transform")
    assert (theirs["log"], theirs["seq"]) == (ours["log"], ours["seq"])
    b["entries"] = [copy.deepcopy(theirs) if item is ours else item for item in b["entries"]]
    return b


def lead_a_proof_to_another_checkpoint(b: Bundle, n: Networks) -> Bundle:
    """The inclusion proof still checks against the bundle's checkpoint, but the tlog-proof,
    taken out of the bundle, would claim another one (here: the other network's)."""
    [_, ours] = _items(b, "EU", "parcel.transform")
    [_, theirs] = _items(n.other.bundle, "EU", "parcel.transform")
    head = ours["proof"].partition("\n\n")[0]
    ours["proof"] = head + "\n\n" + theirs["proof"].partition("\n\n")[2]
    return b


def remove_a_genesis_signature(b: Bundle, n: Networks) -> Bundle:
    genesis = SignedCharter.parse(base64.b64decode(b["charters"][0]))
    fewer = SignedCharter(genesis.charter, genesis.signatures[1:])
    b["charters"][0] = base64.b64encode(fewer.encode()).decode()
    return b


def append_a_successor_signed_by_one(b: Bundle, n: Networks) -> Bundle:
    world = n.honest.world
    successor = world.sign(make_successor(world.genesis.charter), ["BW"])
    b["charters"].append(base64.b64encode(successor.encode()).decode())
    return b


def break_the_json(b: Bundle, n: Networks) -> bytes:
    return _encoded(b)[:-1]


def change_the_media_type(b: Bundle, n: Networks) -> Bundle:
    b["media_type"] = "application/json"
    return b


# --- the table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tampered:
    """A bundle to verify, and the genesis hash the verifier trusts."""

    bundle: bytes
    genesis: bytes


@dataclass(frozen=True)
class Tampering:
    name: str
    code: str
    tamper: Callable[[Networks], Tampered]


def _edit(edit: Callable[[Bundle, Networks], Bundle | bytes]) -> Callable[[Networks], Tampered]:
    def tamper(n: Networks) -> Tampered:
        edited = edit(copy.deepcopy(n.honest.bundle), n)
        encoded = edited if isinstance(edited, bytes) else _encoded(edited)
        return Tampered(encoded, n.honest.genesis)

    return tamper


def _other_genesis(n: Networks) -> Tampered:
    return Tampered(_encoded(n.honest.bundle), n.other.genesis)


def _told(lie: Lie) -> Callable[[Networks], Tampered]:
    def tamper(n: Networks) -> Tampered:
        built = n.lying(lie)
        return Tampered(_encoded(built.bundle), built.genesis)

    return tamper


TAMPERINGS = (
    # The bundle lies; the logs did not.
    Tampering("entry_byte_flipped", "entry.hash_mismatch", _edit(flip_a_byte_of_an_entry)),
    Tampering(
        "entry_hash_of_another_entry",
        "entry.hash_mismatch",
        _edit(give_an_entry_another_entrys_hash),
    ),
    Tampering("proofs_of_two_entries_swapped", "proof.invalid", _edit(swap_two_entries_proofs)),
    Tampering("proof_hash_flipped", "proof.root_mismatch", _edit(flip_a_proof_hash)),
    Tampering("cosignatures_stripped", "checkpoint.not_witnessed", _edit(strip_the_cosignatures)),
    Tampering(
        "one_witness_counted_twice", "checkpoint.not_witnessed", _edit(count_one_witness_twice)
    ),
    Tampering(
        "log_cosigns_its_own_checkpoint",
        "checkpoint.not_witnessed",
        _edit(cosign_by_the_log_itself),
    ),
    Tampering("cosignature_forged", "cosignature.invalid", _edit(forge_a_cosignature)),
    Tampering("checkpoint_root_changed", "note.bad_signature", _edit(change_a_checkpoints_root)),
    Tampering(
        "checkpoints_of_two_logs_swapped",
        "note.no_verified_signature",
        _edit(swap_two_logs_checkpoints),
    ),
    Tampering("checkpoint_of_a_log_missing", "proof.no_checkpoint", _edit(drop_a_logs_checkpoint)),
    Tampering(
        "confirmed_certificate_missing", "bundle.incomplete", _edit(drop_the_confirmed_certificate)
    ),
    Tampering("middle_transform_missing", "bundle.incomplete", _edit(drop_the_middle_transform)),
    Tampering("subject_missing", "bundle.no_subject", _edit(drop_the_subject)),
    Tampering(
        "entry_of_another_network", "proof.root_mismatch", _edit(put_in_another_networks_entry)
    ),
    Tampering(
        "proof_leading_to_another_checkpoint",
        "proof.invalid",
        _edit(lead_a_proof_to_another_checkpoint),
    ),
    Tampering("checked_against_another_genesis", "bundle.wrong_network", _other_genesis),
    Tampering("genesis_signature_removed", "charter.unsigned", _edit(remove_a_genesis_signature)),
    Tampering(
        "successor_charter_below_threshold",
        "charter.threshold_not_met",
        _edit(append_a_successor_signed_by_one),
    ),
    Tampering("not_json", "bundle.malformed", _edit(break_the_json)),
    Tampering("wrong_media_type", "bundle.malformed", _edit(change_the_media_type)),
    # The logs lie; the bundle faithfully carries the lie.
    *(Tampering(lie.name, lie.code, _told(lie)) for lie in LIES),
)


def _codes(verdict: Verdict) -> set[str]:
    return {finding.code for finding in verdict.findings}


def test_the_untampered_bundle_is_valid(networks: Networks) -> None:
    verdict = check_bundle(_encoded(networks.honest.bundle), networks.honest.genesis)
    assert verdict.status == "VALID", verdict.findings
    assert verdict.origins == ("BW", "CA")


@pytest.mark.parametrize("tampering", TAMPERINGS, ids=lambda t: t.name)
def test_a_tampered_bundle_is_invalid_with_the_finding_that_names_it(
    networks: Networks, tampering: Tampering
) -> None:
    tampered = tampering.tamper(networks)
    honest = (_encoded(networks.honest.bundle), networks.honest.genesis)
    assert (tampered.bundle, tampered.genesis) != honest, "the tampering changed nothing"
    verdict = check_bundle(tampered.bundle, tampered.genesis)
    assert verdict.status == "INVALID"
    assert tampering.code in _codes(verdict), verdict.findings


@pytest.mark.parametrize("lie", LIES, ids=lambda lie: lie.name)
def test_a_lying_logs_bundle_is_otherwise_well_formed(networks: Networks, lie: Lie) -> None:
    built = networks.lying(lie)
    verdict = check_bundle(_encoded(built.bundle), built.genesis)
    # Checkpoints witnessed and every proof verified: the first finding is the rule the log
    # broke; the rest are what follows from it in the replay (rules, never form).
    assert verdict.findings, "the lie went unnoticed"
    assert verdict.findings[0].code == lie.code, verdict.findings
    for finding in verdict.findings:
        assert not finding.code.startswith(_FORM_CODES + _FORM_PREFIXES), finding
    assert verdict.chain
    assert all(step.witnesses >= 2 for step in verdict.chain)


@pytest.mark.parametrize("lie", LIES, ids=lambda lie: lie.name)
def test_an_honest_node_refuses_each_lie_with_the_same_code(tmp_path: Path, lie: Lie) -> None:
    world = World(store=tmp_path / "store")
    try:
        with pytest.raises(RuleError) as refused:
            _uae_chain(world, lie, told=False)
    finally:
        world.close()
    assert refused.value.code == lie.code


def test_an_inflated_lot_is_refused_at_the_next_honest_import(tmp_path: Path) -> None:
    # Its own log let the sort gain 20 %; the UAE, honest, sees the lineage's mass behind the
    # certificate and refuses to confirm more than that (decision 0020).
    [lie] = [lie for lie in LIES if lie.carried]
    world = World(store=tmp_path / "store")
    try:
        with pytest.raises(RuleError) as refused:
            _uae_chain(world, lie, carried=False)
    finally:
        world.close()
    assert refused.value.code == "mass.exceeds_inputs"
    # The UAE's confirmation of the whole inflated lot, not the lying sort itself.
    assert refused.value.message.startswith("received 1500000 ct/100")


def test_verify_bundle_raises_with_the_first_findings_code(networks: Networks) -> None:
    tampered = _edit(strip_the_cosignatures)(networks)
    verdict = check_bundle(tampered.bundle, tampered.genesis)
    assert verdict.findings
    with pytest.raises(VerificationError) as raised:
        verify_bundle(tampered.bundle, tampered.genesis)
    assert raised.value.code == verdict.findings[0].code == "checkpoint.not_witnessed"


@pytest.mark.parametrize(
    ("case", "status"),
    [("untampered", "VALID"), ("cosignatures_stripped", "INVALID")],
    ids=["valid", "invalid"],
)
def test_a_verdict_round_trips_through_json(networks: Networks, case: str, status: str) -> None:
    bundle = networks.honest.bundle
    if case == "cosignatures_stripped":
        bundle = strip_the_cosignatures(copy.deepcopy(bundle), networks)
    document = check_bundle(_encoded(bundle), networks.honest.genesis).to_json()
    # Equal after the round trip only if to_json() holds nothing but JSON types (no tuples).
    assert json.loads(json.dumps(document)) == document
    assert document["status"] == status
    assert document["chain"] if status == "VALID" else document["findings"]
