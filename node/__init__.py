"""KP Ledger node: the log engine, the KP rules and the service a participant runs.

The pure modules (encoding, crypto, notes, merkle, records) may be imported by verifiers;
store and log touch LMDB and threads.
"""

__all__ = [
    "charter",
    "config",
    "crypto",
    "encoding",
    "errors",
    "httpsig",
    "ingress",
    "jsonlog",
    "log",
    "merkle",
    "notes",
    "provenance",
    "records",
    "rules",
    "sealing",
    "sequencer_process",
    "state",
    "store",
]
