"""A pooling trading hub in a ``World`` (issue 15, decision 0039): every round the hub imports
one parcel, merges it into its stock, splits one export off the pool and certifies it on.

The EU is the hub. It first imports one parcel from Botswana, its stock. Then each round a
supplier (BW, CA, IN, AE in turn) produces 10 ct and certifies it to the EU, which confirms; the
EU merges its stock with the import, splits the pool into the stock and an export of 10 ct, and
certifies the export to the next supplier, which confirms. Every export's full provenance holds
the hub's whole history; its bounded provenance does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from node.core.records import EntryRef, ParcelRef
from tests.support.world import World

SUPPLIERS = ("BW", "CA", "IN", "AE")
HUB = "EU"
MASS = 1_000  # 10 ct


@dataclass
class Export:
    """One round's export: its certificate, the split that made its parcel, and the
    confirmation by the supplier it went to."""

    split: EntryRef
    parcel: ParcelRef
    certificate: EntryRef
    confirmation: EntryRef


@dataclass
class Hub:
    world: World
    stock: ParcelRef
    rounds: int = 0
    numbers: dict[str, int] = field(default_factory=dict)
    exports: list[Export] = field(default_factory=list)
    merges: list[EntryRef] = field(default_factory=list)
    imports: list[EntryRef] = field(default_factory=list)  # the EU's confirmations

    @classmethod
    def start(cls, world: World) -> Hub:
        for log in SUPPLIERS:
            world.setup_log(log)
        world.setup_log(HUB, mine=False)
        hub = cls(world, stock=ParcelRef("", 0, b"", 0))
        hub.stock = hub._import("BW", "EU-STOCK-0")
        return hub

    def _number(self, log: str) -> str:
        self.numbers[log] = self.numbers.get(log, 0) + 1
        return f"{log}-2026-{self.numbers[log]:05}"

    def _import(self, supplier: str, name: str) -> ParcelRef:
        world = self.world
        produced = world.produce(supplier, MASS, holder="trader")
        certificate = world.certify(supplier, self._number(supplier), [produced], HUB)
        [parcel] = world.confirm(HUB, certificate, [(name, MASS, "7102.10")])
        self.imports.append(parcel.entry)
        return parcel

    def round(self) -> Export:
        """One round: import, merge, split off one export, certify it on, confirmed there."""
        world, n = self.world, self.rounds + 1
        supplier = SUPPLIERS[self.rounds % len(SUPPLIERS)]
        customer = SUPPLIERS[(self.rounds + 1) % len(SUPPLIERS)]
        imported = self._import(supplier, f"EU-IMP-{n}")
        pooled = world.parcel_state(self.stock).centicarats + MASS
        [pool] = world.transform(
            HUB, [self.stock, imported], [(f"EU-POOL-{n}", pooled, "7102.10")], "merge"
        )
        self.merges.append(pool.entry)
        stock, export = world.transform(
            HUB,
            [pool],
            [(f"EU-STOCK-{n}", pooled - MASS, "7102.10"), (f"EU-EXP-{n}", MASS, "7102.10")],
            "split",
        )
        certificate = world.certify(HUB, self._number(HUB), [export], customer)
        [received] = world.confirm(
            customer, certificate, [(f"{customer}-FROM-EU-{n}", MASS, "7102.10")]
        )
        self.stock = stock
        self.rounds = n
        made = Export(export.entry, export, certificate, received.entry)
        self.exports.append(made)
        return made

    def run_to(self, rounds: int) -> Export:
        while self.rounds < rounds:
            self.round()
        return self.exports[-1]
