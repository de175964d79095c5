"""The running node: its HTTP service, its sequencer process and replication among peers.

``listener`` starts uvicorn around ``app``; ``api`` mounts the routes — ``submission``,
``reads``, ``disclosures``, ``witnessing``, the ``explorer`` — with what they share
(``schemas``, ``requests``, ``problems``, ``middleware``) and the API documentation
(``api_docs``); ``sequencer_process`` runs the engine's writer beside it; ``replication`` pulls
every peer's log and pushes checkpoints to witnesses.
"""

__all__ = [
    "api",
    "api_docs",
    "app",
    "disclosures",
    "documents",
    "explorer",
    "ingress",
    "jsonlog",
    "listener",
    "metrics",
    "middleware",
    "problems",
    "reads",
    "replication",
    "requests",
    "schemas",
    "sequencer_process",
    "statistics",
    "statistics_page",
    "submission",
    "witnessing",
]
