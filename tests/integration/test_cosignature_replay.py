"""Re-posting a log's public checkpoint to a witness again and again leaves one cosignature per
witness on every node (issue 12 item 2), on real ``kp-node run`` processes."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from node.core import notes
from tests.support.network import Devnet, devnet, fast_replication

MEMBERS = ("BW", "CA", "IN")


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    with fast_replication(), devnet(tmp_path_factory.mktemp("net"), ",".join(MEMBERS)) as running:
        yield running


def _wait(check: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _checkpoint(net: Devnet, holder: str) -> str:
    response = httpx.get(f"{net.url(holder)}/v1/logs/BW/checkpoint", timeout=5)
    response.raise_for_status()
    return response.text


def _witness_lines(net: Devnet, note: str) -> Counter[str]:
    witnesses = {
        p["witness_vkey"].split("+", 1)[0] for p in net.description["participants"].values()
    }
    return Counter(s.name for s in notes.parse_note(note).signatures if s.name in witnesses)


def _size(note: str) -> int:
    return notes.Checkpoint.parse(notes.parse_note(note).text).size


def test_reposting_a_checkpoint_leaves_one_cosignature_per_witness_everywhere(net: Devnet) -> None:
    # BW's checkpoint is witnessed (CA and IN cosigned it) and every node holds it.
    _wait(
        lambda: (
            len(_witness_lines(net, _checkpoint(net, "BW"))) == 2
            and len({_checkpoint(net, m).split("\n\n")[0] for m in MEMBERS}) == 1
        ),
        60,
        "BW's checkpoint witnessed and replicated",
    )
    public = _checkpoint(net, "BW")
    size = _size(public)
    witness = f"{net.url('IN')}/witness/add-checkpoint"
    answers = []
    for _ in range(5):
        note = _checkpoint(net, "BW")
        response = httpx.post(witness, content=f"old {size}\n\n{note}".encode(), timeout=30)
        assert response.status_code == 200, response.text
        answers.append(response.text)
        time.sleep(1.1)  # a new second: each cosigning carries a new timestamp
    assert len(set(answers)) == 5  # five distinct cosignatures by IN of one checkpoint

    # Let anti-entropy (every 0.5 s) carry the cosignatures around a few times.
    time.sleep(3)
    served = {member: _checkpoint(net, member) for member in MEMBERS}
    for member, note in served.items():
        assert _size(note) == size, member
        lines = _witness_lines(net, note)
        assert sorted(lines) == ["kp.devnet/CA/witness", "kp.devnet/IN/witness"], (member, note)
        assert set(lines.values()) == {1}, (member, note)
    # IN's own copy carries its newest cosignature.
    assert answers[-1].strip() in served["IN"].split("\n")
