"""The connection cap leaves room under the file-descriptor limit; the bounds are settings."""

from __future__ import annotations

import pytest

from node.core.errors import ConfigError
from node.engine.config import Settings
from node.server.listener import FD_RESERVE, MIN_CONNECTIONS, connection_cap


def _settings(**values: object) -> Settings:
    return Settings(participant="BW", network="kp.example", **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("max_connections", "fd_limit", "cap"),
    [
        pytest.param(1000, 65536, 1000, id="setting-under-a-high-limit"),
        pytest.param(1000, 1024, 1024 - FD_RESERVE, id="lowered-under-the-usual-1024"),
        pytest.param(1000, 600, 600 - FD_RESERVE, id="lowered-under-600"),
        pytest.param(50, 600, 50, id="a-lower-setting-stands"),
    ],
)
def test_the_cap_is_the_setting_or_the_room_under_the_fd_limit(
    max_connections: int, fd_limit: int, cap: int
) -> None:
    assert connection_cap(_settings(max_connections=max_connections), fd_limit) == cap


def test_a_limit_with_no_room_for_connections_is_refused() -> None:
    with pytest.raises(ConfigError, match="file-descriptor limit"):
        connection_cap(_settings(), FD_RESERVE + MIN_CONNECTIONS - 1)
    assert connection_cap(_settings(), FD_RESERVE + MIN_CONNECTIONS) == MIN_CONNECTIONS


@pytest.mark.parametrize(
    "name",
    ["max_connections", "header_timeout", "body_timeout", "body_min_rate", "keep_alive_timeout"],
)
def test_connection_bounds_must_be_positive(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        _settings(**{name: 0})
