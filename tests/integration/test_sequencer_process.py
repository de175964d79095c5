"""The sequencer process: a real child on a real data directory, fed from an event loop."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from node.datadir import DataDir
from node.encoding import encode
from node.errors import LedgerError, RuleError
from node.log import Receipt, SequencerBusyError, SequencerStoppedError, Submission
from node.sequencer_process import SequencerProcess
from tests.support.network import Devnet, Submitter, devnet, kp_node


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Devnet:
    """A one-participant devnet whose node is stopped: its data directory is ours to open."""
    root = tmp_path_factory.mktemp("net")
    with devnet(root, participants="BW") as running:
        made = running
    return made  # `devnet` stopped the node on leaving


def _data_dir(net: Devnet) -> Path:
    return Path(net.description["participants"]["BW"]["data_dir"])


_parcels = iter(range(1_000_000))


def _produce(net: Devnet, *, by: str = "mine") -> Submission:
    submitter = Submitter(net, "BW")
    try:
        value = submitter.signed(
            "parcel.produce",
            {
                "parcel": f"BW-SEQ-{next(_parcels):06d}",
                "mine": "mine",
                "produced_on": time.strftime("%Y-%m-%d", time.gmtime()),
                "centicarats": 12_500,
                "hs_code": "7102.10",
                "holder": "mine",
            },
            by=by,
        )
    finally:
        submitter.close()
    return Submission(encode(value["signed"]))


def _log_size(net: Devnet) -> int:
    store = DataDir(_data_dir(net)).open_store()
    try:
        with store.read() as reader:
            return reader.log("BW").size()
    finally:
        store.close()


def test_requests_from_one_turn_are_answered_in_order(net: Devnet) -> None:
    good = [_produce(net) for _ in range(5)]
    refused = _produce(net, by="trader")  # a trader mines nothing
    before = _log_size(net)
    commits: list[tuple[int, int, float]] = []

    async def run() -> list[list[Receipt | LedgerError]]:
        sequencer = SequencerProcess(_data_dir(net))
        sequencer.on_commit = lambda *commit: commits.append(commit)
        await sequencer.start()
        try:
            futures = [
                sequencer.submit_many(good[:2]),
                sequencer.submit_many([good[2], refused, good[3]]),
                sequencer.submit_many([good[4]]),
            ]
            return list(await asyncio.gather(*futures))
        finally:
            await sequencer.stop()

    first, second, third = asyncio.run(run())
    assert [type(r) for r in second] == [Receipt, RuleError, Receipt]
    receipts = [r for r in first + second + third if isinstance(r, Receipt)]
    assert [r.seq for r in receipts] == list(range(before, before + 5))
    assert sum(batch for batch, _, _ in commits) == 5
    assert commits[-1][1] == before + 5
    assert _log_size(net) == before + 5


def test_a_full_queue_refuses_and_nothing_is_lost_on_stop(net: Devnet) -> None:
    records = [_produce(net) for _ in range(40)]
    before = _log_size(net)

    async def run() -> list[Receipt | LedgerError]:
        sequencer = SequencerProcess(_data_dir(net), max_batch=8, max_queue=30)
        await sequencer.start()
        try:
            accepted = [sequencer.submit_many([r]) for r in records[:30]]
            with pytest.raises(SequencerBusyError):
                sequencer.submit_many(records[30:])
        finally:
            await sequencer.stop()  # at once: what it was sent is still committed and answered
        return [result for done in accepted for result in done.result()]

    results = asyncio.run(run())
    assert all(isinstance(r, Receipt) for r in results)
    assert _log_size(net) == before + 30


def test_a_killed_child_fails_what_is_waiting(net: Devnet) -> None:
    async def run() -> None:
        sequencer = SequencerProcess(_data_dir(net))
        await sequencer.start()
        child = sequencer.pid
        assert child is not None
        os.kill(child, signal.SIGSTOP)  # hold it, so the record is surely waiting
        waiting = sequencer.submit_many([_produce(net)])
        await asyncio.sleep(0.1)
        os.kill(child, signal.SIGKILL)
        with pytest.raises(SequencerStoppedError):
            await asyncio.wait_for(waiting, 10)
        with pytest.raises(SequencerStoppedError):
            sequencer.submit_many([_produce(net)])
        await sequencer.stop()

    asyncio.run(run())


def test_a_child_that_cannot_open_the_node_says_why(tmp_path: Path) -> None:
    kp_node(
        "init",
        "--dir",
        str(tmp_path / "XX"),
        "--participant",
        "XX",
        "--network",
        "n.test",
        "--name",
        "KP authority of Nowhere",
    )
    # Initialised, but no charter adopted: there is no log to sequence yet.

    async def run() -> None:
        with pytest.raises(SequencerStoppedError, match="did not start"):
            await SequencerProcess(tmp_path / "XX").start()

    asyncio.run(run())
