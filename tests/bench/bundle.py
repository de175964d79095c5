"""Bundle size against the number of witnesses: each checkpoint once, not once per entry.

Run: ``.venv/bin/python -m tests.bench.bundle [--participants 5 20 60]``

For each network size N, BW trades through a hub (EU): produce → split → certify to EU → EU
confirms → EU merges with its own stock and re-exports to IN, and every log's newest checkpoint
is cosigned by all N − 1 other members (decision 0029: one cosignature per witness). Prints, for
the bundle of the re-export's confirmation: entries, bytes, bytes per entry as built (each
witnessed checkpoint once, decision 0034) and, as the baseline measured in the same run, with
the whole cosigned checkpoint repeated inside every tlog-proof (as bundles were built before),
and the ratio of the two.
"""

from __future__ import annotations

import argparse
import itertools
import json
import string
import tempfile
from pathlib import Path
from typing import Any

from node.core.records import EntryRef
from node.engine.bundling import build_bundle
from tests.support.witnesses import cosign_latest
from tests.support.world import World

MASS = 100_000


def _ids(count: int) -> list[str]:
    named = ["BW", "EU", "IN"]
    letters = (a + b for a, b in itertools.product(string.ascii_uppercase, repeat=2))
    others = [i for i in letters if i not in named]
    return named + others[: count - len(named)]


def _subject(world: World) -> EntryRef:
    parcel = world.produce("BW", MASS, holder="trader")
    certificate = world.certify("BW", "BW-2026-0001", [parcel], "EU")
    world.advance(1)
    [imported] = world.confirm("EU", certificate, [("EU-IMP-1", MASS, "7102.10")])
    own = world.produce("EU", MASS, holder="trader")
    again = world.certify("EU", "EU-2026-0001", [imported, own], "IN")
    world.advance(1)
    world.confirm("IN", again, [("IN-IMP-1", 2 * MASS, "7102.10")])
    with world.read_state() as state:
        confirmed = state.certificate("EU", again.seq)
    assert confirmed is not None
    assert confirmed.outcome_ref is not None
    return confirmed.outcome_ref


def _repeated(bundle: dict[str, Any]) -> dict[str, Any]:
    """The same bundle with each tlog-proof carrying the whole cosigned checkpoint."""
    entries = [
        {**item, "proof": item["proof"].partition("\n\n")[0] + "\n\n" + bundle["checkpoints"][log]}
        for item in bundle["entries"]
        for log in [item["log"]]
    ]
    return {**bundle, "entries": entries}


def measure(participants: int) -> tuple[int, int, int]:
    with tempfile.TemporaryDirectory() as directory:
        world = World(_ids(participants), store=Path(directory) / "store")
        for log in world.members:
            world.setup_log(log, mine=log in ("BW", "EU"))
        subject = _subject(world)
        cosign_latest(world, witnesses=participants - 1)
        assert world.store is not None
        with world.store.read() as reader:
            bundle = build_bundle(reader, "kp.test", subject).to_json()
        world.close()
    built = len(json.dumps(bundle).encode())
    repeated = len(json.dumps(_repeated(bundle)).encode())
    return len(bundle["entries"]), built, repeated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--participants", type=int, nargs="+", default=[5, 20, 60])
    args = parser.parse_args()
    print(f"{'N':>3} {'entries':>7} {'bytes':>9} {'B/entry':>8} {'repeated B/entry':>17} ratio")
    for n in args.participants:
        entries, built, repeated = measure(n)
        print(
            f"{n:>3} {entries:>7} {built:>9,} {built / entries:>8,.0f} "
            f"{repeated / entries:>17,.0f} {repeated / built:5.2f}"
        )


if __name__ == "__main__":
    main()
