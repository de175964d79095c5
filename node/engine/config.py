"""Node settings: one object with every limit, read from ``node.toml`` with environment overrides.

Precedence: defaults < the TOML file < ``KP_NODE_<FIELD>`` environment variables (upper-case
field names, e.g. ``KP_NODE_PORT=8401``). Every input the node accepts is bounded by a field
here; ``docs/operations.md`` lists them with their defaults.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from node.core.errors import ConfigError

__all__ = ["Settings", "load_settings", "settings_toml"]


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a node is configured with.

    Attributes:
        participant: this node's participant id (``BW``).
        network: the network name (``kp.example``); log origins are ``<network>/<participant>``.
        host: the address to listen on.
        port: the port to listen on.
        public_url: how peers and clients reach this node (``http://127.0.0.1:8400``); signed
            member requests are verified against it, never against the Host header.
        max_body_bytes: largest request body accepted (413 beyond).
        max_header_bytes: largest total of request header names and values (431 beyond).
        max_batch_records: most records in one ``POST /v1/records`` batch.
        max_body_values: most msgpack values (scalars, arrays, maps, map keys) in one
            ``POST /v1/records`` body, counted in the HTTP process before the sequencer sees
            it (413 beyond; decision 0028).
        max_page_entries: most entries in one ``GET .../entries`` page.
        max_parcel_states: most parcel references in one ``POST /v1/parcels/states`` (400
            beyond); its body may be ``parcel_states_body_bytes`` long (413 beyond), and the
            node answers it in one read transaction, one read per reference.
        max_page_access: most records of reads in one ``GET /v1/disclosures/access`` page.
        max_page_envelopes: most entries whose envelopes one ``GET .../envelopes`` page covers
            (each entry's at most ``envelope.MAX_ENVELOPES_SIZE``, a few hundred bytes in use).
        max_connections: most client connections open at once; lowered at start to leave
            room under the file-descriptor limit (decision 0031). At the cap a new connection
            displaces the one that has waited longest on its client.
        header_timeout: seconds a request head may take to arrive, from the connection's
            opening or the first byte of the next request (408 and close beyond).
        body_timeout: seconds a request body may take, plus one per ``body_min_rate`` bytes
            received (408 and close beyond).
        body_min_rate: bytes per second a slow body must keep up, on average, past
            ``body_timeout``.
        keep_alive_timeout: seconds an idle kept-alive connection stays open.
        request_timeout: seconds a request may wait for the sequencer before 503.
        witness_timeout: seconds ``?wait=witnessed`` waits for the witness quorum before 202.
        replication_interval: the shortest anti-entropy tick, seconds: while something
            changes, one peer is polled this often (every peer, while restoring).
        replication_max_interval: the longest tick, reached by doubling while polls find
            nothing new (decision 0033); at least ``replication_interval``.
        peer_timeout: seconds any one request to a peer may take.
        sequencer_max_batch: most records in one durable commit (an HTTP batch is never split).
        sequencer_max_delay_ms: how long the sequencer waits to fill a commit; 0 takes what
            arrived while the previous one ran.
        sequencer_max_queue: requests waiting for the sequencer beyond this get 503.
        sequencer_max_queue_bytes: bytes of request bodies waiting for the sequencer beyond
            this get 503 (one body is always taken); at least ``max_body_bytes``, at most 1 GiB.
        sequencer_client_max_records: records one client address may have waiting for the
            sequencer; beyond, 429 (one request is always taken; decision 0028).
        sequencer_client_max_bytes: body bytes one client address may have waiting for the
            sequencer; beyond, 429; at most ``sequencer_max_queue_bytes``.
        auth_max_age: seconds a signed member request stays valid.
        map_size: LMDB address space, bytes (the file grows only as used).
        log_level: ``DEBUG``, ``INFO``, ``WARNING`` or ``ERROR``.
    """

    participant: str
    network: str
    host: str = "127.0.0.1"
    port: int = 8400
    public_url: str = ""
    max_body_bytes: int = 8 * 1024 * 1024
    max_header_bytes: int = 16 * 1024
    max_batch_records: int = 1000
    max_body_values: int = 128 * 1024
    max_page_entries: int = 1000
    max_parcel_states: int = 256
    max_page_access: int = 1000
    max_page_envelopes: int = 256
    max_connections: int = 1000
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    body_min_rate: int = 32 * 1024
    keep_alive_timeout: int = 5
    request_timeout: float = 30.0
    witness_timeout: float = 10.0
    replication_interval: float = 2.0
    replication_max_interval: float = 30.0
    peer_timeout: float = 5.0
    sequencer_max_batch: int = 16  # decision 0019: small commits pipeline with HTTP
    sequencer_max_delay_ms: float = 0.0
    sequencer_max_queue: int = 10_000
    sequencer_max_queue_bytes: int = 64 * 1024 * 1024
    sequencer_client_max_records: int = 1000
    sequencer_client_max_bytes: int = 8 * 1024 * 1024
    auth_max_age: int = 300
    map_size: int = 1 << 40
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        positive = (
            "port",
            "max_body_bytes",
            "max_header_bytes",
            "max_batch_records",
            "max_body_values",
            "max_page_entries",
            "max_parcel_states",
            "max_page_access",
            "max_page_envelopes",
            "max_connections",
            "header_timeout",
            "body_timeout",
            "body_min_rate",
            "keep_alive_timeout",
            "request_timeout",
            "witness_timeout",
            "replication_interval",
            "replication_max_interval",
            "peer_timeout",
            "sequencer_max_batch",
            "sequencer_max_queue",
            "sequencer_max_queue_bytes",
            "sequencer_client_max_records",
            "sequencer_client_max_bytes",
            "auth_max_age",
            "map_size",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if not 0 < self.port < 65536:
            raise ConfigError(f"port {self.port} is not a TCP port")
        if not self.max_body_bytes <= self.sequencer_max_queue_bytes <= 1 << 30:
            raise ConfigError("sequencer_max_queue_bytes must be from max_body_bytes to 1 GiB")
        if self.sequencer_client_max_bytes > self.sequencer_max_queue_bytes:
            raise ConfigError("sequencer_client_max_bytes is over sequencer_max_queue_bytes")
        if self.replication_max_interval < self.replication_interval:
            raise ConfigError("replication_max_interval is below replication_interval")
        if self.sequencer_max_delay_ms < 0:
            raise ConfigError("sequencer_max_delay_ms must not be negative")
        if self.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(f"unknown log_level {self.log_level!r}")

    @property
    def parcel_states_body_bytes(self) -> int:
        """The longest ``POST /v1/parcels/states`` body: 160 bytes per reference (the longest,
        ``["ABCDEFGH", 9223372036854775807, "<64 hex digits>", 63]``, is 104 with JSON's usual
        spaces) and 64 for the object around them."""
        return 64 + 160 * self.max_parcel_states

    @property
    def origin(self) -> str:
        return f"{self.network}/{self.participant}"

    @property
    def url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``path`` (TOML) and apply ``KP_NODE_*`` overrides from ``environ``.

    Raises:
        ConfigError: unreadable file, unknown keys, wrong types or out-of-range values.
    """
    environ = os.environ if environ is None else environ
    try:
        with path.open("rb") as f:
            values: dict[str, Any] = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    known = {f.name: f for f in fields(Settings)}
    unknown = sorted(set(values) - known.keys())
    if unknown:
        raise ConfigError(f"{path}: unknown settings {unknown}")
    for name, field in known.items():
        override = environ.get(f"KP_NODE_{name.upper()}")
        if override is not None:
            values[name] = _parse_override(name, field.type, override)
    for name, value in values.items():
        expected = _python_type(known[name].type)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            values[name] = float(value)
        elif not isinstance(value, expected) or isinstance(value, bool):
            raise ConfigError(f"{name} must be {expected.__name__}, not {value!r}")
    try:
        return Settings(**values)
    except TypeError as exc:  # a required setting is missing
        raise ConfigError(f"{path}: {exc}") from exc


def settings_toml(settings: Settings) -> str:
    """The TOML text of ``settings``, every field written out (for ``kp-node init``)."""
    lines = []
    for name, value in dataclasses.asdict(settings).items():
        if isinstance(value, str):
            lines.append(f'{name} = "{value}"')
        else:
            lines.append(f"{name} = {value}")
    return "\n".join(lines) + "\n"


def _python_type(annotation: object) -> type:
    return {"str": str, "int": int, "float": float}[str(annotation)]


def _parse_override(name: str, annotation: object, text: str) -> object:
    kind = _python_type(annotation)
    try:
        return kind(text)
    except ValueError as exc:
        raise ConfigError(f"KP_NODE_{name.upper()}={text!r} is not a {kind.__name__}") from exc
