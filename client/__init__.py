"""KP Ledger client: SDK, verification and the ``kp`` command line (never imports the server)."""

__all__ = ["audit", "cli", "findings", "online", "replay", "sdk", "stats", "verify"]
