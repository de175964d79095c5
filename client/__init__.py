"""KP Ledger client: SDK, verification and the ``kp`` command line.

It imports only node.core, never the node's other layers or their libraries (decisions 0035, 0036;
``tests/unit/test_layers.py``), so ``pip install kp-ledger`` without ``[node]`` runs it.
"""

__all__ = [
    "answers",
    "audit",
    "cli",
    "deep",
    "document",
    "download",
    "errors",
    "findings",
    "nodes",
    "online",
    "replay",
    "sdk",
    "stats",
    "trace",
    "verify",
]
