"""Hypothesis: random trade histories never create diamonds, and never spend a parcel twice.

Histories of production, transfers, splits and merges, certificates, confirmations, rejections
and voids are drawn step by step from the state the ledger is in (so most steps are valid), with
hostile steps mixed in (spending consumed parcels, confirming twice, inflating a split). Whatever
happens, at every step:

* total live centicarats never exceed total produced (with the charter's tolerance at zero);
* every parcel a record consumes was created by exactly the entry its reference names, and no
  parcel is consumed by two entries.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from node.encoding import decode
from node.errors import RuleError
from node.records import (
    CertificateConfirm,
    CertificateIssue,
    CertificateVoid,
    Entry,
    EntryRef,
    ParcelProduce,
    ParcelRef,
    ParcelTransform,
)
from node.state import ParcelState
from tests.support.world import DEFAULT_POLICY, World

PRODUCERS = ("BW", "CA")
IMPORTERS = ("EU", "AE")
EXACT = replace(DEFAULT_POLICY, mass_tolerance_ppm=0)


def _build_world() -> World:
    world = World(("BW", "CA", "EU", "AE"), policy=EXACT)
    for log in PRODUCERS:
        world.setup_log(log)
    for log in IMPORTERS:
        world.setup_log(log, mine=False)
    return world


def _parcels(world: World) -> list[ParcelState]:
    found = []
    for key in world.kv.tables["parcels"]:
        log, seq, out = decode(key, max_size=1024)  # type: ignore[misc]
        state = world.state.parcel(log, seq, out)  # type: ignore[arg-type]
        assert state is not None
        found.append(state)
    return found


def _entries(world: World) -> list[Entry]:
    return [Entry.parse(raw) for log in sorted(world.kv.logs) for raw in world.kv.logs[log]]


def _check_invariants(world: World) -> None:
    entries = _entries(world)
    produced = sum(
        e.signed.body.centicarats for e in entries if isinstance(e.signed.body, ParcelProduce)
    )
    live = sum(p.centicarats for p in _parcels(world) if p.live)
    assert live <= produced, f"{live} live centicarats from {produced} produced"

    outputs: dict[tuple[str, int], tuple[bytes, int]] = {}
    for log in world.kv.logs:
        for seq, raw in enumerate(world.kv.logs[log]):
            entry = Entry.parse(raw)
            outputs[(log, seq)] = (entry.leaf_hash, _created(world, entry))
    consumers: dict[ParcelRef, int] = {}
    for entry in entries:
        body = entry.signed.body
        consumed = (
            body.inputs
            if isinstance(body, ParcelTransform)
            else body.parcels
            if isinstance(body, CertificateIssue)
            else ()
        )
        for ref in consumed:
            creator_hash, created = outputs[(ref.log, ref.seq)]
            assert creator_hash == ref.hash, f"{ref} names no creator"
            assert ref.out < created, f"{ref} names no output of its creator"
            consumers[ref] = consumers.get(ref, 0) + 1
    assert all(n == 1 for n in consumers.values()), "a parcel was consumed twice"


def _created(world: World, entry: Entry) -> int:
    """How many parcels an entry creates."""
    body = entry.signed.body
    if isinstance(body, ParcelProduce):
        return 1
    if isinstance(body, ParcelTransform):
        return len(body.outputs)
    if isinstance(body, CertificateConfirm):
        return len(body.parcels)
    if isinstance(body, CertificateVoid):  # releases the certificate's parcels anew
        certificate = Entry.parse(world.kv.logs[body.certificate.log][body.certificate.seq])
        assert isinstance(certificate.signed.body, CertificateIssue)
        return len(certificate.signed.body.parcels)
    return 0


class _History:
    """Draws each next step from what the ledger holds now."""

    def __init__(self, world: World, data: st.DataObject) -> None:
        self.world = world
        self.data = data
        self.certificates: list[tuple[EntryRef, str]] = []  # (certificate, importer)
        self.numbers = 0

    def draw(self, strategy: st.SearchStrategy[object], label: str) -> object:
        return self.data.draw(strategy, label=label)

    def live(self, log: str) -> list[ParcelState]:
        return [p for p in _parcels(self.world) if p.live and p.ref.log == log]

    def step(self) -> str:
        action = self.draw(
            st.sampled_from(
                [
                    "produce",
                    "transfer",
                    "transform",
                    "certify",
                    "confirm",
                    "reject",
                    "void",
                    "advance",
                    "respend",
                    "inflate",
                ]
            ),
            "action",
        )
        getattr(self, f"do_{action}")()
        return str(action)

    def do_produce(self) -> None:
        log = self.draw(st.sampled_from(PRODUCERS), "log")
        cct = self.draw(st.integers(1, 5_000_000), "centicarats")
        self.world.produce(str(log), int(cct), parcel=f"{log}-{self.numbers}")  # type: ignore[call-overload]
        self.numbers += 1

    def _some_live(self) -> ParcelState | None:
        log = self.draw(st.sampled_from(PRODUCERS + IMPORTERS), "log")
        parcels = self.live(str(log))
        if not parcels:
            return None
        return parcels[int(self.draw(st.integers(0, len(parcels) - 1), "parcel"))]  # type: ignore[call-overload]

    def do_transfer(self) -> None:
        parcel = self._some_live()
        if parcel is None:
            return
        to = "trader" if parcel.holder != "trader" else "officer"
        self.world.transfer(parcel.ref, to, by=parcel.holder)

    def do_transform(self) -> None:
        parcel = self._some_live()
        if parcel is None:
            return
        same = [p for p in self.live(parcel.ref.log) if p.holder == parcel.holder]
        inputs = same[: int(self.draw(st.integers(1, min(3, len(same))), "inputs"))]  # type: ignore[call-overload]
        total = sum(p.centicarats for p in inputs)
        pieces = int(self.draw(st.integers(1, 3), "outputs"))  # type: ignore[call-overload]
        if total < pieces:
            return
        loss = int(self.draw(st.integers(0, total - pieces), "loss"))  # type: ignore[call-overload]
        share = (total - loss) // pieces
        masses = [share] * (pieces - 1) + [total - loss - share * (pieces - 1)]
        kind = "split" if len(inputs) == 1 else "merge" if pieces == 1 else "sort"
        self.world.transform(
            parcel.ref.log,
            [p.ref for p in inputs],
            [(f"T-{self.numbers}-{i}", m, "7102.10") for i, m in enumerate(masses)],
            kind,
            by=parcel.holder,
        )
        self.numbers += 1

    def do_certify(self) -> None:
        held = [p for p in _parcels(self.world) if p.live and p.holder == "trader"]
        if not held:
            return
        parcel = held[int(self.draw(st.integers(0, len(held) - 1), "parcel"))]  # type: ignore[call-overload]
        importers = [i for i in PRODUCERS + IMPORTERS if i != parcel.ref.log]
        importing = str(self.draw(st.sampled_from(importers), "importing"))
        number = f"{parcel.ref.log}-{self.numbers}"
        self.numbers += 1
        ref = self.world.certify(parcel.ref.log, number, [parcel.ref], importing)
        self.certificates.append((ref, importing))

    def _some_certificate(self) -> tuple[EntryRef, str] | None:
        if not self.certificates:
            return None
        index = int(self.draw(st.integers(0, len(self.certificates) - 1), "certificate"))  # type: ignore[call-overload]
        return self.certificates[index]

    def do_confirm(self) -> None:
        chosen = self._some_certificate()
        if chosen is None:
            return
        ref, importer = chosen
        cert = self.world.state.certificate(ref.log, ref.seq)
        assert cert is not None
        self.world.confirm(importer, ref, [(f"IMP-{self.numbers}", cert.centicarats, "7102.10")])
        self.numbers += 1

    def do_reject(self) -> None:
        chosen = self._some_certificate()
        if chosen is None:
            return
        ref, importer = chosen
        self.world.append(
            importer,
            "certificate.reject",
            {"certificate": ref.to_value(), "reason": "seal"},
            by="officer",
        )

    def do_void(self) -> None:
        chosen = self._some_certificate()
        if chosen is None:
            return
        ref, importer = chosen
        cert = self.world.state.certificate(ref.log, ref.seq)
        assert cert is not None
        if cert.outcome_ref is not None:
            evidence = cert.outcome_ref
        else:
            size = self.world.state.log_size(importer)
            raw = self.world.kv.logs[importer][size - 1]
            evidence = EntryRef(importer, size - 1, Entry.parse(raw).leaf_hash)
        self.world.append(
            ref.log,
            "certificate.void",
            {"certificate": ref.to_value(), "reason": "returned", "evidence": evidence.to_value()},
            by="officer",
        )

    def do_advance(self) -> None:
        self.world.advance(int(self.draw(st.integers(1, 40), "days")))  # type: ignore[call-overload]
        # Something in every log, so that voids by expiry have evidence to point to.
        for log in IMPORTERS:
            self.world.register(log, f"clerk{self.numbers}", "trader")
        self.numbers += 1

    def do_respend(self) -> None:
        consumed = [p for p in _parcels(self.world) if not p.live and p.holder == "trader"]
        if not consumed:
            return
        parcel = consumed[0]
        self.world.transform(
            parcel.ref.log,
            [parcel.ref],
            [(f"R-{self.numbers}", parcel.centicarats, "7102.10")],
            "split",
            by=parcel.holder,
        )

    def do_inflate(self) -> None:
        parcel = self._some_live()
        if parcel is None:
            return
        self.world.transform(
            parcel.ref.log,
            [parcel.ref],
            [(f"I-{self.numbers}", parcel.centicarats + 1, "7102.10")],
            "split",
            by=parcel.holder,
        )


@given(data=st.data())
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_histories_conserve_mass_and_spend_once(data: st.DataObject) -> None:
    world = _build_world()
    history = _History(world, data)
    steps = int(data.draw(st.integers(5, 60), label="steps"))
    for _ in range(steps):
        before = {log: len(entries) for log, entries in world.kv.logs.items()}
        try:
            action = history.step()
            if {log: len(e) for log, e in world.kv.logs.items()} != before:
                event(f"appended {action}")
        except RuleError as refusal:
            event(f"refused {refusal.code}")
            # A refused record leaves no trace in any log.
            assert {log: len(e) for log, e in world.kv.logs.items()} == before
        _check_invariants(world)
