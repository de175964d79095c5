"""Cosign a World's checkpoints with the other members' real witness keys, as their nodes would
after re-validating; for offline tests of bundles and verification."""

from __future__ import annotations

import time

from node.core import notes
from tests.support.world import NETWORK, World


def cosign_latest(world: World, *, witnesses: int = 2) -> None:
    """Attach ``witnesses`` cosignatures from other members to each log's newest checkpoint."""
    assert world.store is not None
    with world.store.write() as writer:
        for log in writer.logs():
            log_writer = writer.log(log)
            latest = log_writer.latest_checkpoint()
            assert latest is not None
            size, note = latest
            others = [m for m in world.members if m != log][:witnesses]
            for member in others:
                note = notes.cosign(
                    note,
                    f"{NETWORK}/{member}/witness",
                    world.members[member].witness_key,
                    int(time.time()),
                )
            log_writer.put_checkpoint(size, note)
