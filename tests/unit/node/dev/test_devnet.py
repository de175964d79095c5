"""``devnet up --participants``: ids, or a count of Kimberley Process participants."""

from __future__ import annotations

import re

import pytest

from node.core.errors import ConfigError, DevnetError
from node.dev.devnet import KP_PARTICIPANTS, participant_ids
from node.engine.config import Settings


def test_sixty_distinct_participant_ids() -> None:
    assert len(KP_PARTICIPANTS) == 60 == len(set(KP_PARTICIPANTS))
    assert all(re.fullmatch(r"[A-Z]{2}", member) for member in KP_PARTICIPANTS)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param("BW,EU", ["BW", "EU"], id="ids"),
        pytest.param("3", ["BW", "CA", "EU"], id="count"),
        pytest.param("60", list(KP_PARTICIPANTS), id="all-sixty"),
    ],
)
def test_participants_by_ids_or_count(spec: str, expected: list[str]) -> None:
    assert participant_ids(spec) == expected


@pytest.mark.parametrize("spec", ["0", "61", "BW,BW"], ids=["none", "too-many", "repeated"])
def test_a_bad_participant_spec_is_refused(spec: str) -> None:
    with pytest.raises(DevnetError):
        participant_ids(spec)


def test_the_longest_tick_is_not_below_the_shortest() -> None:
    with pytest.raises(ConfigError):
        Settings(
            participant="BW", network="kp.test", replication_interval=5, replication_max_interval=2
        )
