"""The log engine: the LMDB store, the log's one writer, replicas, the data directory.

Durable and single-node: nothing here speaks HTTP. It imports only ``node.core``.
"""

__all__ = [
    "access",
    "bundling",
    "config",
    "datadir",
    "ledger",
    "replica",
    "restore",
    "sequencer",
    "statistics",
    "store",
    "witness",
]
