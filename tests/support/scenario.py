"""The README's chain of custody, run through the real rules on one ``World`` (memory or LMDB).

Mines in Botswana and Canada produce; Botswana and Canada certify to the EU; the EU confirms; an
Antwerp trader merges both imports (unsorted rough, 7102.10) and sorts the result into gem-quality
and industrial goods; the EU certifies part to India and part to the UAE; both confirm; the UAE
re-exports to India, which confirms. Unit tests of the rules, verification, audit and statistics
share it; ``node/dev/scenario.py`` runs the same story against a live network over HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.core.records import EntryRef, ParcelRef
from tests.support.world import World

__all__ = ["Chain", "run_scenario"]


@dataclass
class Chain:
    world: World
    steps: dict[str, EntryRef]
    parcels: dict[str, ParcelRef]


def run_scenario(world: World) -> Chain:
    steps: dict[str, EntryRef] = {}
    parcels: dict[str, ParcelRef] = {}
    for log in ("BW", "CA"):
        world.setup_log(log)
    for log in ("EU", "AE", "IN"):
        world.setup_log(log, mine=False)

    parcels["bw_run"] = world.produce("BW", 1_250_000, parcel="BW-JW-0001")  # 12,500 ct
    parcels["ca_run"] = world.produce("CA", 830_000, parcel="CA-DV-0001")
    for key in ("bw_run", "ca_run"):
        world.transfer(parcels[key], "trader", by="mine")
    world.advance(1)
    steps["bw_cert"] = world.certify("BW", "BW-2026-0001", [parcels["bw_run"]], "EU")
    steps["ca_cert"] = world.certify("CA", "CA-2026-0001", [parcels["ca_run"]], "EU")
    world.advance(2)
    [parcels["eu_bw"]] = world.confirm("EU", steps["bw_cert"], [("EU-BW-1", 1_250_000, "7102.10")])
    [parcels["eu_ca"]] = world.confirm("EU", steps["ca_cert"], [("EU-CA-1", 830_000, "7102.10")])
    world.advance(1)
    [parcels["antwerp_mix"]] = world.transform(
        "EU", [parcels["eu_bw"], parcels["eu_ca"]], [("ANT-MIX-1", 2_080_000, "7102.10")], "merge"
    )
    parcels["to_india"], parcels["to_uae"] = world.transform(
        "EU",
        [parcels["antwerp_mix"]],
        [("ANT-IN-1", 1_000_000, "7102.31"), ("ANT-AE-1", 1_079_000, "7102.21")],
        "sort",
    )
    steps["eu_to_in"] = world.certify("EU", "EU-2026-0101", [parcels["to_india"]], "IN")
    steps["eu_to_ae"] = world.certify("EU", "EU-2026-0102", [parcels["to_uae"]], "AE")
    world.advance(3)
    [parcels["in_1"]] = world.confirm("IN", steps["eu_to_in"], [("IN-1", 1_000_000, "7102.31")])
    [parcels["ae_1"]] = world.confirm("AE", steps["eu_to_ae"], [("AE-1", 1_079_000, "7102.21")])
    world.advance(5)
    steps["ae_to_in"] = world.certify("AE", "AE-2026-0007", [parcels["ae_1"]], "IN")
    world.advance(2)
    [parcels["in_2"]] = world.confirm("IN", steps["ae_to_in"], [("IN-2", 1_079_000, "7102.21")])
    return Chain(world, steps, parcels)
