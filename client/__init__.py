"""KP Ledger client: SDK, verification and the ``kp`` command line.

It imports only the node's pure core, never the server or its libraries (decision 0035;
``tests/unit/test_layers.py``), so ``pip install kp-ledger`` without ``[node]`` runs it.
"""

__all__ = ["audit", "cli", "findings", "online", "replay", "sdk", "stats", "verify"]
