"""Hypothesis: random trade histories never create diamonds, and never spend a parcel twice.

Histories of production, transfers, splits, merges and sorts, certificates, confirmations,
rejections and voids are drawn step by step from the state the ledger is in (so most steps are
valid), with hostile steps mixed in (spending consumed parcels, confirming twice, inflating a
split, reweighing up to the tolerance again and again, relabelling sorted goods, producing under
a live parcel id). Under a charter with no tolerance and under one with the default tolerance,
whatever happens, at every step:

* total live centicarats never exceed total produced × (1 + tolerance);
* no parcel ever weighs more than the mines weighed for its lineage × (1 + tolerance), the
  lineage traced back through the entries themselves (transforms, certificates, confirmations,
  voids) to the productions (decision 0020);
* every parcel a record consumes was created by exactly the entry its reference names, and no
  parcel is consumed by two entries;
* two live parcels of a log share an id only when a void released one of them (decision 0022).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from node.core.charter import Policy
from node.core.encoding import decode
from node.core.errors import RuleError
from node.core.records import (
    HS_CODES,
    CertificateConfirm,
    CertificateIssue,
    CertificateVoid,
    Entry,
    EntryRef,
    ParcelProduce,
    ParcelRef,
    ParcelTransform,
)
from node.core.rules import PPM, UNSORTED
from node.core.state import ParcelState
from tests.support.world import DEFAULT_POLICY, World

PRODUCERS = ("BW", "CA")
IMPORTERS = ("EU", "AE")
EXACT = replace(DEFAULT_POLICY, mass_tolerance_ppm=0)
SORTED = tuple(sorted(HS_CODES - {UNSORTED}))


def _build_world(policy: Policy) -> World:
    world = World(("BW", "CA", "EU", "AE"), policy=policy)
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


def _check_invariants(world: World, tolerance_ppm: int) -> None:
    entries = _entries(world)
    produced = sum(
        e.signed.body.centicarats for e in entries if isinstance(e.signed.body, ParcelProduce)
    )
    parcels = _parcels(world)
    live = sum(p.centicarats for p in parcels if p.live)
    assert live * PPM <= produced * (PPM + tolerance_ppm), (
        f"{live} live centicarats from {produced} produced"
    )
    lineage = _Lineage(world)
    for parcel in parcels:
        mined = lineage.mined(parcel.ref)
        assert parcel.centicarats * PPM <= mined * (PPM + tolerance_ppm), (
            f"{parcel.parcel} weighs {parcel.centicarats}, its lineage was mined at {mined}"
        )
    named: dict[tuple[str, str], list[ParcelState]] = {}
    for parcel in parcels:
        if parcel.live:
            named.setdefault((parcel.ref.log, parcel.parcel), []).append(parcel)
    for (log, name), same in named.items():
        released = [
            p for p in same if isinstance(_entry_at(world, p.ref).signed.body, CertificateVoid)
        ]
        assert len(same) - len(released) <= 1, f"{len(same)} live parcels named {log}:{name}"

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


def _entry_at(world: World, ref: ParcelRef | EntryRef) -> Entry:
    return Entry.parse(world.kv.logs[ref.log][ref.seq])


class _Lineage:
    """The productions behind each parcel, traced through the entries alone (not the state)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.roots: dict[ParcelRef, frozenset[ParcelRef]] = {}

    def mined(self, ref: ParcelRef) -> int:
        total = 0
        for root in self._roots(ref):
            body = _entry_at(self.world, root).signed.body
            assert isinstance(body, ParcelProduce)
            total += body.centicarats
        return total

    def _roots(self, ref: ParcelRef) -> frozenset[ParcelRef]:
        if ref not in self.roots:
            body = _entry_at(self.world, ref).signed.body
            if isinstance(body, ParcelProduce):
                found = frozenset({ref})
            elif isinstance(body, ParcelTransform):
                found = self._union(body.inputs)
            elif isinstance(body, CertificateConfirm):
                certificate = _entry_at(self.world, body.certificate).signed.body
                assert isinstance(certificate, CertificateIssue)
                found = self._union(certificate.parcels)
            else:
                assert isinstance(body, CertificateVoid)
                certificate = _entry_at(self.world, body.certificate).signed.body
                assert isinstance(certificate, CertificateIssue)
                found = self._roots(certificate.parcels[ref.out])
            self.roots[ref] = found
        return self.roots[ref]

    def _union(self, refs: tuple[ParcelRef, ...]) -> frozenset[ParcelRef]:
        return frozenset().union(*(self._roots(r) for r in refs))


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

    def __init__(self, world: World, data: st.DataObject, tolerance_ppm: int) -> None:
        self.world = world
        self.data = data
        self.tolerance_ppm = tolerance_ppm
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
                    "creep",
                    "relabel",
                    "reuse_id",
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
        same = [
            p
            for p in self.live(parcel.ref.log)
            if p.holder == parcel.holder and p.hs_code == parcel.hs_code
        ]
        inputs = same[: int(self.draw(st.integers(1, min(3, len(same))), "inputs"))]  # type: ignore[call-overload]
        total = sum(p.centicarats for p in inputs)
        pieces = int(self.draw(st.integers(1, 3), "outputs"))  # type: ignore[call-overload]
        if total < pieces:
            return
        loss = int(self.draw(st.integers(0, total - pieces), "loss"))  # type: ignore[call-overload]
        share = (total - loss) // pieces
        masses = [share] * (pieces - 1) + [total - loss - share * (pieces - 1)]
        kind = str(
            self.draw(st.sampled_from(["split", "sort"]), "kind")
            if len(inputs) == 1
            else "merge"
            if pieces == 1
            else "sort"
        )
        # Only a sort of unsorted rough classifies it (decision 0021).
        codes = (*SORTED, UNSORTED) if kind == "sort" and parcel.hs_code == UNSORTED else ()
        self.world.transform(
            parcel.ref.log,
            [p.ref for p in inputs],
            [
                (f"T-{self.numbers}-{i}", m, str(self.draw(st.sampled_from(codes), "hs_code")))
                if codes
                else (f"T-{self.numbers}-{i}", m, parcel.hs_code)
                for i, m in enumerate(masses)
            ],
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
        self.world.confirm(
            importer, ref, [(f"IMP-{self.numbers}", cert.centicarats, cert.hs_codes[0])]
        )
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
            [(f"R-{self.numbers}", parcel.centicarats, parcel.hs_code)],
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
            [(f"I-{self.numbers}", parcel.centicarats + 1, parcel.hs_code)],
            "split",
            by=parcel.holder,
        )

    def do_creep(self) -> None:
        """Reweigh a parcel up by the whole tolerance of that one step (and a centicarat more,
        sometimes): harmless once, a way to make diamonds if it compounded."""
        parcel = self._some_live()
        if parcel is None:
            return
        extra = int(self.draw(st.integers(0, 1), "extra"))  # type: ignore[call-overload]
        gained = parcel.centicarats + parcel.centicarats * self.tolerance_ppm // PPM + extra
        self.world.transform(
            parcel.ref.log,
            [parcel.ref],
            [(f"C-{self.numbers}", gained, parcel.hs_code)],
            "sort",
            by=parcel.holder,
        )
        self.numbers += 1

    def do_relabel(self) -> None:
        """Turn sorted goods into another class: always refused."""
        parcel = self._some_live()
        if parcel is None or parcel.hs_code == UNSORTED:
            return
        other = next(code for code in sorted(HS_CODES) if code != parcel.hs_code)
        kind = str(self.draw(st.sampled_from(["split", "sort"]), "kind"))
        with pytest.raises(RuleError) as refused:
            self.world.transform(
                parcel.ref.log,
                [parcel.ref],
                [(f"L-{self.numbers}", parcel.centicarats, other)],
                kind,
                by=parcel.holder,
            )
        assert refused.value.code == "hs_code.transition"

    def do_reuse_id(self) -> None:
        """Produce under the id of a live parcel: always refused."""
        parcel = self._some_live()
        if parcel is None or parcel.ref.log not in PRODUCERS:
            return
        with pytest.raises(RuleError) as refused:
            self.world.produce(parcel.ref.log, 1, parcel=parcel.parcel)
        assert refused.value.code == "parcel.id_in_use"


@pytest.mark.parametrize("policy", [EXACT, DEFAULT_POLICY], ids=["exact", "tolerant"])
@given(data=st.data())
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_histories_conserve_mass_and_spend_once(policy: Policy, data: st.DataObject) -> None:
    world = _build_world(policy)
    history = _History(world, data, policy.mass_tolerance_ppm)
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
        _check_invariants(world, policy.mass_tolerance_ppm)
