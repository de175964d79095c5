"""The pure core: encodings, keys, Merkle trees, signed notes, records, charters, rules, state.

Everything a verifier runs. No module here imports LMDB, FastAPI, uvicorn or the Prometheus
client, nor any other layer of the node (client/ruff.toml bans it for the client,
tests/unit/test_layers.py checks what a fresh interpreter loads).
"""

__all__ = [
    "bundle",
    "charter",
    "clock",
    "crypto",
    "disclosure",
    "encoding",
    "envelope",
    "errors",
    "httpsig",
    "merkle",
    "movements",
    "notes",
    "provenance",
    "receipt",
    "records",
    "rules",
    "sealing",
    "state",
]
