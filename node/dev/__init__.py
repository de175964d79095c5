"""Development tools: a local network on loopback and the README scenario.

A real node needs none of this; ``kp-node devnet`` and the tests use it.
"""

__all__ = ["devnet", "scenario"]
