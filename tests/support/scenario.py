"""The README's chain of custody (``node.dev.scenario.chain_of_custody``), appended in-process to
one ``World`` (memory or LMDB) through the real rules.

Unit tests of the rules, verification, audit and statistics share it; ``kp-node devnet scenario``
tells the same story to a live network over HTTP. Here days pass between the acts as
``chain_of_custody`` says, on the world's clock: production on 2026-03-02, India's last
confirmation fourteen days later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from node.core.records import EntryRef, ParcelOutput, ParcelRef
from node.dev.scenario import MEMBERS, Certificate, chain_of_custody
from tests.support.world import World

__all__ = ["Chain", "WorldCustody", "run_scenario"]

MINES = ("BW", "CA")


@dataclass
class Chain:
    """The world the story ran in, and what it appended (``node.dev.scenario.Scenario``)."""

    world: World
    steps: dict[str, EntryRef]
    parcels: dict[str, ParcelRef]


class WorldCustody:
    """``Custody`` on a ``World``: each act one ``World`` record by the operator
    ``setup_log`` registered."""

    def __init__(self, world: World) -> None:
        self.world = world

    def produce(self, member: str, lot: ParcelOutput) -> list[ParcelRef]:
        return [self.world.produce(member, lot.centicarats, parcel=lot.parcel, hs_code=lot.hs_code)]

    def transfer(self, parcel: ParcelRef, to: str, *, invoice: str) -> EntryRef:
        return self.world.transfer(parcel, to, by="mine", sealed_values={"invoice": invoice})

    def transform(
        self, member: str, kind: str, inputs: Sequence[ParcelRef], outputs: Sequence[ParcelOutput]
    ) -> list[ParcelRef]:
        return self.world.transform(member, list(inputs), _tuples(outputs), kind)

    def certify(
        self, member: str, certificate: Certificate, parcels: Sequence[ParcelRef]
    ) -> EntryRef:
        c = certificate
        return self.world.certify(
            member,
            c.number,
            list(parcels),
            c.importing,
            exporter=c.exporter,
            days=c.valid_days,
            sealed_values={
                "value_usd_cents": c.value_usd_cents,
                "exporter_name": c.exporter_name,
                "importer_name": c.importer_name,
                "seal_number": c.seal_number,
            },
            # As the story states them; the rules check them against the parcels.
            centicarats=c.centicarats,
            hs_codes=list(c.hs_codes),
            origins=list(c.origins),
        )

    def confirm(
        self, member: str, certificate: EntryRef, received: Sequence[ParcelOutput], *, holder: str
    ) -> list[ParcelRef]:
        return self.world.confirm(member, certificate, _tuples(received), holder=holder)

    def pass_days(self, days: int) -> None:
        self.world.advance(days)


def _tuples(lots: Sequence[ParcelOutput]) -> list[tuple[str, int, str]]:
    return [(lot.parcel, lot.centicarats, lot.hs_code) for lot in lots]


def run_scenario(world: World) -> Chain:
    """Set up every member's log (a mine at Botswana's and Canada's) and tell the story."""
    for log in MEMBERS:
        world.setup_log(log, mine=log in MINES)
    told = chain_of_custody(WorldCustody(world))
    return Chain(world, told.steps, told.parcels)
