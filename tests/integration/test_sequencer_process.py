"""The sequencer process: a real child on a real data directory, fed from an event loop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from node.core.encoding import Value, encode
from node.core.errors import ApiError, LedgerError, SequencerBusyError, SequencerStoppedError
from node.core.receipt import Receipt
from node.core.records import SignedRecord
from node.engine.config import Settings
from node.engine.datadir import DataDir
from node.server import sequencer_process
from node.server.problems import status_of
from node.server.sequencer_process import Outcome, SequencerProcess
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


def _produce(net: Devnet, *, by: str = "mine") -> dict[str, Value]:
    """A ``{signed}`` submission producing a new parcel at BW's mine, signed by ``by``."""
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
    return value


def _body(*submissions: dict[str, Value], batch: bool = True) -> bytes:
    return encode({"batch": list(submissions)}) if batch else encode(submissions[0])


def _sequencer(
    net: Devnet, *, max_queue: int = 100, max_queue_bytes: int = 1 << 24
) -> SequencerProcess:
    return SequencerProcess(_data_dir(net), max_queue=max_queue, max_queue_bytes=max_queue_bytes)


def _log_size(net: Devnet) -> int:
    store = DataDir(_data_dir(net)).open_store()
    try:
        with store.read() as reader:
            return reader.log("BW").size()
    finally:
        store.close()


def _answer(result: Receipt | LedgerError) -> str | int:
    """``receipt``, or the HTTP status a refusal came back with."""
    return "receipt" if isinstance(result, Receipt) else status_of(result)


def test_bodies_from_one_turn_are_decoded_validated_and_answered_in_order(net: Devnet) -> None:
    good = [_produce(net) for _ in range(5)]
    refused = _produce(net, by="trader")  # a trader mines nothing
    before = _log_size(net)
    commits: list[tuple[int, int, float]] = []

    async def run() -> list[Outcome | BaseException]:
        sequencer = _sequencer(net)
        sequencer.on_commit = lambda *commit: commits.append(commit)
        await sequencer.start()
        try:
            futures = [
                sequencer.submit(_body(*good[:2])),
                sequencer.submit(_body(good[2], refused, {"signed": 1}, good[3])),
                sequencer.submit(b"\xc1"),  # not msgpack at all
                sequencer.submit(_body(good[4], batch=False)),
            ]
            return list(await asyncio.gather(*futures, return_exceptions=True))
        finally:
            await sequencer.stop()

    first, second, garbage, single = asyncio.run(run())
    assert isinstance(first, Outcome)
    assert isinstance(second, Outcome)
    assert isinstance(single, Outcome)
    # Refusals cross the socket as (code, status, detail), judged by node/server/problems.py there.
    assert isinstance(garbage, ApiError)
    assert (garbage.code, garbage.status) == ("encoding.malformed", 400)
    assert [_answer(r) for r in second.results] == ["receipt", 422, 400, "receipt"]
    assert [first.batch, second.batch, single.batch] == [True, True, False]
    # A single record's receipt comes rendered as the API's JSON; a batch's are rendered there.
    assert first.receipt_json is None
    assert single.receipt_json is not None
    [receipt] = single.results
    assert isinstance(receipt, Receipt)
    assert json.loads(single.receipt_json) == receipt.to_json()
    receipts = [
        r for r in first.results + second.results + single.results if isinstance(r, Receipt)
    ]
    assert [r.seq for r in receipts] == list(range(before, before + 5))
    assert sum(batch for batch, _, _ in commits) == 5
    assert commits[-1][1] == before + 5
    assert _log_size(net) == before + 5


def test_a_full_queue_refuses_and_nothing_is_lost_on_stop(net: Devnet) -> None:
    bodies = [_body(_produce(net), batch=False) for _ in range(31)]
    before = _log_size(net)

    async def run() -> list[Receipt | LedgerError]:
        sequencer = _sequencer(net, max_queue=30)
        await sequencer.start()
        try:
            accepted = [sequencer.submit(body) for body in bodies[:30]]
            with pytest.raises(SequencerBusyError):
                sequencer.submit(bodies[30])
        finally:
            await sequencer.stop()  # at once: what it was sent is still committed and answered
        return [result for done in accepted for result in done.result().results]

    results = asyncio.run(run())
    assert len(results) == 30
    assert all(isinstance(r, Receipt) for r in results)
    assert _log_size(net) == before + 30


def test_waiting_bytes_are_bounded_but_one_body_is_always_taken(net: Devnet) -> None:
    bodies = [_body(_produce(net), batch=False) for _ in range(3)]

    async def run() -> list[Receipt | LedgerError]:
        sequencer = _sequencer(net, max_queue_bytes=len(bodies[0]) + 10)
        await sequencer.start()
        try:
            first = sequencer.submit(bodies[0] * 3)  # over the bound alone: taken (and refused)
            with pytest.raises(SequencerBusyError):
                sequencer.submit(bodies[1])
            with pytest.raises(ApiError) as trailing:  # trailing bytes
                await first
            assert trailing.value.code.startswith("encoding.")
            assert trailing.value.status == 400
            second = await sequencer.submit(bodies[1])  # the queue is empty again
            return second.results
        finally:
            await sequencer.stop()

    [receipt] = asyncio.run(run())
    assert isinstance(receipt, Receipt)


def test_a_failed_commit_fails_its_records_and_answers_the_rest(
    net: Devnet, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The child opens the store with a map no larger than the file: the next growth fails.
    monkeypatch.setenv("KP_NODE_MAP_SIZE", "65536")
    monkeypatch.setenv("KP_NODE_SEQUENCER_MAX_BATCH", "1000")
    big = _body(*[_produce(net) for _ in range(300)])
    malformed = _body({"signed": 1}, {"nonsense": True})
    before = _log_size(net)

    async def run() -> list[Outcome | BaseException]:
        sequencer = _sequencer(net)
        await sequencer.start()
        try:
            in_one_commit = [sequencer.submit(malformed), sequencer.submit(big)]
            return list(await asyncio.gather(*in_one_commit, return_exceptions=True))
        finally:
            await sequencer.stop()

    refused, failed = asyncio.run(run())
    assert isinstance(failed, ApiError), failed
    assert (failed.code, failed.status) == ("store.full", 500)
    assert isinstance(refused, Outcome)
    assert [_answer(r) for r in refused.results] == [400, 400]
    assert _log_size(net) == before


def test_a_killed_child_fails_what_is_waiting(net: Devnet) -> None:
    async def run() -> None:
        sequencer = _sequencer(net)
        await sequencer.start()
        child = sequencer.pid
        assert child is not None
        os.kill(child, signal.SIGSTOP)  # hold it, so the record is surely waiting
        waiting = sequencer.submit(_body(_produce(net)))
        await asyncio.sleep(0.1)
        os.kill(child, signal.SIGKILL)
        with pytest.raises(SequencerStoppedError):
            await asyncio.wait_for(waiting, 10)
        assert not sequencer.running
        with pytest.raises(SequencerStoppedError):
            sequencer.submit(_body(_produce(net)))
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
            await SequencerProcess(tmp_path / "XX", max_queue=1, max_queue_bytes=1).start()

    asyncio.run(run())


def test_a_served_node_whose_sequencer_died_says_so(tmp_path: Path) -> None:
    with devnet(tmp_path / "net", participants="BW") as served:
        url = served.url("BW")
        node = int(served.description["participants"]["BW"]["pid"])
        assert httpx.get(f"{url}/healthz").status_code == 200
        # Alone in its network, the node replicates nothing: the one process it spawned (beside
        # multiprocessing's resource tracker) is the sequencer.
        [child] = [
            int(p.name)
            for p in Path("/proc").iterdir()
            if p.name.isdigit()
            and (p / "stat").exists()
            and int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == node
            and b"spawn_main" in (p / "cmdline").read_bytes()
        ]
        # Ctrl-C or a service manager's SIGTERM reaches the whole group: only the HTTP process
        # acts on them (it drains, then tells the sequencer to stop).
        os.kill(child, signal.SIGINT)
        os.kill(child, signal.SIGTERM)
        time.sleep(0.5)
        assert httpx.get(f"{url}/healthz").status_code == 200
        os.kill(child, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while httpx.get(f"{url}/healthz").status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        health = httpx.get(f"{url}/healthz")
        assert health.status_code == 503
        assert health.json()["code"] == "sequencer.stopped"
        posted = httpx.post(
            f"{url}/v1/records",
            content=_body(_produce(served), batch=False),
            headers={"content-type": "application/msgpack"},
        )
        assert posted.status_code == 503
        assert posted.json()["code"] == "sequencer.stopped"


def test_a_body_that_trips_an_unforeseen_error_is_refused_not_fatal(
    net: Devnet, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unforeseen(*args: object, **kwargs: object) -> None:
        raise TypeError("a shape no check foresaw")

    body = _body(_produce(net), batch=False)
    monkeypatch.setattr(SignedRecord, "from_value", unforeseen)
    settings = Settings(participant="BW", network="kp.devnet")
    parsed = sequencer_process._parse(7, body, settings)
    assert parsed.refusal is not None
    assert parsed.refusal.code == "request.unreadable"
    assert parsed.records == 0
